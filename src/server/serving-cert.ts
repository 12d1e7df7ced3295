// Where the metrics endpoint's TLS key pair comes from: tls.crt and tls.key in --metrics-cert-dir,
// re-read when they change (cert-manager and Secret volumes renew them in place), or else a
// self-signed pair made in memory at start, as controller-runtime does without a certificate.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { describe } from '../kube/errors.ts';
import { generateSelfSignedServingCertificate, type PemKeyPair } from './certs-process.ts';

export interface ServingCertificate {
  readonly pair: PemKeyPair;
  /** Calls `onChange` with each new valid pair until the returned function is called. */
  watch(onChange: (pair: PemKeyPair) => void): () => void;
}

/** As controller-runtime's certwatcher, which also polls (beside fsnotify) every 10 s. */
const POLL_MS = 10_000;

export async function servingCertificate(certDir: string | undefined, log: Logger, pollMs = POLL_MS): Promise<ServingCertificate> {
  if (certDir === undefined) {
    const pair = await generateSelfSignedServingCertificate({
      commonName: 'regcred-operator-metrics',
      dnsNames: [...new Set(['localhost', hostname()])],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    log.info('metrics: serving a self-signed certificate made at start');
    return { pair, watch: () => () => undefined };
  }
  return CertificateFiles.load(certDir, log, pollMs);
}

class CertificateFiles implements ServingCertificate {
  pair: PemKeyPair;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly pollMs: number;
  private fingerprint: string;
  /** The last pair that failed to load, so a broken pair is reported once, not every poll. */
  private failed = '';

  private constructor(dir: string, log: Logger, pollMs: number, pair: PemKeyPair) {
    this.dir = dir;
    this.log = log;
    this.pollMs = pollMs;
    this.pair = pair;
    this.fingerprint = fingerprintOf(pair);
  }

  /** Fails when the files are missing or do not make a key pair: a start with no usable certificate is an error. */
  static async load(dir: string, log: Logger, pollMs: number): Promise<CertificateFiles> {
    const pair = await readPair(dir);
    createSecureContext(pair);
    log.info({ certDir: dir }, 'metrics: serving the certificate of the cert dir');
    return new CertificateFiles(dir, log, pollMs, pair);
  }

  watch(onChange: (pair: PemKeyPair) => void): () => void {
    const timer = setInterval(() => void this.poll(onChange), this.pollMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async poll(onChange: (pair: PemKeyPair) => void): Promise<void> {
    let pair: PemKeyPair;
    try {
      pair = await readPair(this.dir);
    } catch (err) {
      this.reportOnce(`read:${describe(err).message}`, err);
      return;
    }
    const fingerprint = fingerprintOf(pair);
    if (fingerprint === this.fingerprint) return;
    try {
      // A renewal that writes the two files one after the other is caught between them here; the
      // old pair is kept until the next poll sees both.
      createSecureContext(pair);
    } catch (err) {
      this.reportOnce(fingerprint, err);
      return;
    }
    this.pair = pair;
    this.fingerprint = fingerprint;
    this.failed = '';
    onChange(pair);
    this.log.info({ certDir: this.dir }, 'metrics: certificate reloaded');
  }

  private reportOnce(key: string, err: unknown): void {
    if (this.failed === key) return;
    this.failed = key;
    this.log.warn({ certDir: this.dir, error: describe(err) }, 'metrics: could not load the certificate; keeping the previous one');
  }
}

async function readPair(dir: string): Promise<PemKeyPair> {
  const [cert, key] = await Promise.all([readFile(join(dir, 'tls.crt'), 'utf8'), readFile(join(dir, 'tls.key'), 'utf8')]);
  return { cert, key };
}

/** Compares pairs without keeping a second copy of the key's text around. */
function fingerprintOf(pair: PemKeyPair): string {
  return createHash('sha256').update(pair.cert).update('\0').update(pair.key).digest('hex');
}
