// X.509 for the operator's own TLS endpoints: a CA, and serving certificates signed by a CA or
// standing alone. Everything goes in and out as PEM, so a pair can be handed to node:tls as is or
// kept in a Secret. Keys are ECDSA P-256: WebCrypto makes one in about a millisecond, where an RSA
// key would hold up the start by a noticeable fraction of a second.
import 'reflect-metadata'; // @peculiar/x509 (through tsyringe) throws at load without the Reflect metadata API
import { KeyObject, createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export interface PemKeyPair {
  /** PEM certificate(s): the certificate first, then any chain. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

export interface ServingCertificateOptions {
  commonName: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** Default one year, as client-go's self-signed certificates. */
  validForMs?: number;
  now?: Date;
}

const KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const YEAR_MS = 365 * 24 * 3600_000;
// Backdated so that a client whose clock is a little behind still accepts a fresh certificate.
const CLOCK_SKEW_MS = 3600_000;

export interface CAOptions {
  commonName: string;
  /** Default one year. */
  validForMs?: number;
  now?: Date;
}

/** A CA that can sign serving certificates (and nothing below them: path length 0). */
export async function generateCA(options: CAOptions): Promise<PemKeyPair> {
  const keys = await newKeys();
  const { notBefore, notAfter } = validity(options);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: [{ CN: [options.commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: exportKey(keys.privateKey) };
}

/** A serving certificate signed by `issuer` (a pair from generateCA); the chain is the certificate alone. */
export async function generateServingCertificate(options: ServingCertificateOptions & { issuer: PemKeyPair }): Promise<PemKeyPair> {
  const issuer = new x509.X509Certificate(options.issuer.cert);
  const signingKey = await importKey(options.issuer.key);
  const keys = await newKeys();
  const { notBefore, notAfter } = validity(options);
  const names = [
    ...(options.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: [{ CN: [options.commonName] }],
    issuer: issuer.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: SIGNING,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.publicKey),
    ],
  });
  return { cert: cert.toString('pem'), key: exportKey(keys.privateKey) };
}

/** A new CA and a serving certificate it signs, for a start with neither. */
export async function generateCAAndServingCertificate(ca: CAOptions, serving: ServingCertificateOptions): Promise<{ ca: PemKeyPair; serving: PemKeyPair }> {
  const issuer = await generateCA(ca);
  return { ca: issuer, serving: await generateServingCertificate({ ...serving, issuer }) };
}

/**
 * As client-go's GenerateSelfSignedCertKey (which controller-runtime serves when given no
 * certificate): a serving certificate signed by a CA made for it alone, whose key is dropped at
 * once. The chain carries the CA, so a client may pin it.
 */
export async function generateSelfSignedServingCertificate(options: ServingCertificateOptions): Promise<PemKeyPair> {
  const now = options.now ?? new Date();
  const { ca, serving: leaf } = await generateCAAndServingCertificate({ commonName: `${options.commonName}-ca@${Math.floor(now.getTime() / 1000)}`, validForMs: options.validForMs, now }, { ...options, now });
  return { cert: `${leaf.cert.trimEnd()}\n${ca.cert.trimEnd()}\n`, key: leaf.key };
}

function newKeys(): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(KEY, true, ['sign', 'verify']);
}

function exportKey(key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

function importKey(pem: string): webcrypto.CryptoKey {
  const key = createPrivateKey(pem);
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== 'ec' || curve !== 'prime256v1') {
    throw new Error(`the issuer's key is ${key.asymmetricKeyType}${curve ? ` (${curve})` : ''}; only ECDSA P-256 keys, as generateCA makes, can sign`);
  }
  return key.toCryptoKey(KEY, false, ['sign']) as webcrypto.CryptoKey;
}

function validity(options: { validForMs?: number; now?: Date }): { notBefore: Date; notAfter: Date } {
  const now = (options.now ?? new Date()).getTime();
  return { notBefore: new Date(now - CLOCK_SKEW_MS), notAfter: new Date(now + (options.validForMs ?? YEAR_MS)) };
}

/** 127 random bits: unique, and positive as RFC 5280 requires (the top bit clear). */
function serialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f;
  return bytes.toString('hex');
}
