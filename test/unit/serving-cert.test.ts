// The metrics endpoint's key pair: from --metrics-cert-dir, re-read when the files change and kept
// when they do not make a pair; or made at start.
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { generateSelfSignedServingCertificate, type PemKeyPair } from '../../src/server/certs.ts';
import { servingCertificate } from '../../src/server/serving-cert.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Laid out as the kubelet lays out a Secret volume: tls.crt -> ..data/tls.crt, ..data -> a version folder. */
function certDir(pair: PemKeyPair): string {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-certs-'));
  dirs.push(dir);
  write(dir, pair);
  for (const file of ['tls.crt', 'tls.key']) symlinkSync(join('..data', file), join(dir, file));
  return dir;
}

let version = 0;
/** Both files at once, as the kubelet's atomic writer swaps them: a new folder, then one rename of the link. */
function write(dir: string, pair: PemKeyPair): void {
  const folder = `..v${++version}`;
  mkdirSync(join(dir, folder));
  writeFileSync(join(dir, folder, 'tls.crt'), pair.cert);
  writeFileSync(join(dir, folder, 'tls.key'), pair.key);
  symlinkSync(folder, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
}

function logger() {
  const out = { text: '' };
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { out.text += chunk.toString(); done(); } });
  return { log: createLogger('info', sink), out };
}

const newPair = () => generateSelfSignedServingCertificate({ commonName: 'metrics', dnsNames: ['localhost'] });

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('servingCertificate', () => {
  it('makes a self-signed pair without a cert dir', async () => {
    const { log } = logger();
    const cert = await servingCertificate(undefined, log);
    expect(cert.pair.cert).toContain('BEGIN CERTIFICATE');
    expect(cert.pair.key).toContain('BEGIN PRIVATE KEY');
  });

  it('fails at start when the cert dir holds no usable pair', async () => {
    const { log } = logger();
    const a = await newPair();
    const b = await newPair();
    await expect(servingCertificate('/nonexistent/regcred', log)).rejects.toThrow(/ENOENT/);
    await expect(servingCertificate(certDir({ cert: a.cert, key: b.key }), log)).rejects.toThrow();
  });

  it('reloads a renewed pair, and keeps the last good one while the files do not match, saying so once', async () => {
    const { log, out } = logger();
    const [a, b, c] = await Promise.all([newPair(), newPair(), newPair()]);
    const dir = certDir(a);
    const cert = await servingCertificate(dir, log, 20);
    expect(cert.pair).toEqual(a);
    const seen: PemKeyPair[] = [];
    const stop = cert.watch((p) => seen.push(p));
    try {
      write(dir, b);
      await until(() => seen.length === 1, 'the renewed pair');
      expect(seen[0]).toEqual(b);

      // (A poll that reads the two files across a swap may warn about a mixed pair too: only what
      // follows this write is counted.)
      const from = out.text.length;
      const warnings = () => out.text.slice(from).match(/could not load the certificate/g)?.length ?? 0;
      write(dir, { cert: c.cert, key: b.key });
      await until(() => warnings() > 0, 'the warning');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen).toHaveLength(1);
      expect(cert.pair).toEqual(b);
      expect(warnings()).toBe(1);

      write(dir, c);
      await until(() => seen.length === 2, 'the pair once it matches');
      expect(cert.pair).toEqual(c);
      expect(out.text).not.toContain('PRIVATE KEY');
    } finally {
      stop();
    }
  });
});
