// certs.ts's certificates, made in a short-lived child process. The X.509 library and what it
// pulls in hold about 6 MiB of resident memory once loaded, and a process that made one certificate
// at start (the webhook's CA, the metrics endpoint's self-signed pair) would keep it for good; a
// worker thread gives its heap back but not the memory malloc took for it. The child is node
// itself, running certs-child beside this file.
import { spawn } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CAOptions, PemKeyPair, ServingCertificateOptions } from './certs.ts';

export type { PemKeyPair } from './certs.ts';

type Dated<T> = Omit<T, 'now'> & { now?: string };

/** What the child is asked to make; dates travel as ISO strings. */
export type CertificateRequest =
  | { kind: 'ca'; options: Dated<CAOptions> }
  | { kind: 'serving'; options: Dated<ServingCertificateOptions & { issuer: PemKeyPair }> }
  | { kind: 'caAndServing'; options: { ca: Dated<CAOptions>; serving: Dated<ServingCertificateOptions> } }
  | { kind: 'selfSigned'; options: Dated<ServingCertificateOptions> };

/** A key pair is made in milliseconds; this bounds a child that hangs. */
const TIMEOUT_MS = 30_000;

const CHILD = fileURLToPath(new URL(`./certs-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

const dated = <T extends { now?: Date | undefined }>(o: T): Dated<T> => ({ ...o, now: o.now?.toISOString() }) as Dated<T>;

export function generateCA(options: CAOptions): Promise<PemKeyPair> {
  return inChild({ kind: 'ca', options: dated(options) });
}

/** Both in one child: loading the X.509 library is most of a child's CPU (about 0.2 s). */
export function generateCAAndServingCertificate(ca: CAOptions, serving: ServingCertificateOptions): Promise<{ ca: PemKeyPair; serving: PemKeyPair }> {
  return inChild({ kind: 'caAndServing', options: { ca: dated(ca), serving: dated(serving) } });
}

export function generateServingCertificate(options: ServingCertificateOptions & { issuer: PemKeyPair }): Promise<PemKeyPair> {
  return inChild({ kind: 'serving', options: dated(options) });
}

export function generateSelfSignedServingCertificate(options: ServingCertificateOptions): Promise<PemKeyPair> {
  return inChild({ kind: 'selfSigned', options: dated(options) });
}

function inChild<T = PemKeyPair>(request: CertificateRequest): Promise<T> {
  return new Promise((resolve, reject) => {
    // No node flags of ours (a heap limit, an inspector port) and no NODE_OPTIONS: the child is small and brief.
    const { NODE_OPTIONS: _ignored, ...env } = process.env;
    const child = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'ignore'], env, timeout: TIMEOUT_MS, killSignal: 'SIGKILL' });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.once('error', (err) => reject(new Error(`could not run certificate generation: ${err.message}`)));
    child.once('close', (code, signal) => {
      let answer: { pair?: T; error?: string } = {};
      try {
        answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof answer;
      } catch {
        // Told by the exit below.
      }
      if (code === 0 && answer.pair) resolve(answer.pair);
      else if (signal === 'SIGKILL') reject(new Error(`certificate generation did not finish within ${TIMEOUT_MS / 1000} s`));
      else reject(new Error(answer.error ?? `certificate generation exited with ${signal ?? `code ${code}`}`));
    });
    child.stdin.end(JSON.stringify(request));
  });
}
