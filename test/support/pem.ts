// Reading what the certificate helpers make with Node's own parser, not the library that made it.
import { X509Certificate } from 'node:crypto';

/** Every certificate of a PEM bundle, in order. */
export const certificates = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));
