// The X.509 helpers, checked with Node's own certificate parser rather than the library that made them.
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { certificates } from '../support/pem.ts';
import { generateCA, generateSelfSignedServingCertificate, generateServingCertificate } from '../../src/server/certs.ts';

const NOW = new Date('2030-01-01T00:00:00Z');
const DAY = 24 * 3600_000;


describe('generateCA', () => {
  it('makes a CA certificate and its ECDSA P-256 key, valid from an hour before now', async () => {
    const ca = await generateCA({ commonName: 'regcred-webhook-ca', validForMs: 10 * DAY, now: NOW });
    const [cert, ...rest] = certificates(ca.cert);
    expect(rest).toEqual([]);
    expect(cert!.ca).toBe(true);
    expect(cert!.subject).toBe('CN=regcred-webhook-ca');
    expect(cert!.checkIssued(cert!)).toBe(true);
    expect(new Date(cert!.validFrom).getTime()).toBe(NOW.getTime() - 3600_000);
    expect(new Date(cert!.validTo).getTime()).toBe(NOW.getTime() + 10 * DAY);
    const key = createPrivateKey(ca.key);
    expect([key.asymmetricKeyType, key.asymmetricKeyDetails?.namedCurve]).toEqual(['ec', 'prime256v1']);
    expect(cert!.checkPrivateKey(key)).toBe(true);
  });
});

describe('generateServingCertificate', () => {
  it('makes a server certificate for the names given, signed by the CA', async () => {
    const ca = await generateCA({ commonName: 'ca', now: NOW });
    const serving = await generateServingCertificate({
      commonName: 'regcred-webhook',
      dnsNames: ['regcred-webhook.regcred-system.svc', 'regcred-webhook.regcred-system.svc.cluster.local'],
      ipAddresses: ['10.0.0.7'],
      issuer: ca,
      now: NOW,
    });
    const [leaf, ...rest] = certificates(serving.cert);
    const [caCert] = certificates(ca.cert);
    expect(rest).toEqual([]);
    expect(leaf!.ca).toBe(false);
    expect(leaf!.checkIssued(caCert!)).toBe(true);
    expect(leaf!.verify(caCert!.publicKey)).toBe(true);
    expect(leaf!.checkPrivateKey(createPrivateKey(serving.key))).toBe(true);
    expect(leaf!.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(leaf!.checkHost('regcred-webhook.regcred-system.svc')).toBe('regcred-webhook.regcred-system.svc');
    expect(leaf!.checkIP('10.0.0.7')).toBe('10.0.0.7');
    expect(leaf!.checkHost('elsewhere.example')).toBeUndefined();
    expect(new Date(leaf!.validTo).getTime()).toBe(NOW.getTime() + 365 * DAY);
    expect(leaf!.serialNumber).not.toBe(caCert!.serialNumber);
  });

  it('refuses an issuer key it did not make', async () => {
    const ca = await generateCA({ commonName: 'ca' });
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await expect(generateServingCertificate({ commonName: 'x', issuer: { cert: ca.cert, key: rsa } })).rejects.toThrow(/only ECDSA P-256/);
  });
});

describe('generateSelfSignedServingCertificate', () => {
  it('serves the certificate and then the CA made for it alone', async () => {
    const pair = await generateSelfSignedServingCertificate({ commonName: 'metrics', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1', '::1'] });
    const [leaf, ca, ...rest] = certificates(pair.cert);
    expect(rest).toEqual([]);
    expect(ca!.ca).toBe(true);
    expect(leaf!.checkIssued(ca!)).toBe(true);
    expect(leaf!.checkIP('::1')).toBe('::1');
    expect(leaf!.checkPrivateKey(createPrivateKey(pair.key))).toBe(true);
  });
});
