// Certificates made in a child process: the same certificates as certs.ts makes in this one (dates,
// names, chain and key travel intact), errors come back without the key they were about, and the
// X.509 library is never loaded into the process that asked.
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certificates } from '../support/pem.ts';
import { generateCA, generateCAAndServingCertificate, generateSelfSignedServingCertificate, generateServingCertificate } from '../../src/server/certs-process.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const DAY = 24 * 3600_000;

describe('certificates made in a child process', () => {
  it('a CA and a serving certificate it signs, with the dates and names asked for', async () => {
    const ca = await generateCA({ commonName: 'child-ca', validForMs: 10 * DAY, now: NOW });
    const [caCert] = certificates(ca.cert);
    expect(caCert!.ca).toBe(true);
    expect(new Date(caCert!.validFrom).getTime()).toBe(NOW.getTime() - 3600_000);
    expect(new Date(caCert!.validTo).getTime()).toBe(NOW.getTime() + 10 * DAY);
    expect(caCert!.checkPrivateKey(createPrivateKey(ca.key))).toBe(true);

    const serving = await generateServingCertificate({ issuer: ca, commonName: 'svc', dnsNames: ['svc.ns.svc'], ipAddresses: ['10.0.0.1'], validForMs: 2 * DAY, now: NOW });
    const [leaf, ...rest] = certificates(serving.cert);
    expect(rest).toEqual([]);
    expect(leaf!.checkIssued(caCert!) && leaf!.verify(caCert!.publicKey)).toBe(true);
    expect(leaf!.subjectAltName).toBe('DNS:svc.ns.svc, IP Address:10.0.0.1');
    expect(new Date(leaf!.validTo).getTime()).toBe(NOW.getTime() + 2 * DAY);
    expect(leaf!.checkPrivateKey(createPrivateKey(serving.key))).toBe(true);
  });

  it('a CA and a serving certificate it signs, both from one child', async () => {
    const { ca, serving } = await generateCAAndServingCertificate(
      { commonName: 'child-ca', validForMs: 10 * DAY, now: NOW },
      { commonName: 'svc', dnsNames: ['svc.ns.svc'], validForMs: 2 * DAY, now: NOW },
    );
    const [caCert] = certificates(ca.cert);
    const [leaf, ...rest] = certificates(serving.cert);
    expect(caCert!.ca).toBe(true);
    expect(caCert!.checkPrivateKey(createPrivateKey(ca.key))).toBe(true);
    expect(new Date(caCert!.validTo).getTime()).toBe(NOW.getTime() + 10 * DAY);
    expect(rest).toEqual([]);
    expect(leaf!.ca).toBe(false);
    expect(leaf!.checkIssued(caCert!) && leaf!.verify(caCert!.publicKey)).toBe(true);
    expect(leaf!.checkPrivateKey(createPrivateKey(serving.key))).toBe(true);
    expect(leaf!.subjectAltName).toBe('DNS:svc.ns.svc');
    expect(new Date(leaf!.validTo).getTime()).toBe(NOW.getTime() + 2 * DAY);
  });

  it('a self-signed serving certificate with its CA in the chain', async () => {
    const pair = await generateSelfSignedServingCertificate({ commonName: 'metrics', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const [leaf, ca] = certificates(pair.cert);
    expect(leaf!.checkIssued(ca!)).toBe(true);
    expect(leaf!.checkPrivateKey(createPrivateKey(pair.key))).toBe(true);
  });

  it('an error comes back with its message and without the issuer key it was given', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const ca = await generateCA({ commonName: 'ca', now: NOW });
    const failed = await generateServingCertificate({ issuer: { cert: ca.cert, key: rsa }, commonName: 'svc', dnsNames: ['svc'] }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(failed?.message).toMatch(/only ECDSA P-256 keys/);
    expect(failed?.message).not.toContain(rsa.split('\n')[1]);
  });

  it('never loads the X.509 library into the calling process; certs.ts itself would', () => {
    const probe = (module: string, call: string) => `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes('/@peculiar/')) loaded.push(r.url); return r; } });
      const m = await import('./src/server/${module}');
      const pair = await m.${call}({ commonName: 'probe', dnsNames: ['localhost'] });
      console.log(JSON.stringify({ loaded: loaded.length, made: pair.cert.includes('BEGIN CERTIFICATE') }));`;
    const run = (module: string) => JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', probe(module, 'generateSelfSignedServingCertificate')], { encoding: 'utf8' }).trim().split('\n').pop()!) as { loaded: number; made: boolean };
    expect(run('certs-process.ts')).toEqual({ loaded: 0, made: true });
    const direct = run('certs.ts');
    expect(direct.made).toBe(true);
    expect(direct.loaded).toBeGreaterThan(0);
  });
});
