// The process certs-process.ts runs to make certificates: reads one request as JSON on stdin,
// writes the PEM pair as JSON on stdout, and exits. The X.509 library lives and dies with it.
import { text } from 'node:stream/consumers';
import { generateCA, generateCAAndServingCertificate, generateServingCertificate, generateSelfSignedServingCertificate } from './certs.ts';
import type { CertificateRequest } from './certs-process.ts';

const withDate = <T extends { now?: string }>(o: T) => ({ ...o, now: o.now === undefined ? undefined : new Date(o.now) });

async function make(request: CertificateRequest) {
  switch (request.kind) {
    case 'ca':
      return generateCA(withDate(request.options));
    case 'serving':
      return generateServingCertificate(withDate(request.options));
    case 'caAndServing':
      return generateCAAndServingCertificate(withDate(request.options.ca), withDate(request.options.serving));
    case 'selfSigned':
      return generateSelfSignedServingCertificate(withDate(request.options));
  }
}

try {
  const pair = await make(JSON.parse(await text(process.stdin)) as CertificateRequest);
  process.stdout.write(JSON.stringify({ pair }));
} catch (err) {
  // The message only: a request carries an issuer's key, which no error may repeat.
  process.stdout.write(JSON.stringify({ error: err instanceof Error ? err.message : 'certificate generation failed' }));
  process.exitCode = 1;
}
