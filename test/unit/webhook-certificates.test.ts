// The webhook's CA and serving certificate in one Secret: made once by the leader, taken from
// another replica that made it first, renewed at two thirds of their life, the CA rotated in steps
// (the bundle holds both CAs before the served certificate moves to the new one), repaired after an
// edit or a delete, and followed by every replica.
import { X509Certificate } from 'node:crypto';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MANAGED_BY_LABEL } from '../../src/api/labels.ts';
import { CA_PUBLISHED_ANNOTATION, WebhookCertificates, type CertificateIssuer, type WebhookCertificatesOptions } from '../../src/controller/webhook/certificates.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { generateCA, generateCAAndServingCertificate, generateSelfSignedServingCertificate, generateServingCertificate } from '../../src/server/certs.ts';
import { FakeClient } from '../support/fake-client.ts';

const NS = 'regcred-system';
const NAME = 'regcred-operator-webhook-tls';
const DNS = 'regcred-operator-webhook.regcred-system.svc';
const IP = '10.96.0.10';
const T0 = Date.parse('2025-03-01T00:00:00Z');
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const OPTIONS: WebhookCertificatesOptions = {
  namespace: NS,
  dnsNames: [DNS, 'regcred-operator-webhook.regcred-system.svc.cluster.local'],
  ipAddresses: [IP],
  caValidityMs: 30 * DAY,
  servingValidityMs: 9 * DAY,
  caOverlapMs: 10 * MIN,
  // In this process: the fake clock runs on while a child process would make them.
  issuer: { generateCA, generateServingCertificate, generateCAAndServingCertificate },
};

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

let fake: FakeClient;
let lines: Array<Record<string, unknown>>;
let log: pino.Logger;
const instances: WebhookCertificates[] = [];

function make(options: Partial<WebhookCertificatesOptions> = {}, client = fake): WebhookCertificates {
  const c = new WebhookCertificates(client.client, log, { ...OPTIONS, ...options });
  instances.push(c);
  return c;
}

/** Whether a pass of the leader is running (a key being made, a write in flight). */
const busy = (c: WebhookCertificates) => (c as unknown as { runner: { running: boolean } }).runner.running;

/**
 * Until every instance is idle and every watch event and zero-delay timer has been handled (fake
 * timers make a 0 ms timer set while they run a 1 ms one).
 */
async function settle(): Promise<void> {
  const deadline = performance.now() + 10_000;
  for (let quiet = 0; quiet < 5; ) {
    await flush();
    await vi.advanceTimersByTimeAsync(1);
    if (instances.some(busy)) quiet = 0;
    else quiet++;
    if (performance.now() > deadline) throw new Error('did not settle');
  }
}

/** Moves the clock on, an hour at a time (the leader's longest wait), settling after each step. */
async function advance(ms: number): Promise<void> {
  while (ms > 0) {
    const step = Math.min(ms, HOUR);
    await vi.advanceTimersByTimeAsync(step);
    await settle();
    ms -= step;
  }
}

interface Content {
  secret: Secret;
  tlsCrt: string;
  tlsKey: string;
  caCrt: string;
  caKey: string;
  bundle: string;
  serving: X509Certificate;
  ca: X509Certificate;
  bundleCerts: X509Certificate[];
}

function content(client = fake): Content {
  const secret = client.object<Secret>(RESOURCES.secrets, NS, NAME);
  if (!secret) throw new Error('no Secret');
  const text = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
  const bundle = text('ca-bundle.crt');
  return {
    secret,
    tlsCrt: text('tls.crt'),
    tlsKey: text('tls.key'),
    caCrt: text('ca.crt'),
    caKey: text('ca.key'),
    bundle,
    serving: new X509Certificate(text('tls.crt')),
    ca: new X509Certificate(text('ca.crt')),
    bundleCerts: (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b)),
  };
}

const fingerprints = (certs: X509Certificate[]) => certs.map((c) => c.fingerprint256);
const secretWrites = () => fake.writes().filter((c) => c.resource === 'secrets');

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(T0);
  fake = new FakeClient();
  ({ log, lines } = capturingLogger());
});

afterEach(() => {
  for (const c of instances.splice(0)) c.stop();
  vi.useRealTimers();
});

/** A leader that has made its Secret, with a listener counting its changes. */
async function leading() {
  const leader = make();
  const changes = vi.fn();
  leader.onChange(changes);
  leader.lead();
  await settle();
  return { leader, changes, first: content() };
}

describe('WebhookCertificates: creation', () => {
  it('creates the Secret once: type kubernetes.io/tls, the CA, a serving certificate for every name, the bundle', async () => {
    const leader = make();
    await leader.start();
    expect(leader.current()).toBeUndefined();
    expect(leader.caBundle()).toBeUndefined();
    leader.lead();
    await settle();

    const c = content();
    expect(c.secret.type).toBe('kubernetes.io/tls');
    expect(c.secret.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'webhook-tls' });
    expect(c.secret.metadata.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    expect(Object.keys(c.secret.data ?? {}).sort()).toEqual(['ca-bundle.crt', 'ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(c.secret.metadata.annotations?.[CA_PUBLISHED_ANNOTATION]).toBe(new Date(T0).toISOString());
    expect(c.ca.ca).toBe(true);
    expect(c.serving.ca).toBe(false);
    for (const name of OPTIONS.dnsNames) expect(c.serving.checkHost(name, { subject: 'never', wildcards: false })).toBe(name);
    expect(c.serving.checkIP(IP)).toBe(IP);
    expect(c.serving.checkIssued(c.ca) && c.serving.verify(c.ca.publicKey)).toBe(true);
    expect(c.serving.validToDate.getTime()).toBe(T0 + 9 * DAY);
    expect(c.ca.validToDate.getTime()).toBe(T0 + 30 * DAY);
    expect(fingerprints(c.bundleCerts)).toEqual([c.ca.fingerprint256]);
    expect(leader.current()).toEqual({ cert: c.tlsCrt, key: c.tlsKey });
    expect(leader.caBundle()).toBe(c.bundle);
    expect(secretWrites()).toEqual([{ verb: 'create', resource: 'secrets', namespace: NS, name: NAME }]);

    // Another replica only reads it; hours later nothing has been written again.
    const replica = make();
    await replica.start();
    expect(replica.current()).toEqual({ cert: c.tlsCrt, key: c.tlsKey });
    expect(replica.caBundle()).toBe(c.bundle);
    await advance(5 * HOUR);
    expect(secretWrites()).toHaveLength(1);
    expect(lines.filter((l) => l.msg === 'webhook TLS: Secret created')).toHaveLength(1);
  });

  it('makes the Secret the moment its watch has synced, however long the first list takes', async () => {
    fake.failNext({ verb: 'list', resource: 'secrets' }, 500);
    const leader = make();
    leader.lead();
    // The watch lists again after its first backoff (0.4 to 0.6 s); a second has not passed.
    for (let i = 0; i < 7; i++) {
      await flush();
      await vi.advanceTimersByTimeAsync(100);
    }
    await settle();
    expect(secretWrites()).toEqual([{ verb: 'create', resource: 'secrets', namespace: NS, name: NAME }]);
  });

  it("takes the Secret another replica created first (AlreadyExists) and writes nothing more", async () => {
    const other = new FakeClient();
    const otherLeader = make({}, other);
    otherLeader.lead();
    await settle();
    const theirs = content(other).secret;
    let raced = false;
    fake.inject((call) => {
      if (call.verb !== 'create' || call.resource !== 'secrets' || raced) return undefined;
      raced = true;
      fake.seed(RESOURCES.secrets, theirs);
      return new KubeError(409, 'AlreadyExists', `secrets "${NAME}" already exists`);
    });
    const leader = make();
    const changes = vi.fn();
    leader.onChange(changes);
    await leader.start();
    leader.lead();
    await settle();
    expect(fake.calls.map((c) => c.verb)).toEqual(['list', 'create', 'get']);
    expect(leader.current()).toEqual({ cert: content(other).tlsCrt, key: content(other).tlsKey });
    expect(leader.caBundle()).toBe(content(other).bundle);
    expect(changes).toHaveBeenCalledTimes(1);
    await advance(2 * HOUR);
    expect(secretWrites()).toEqual([{ verb: 'create', resource: 'secrets', namespace: NS, name: NAME }]);
  });

  it('refuses options that would renew at once, and names without a host', () => {
    expect(() => make({ servingValidityMs: 10 * MIN })).toThrow(/servingValidityMs must be at least/);
    expect(() => make({ caValidityMs: 0 })).toThrow(/caValidityMs must be at least/);
    expect(() => make({ dnsNames: [], ipAddresses: [] })).toThrow(/at least one DNS name or IP address/);
  });

  it('leaves a Secret of another type alone and says so once', async () => {
    fake.seed(RESOURCES.secrets, { metadata: { namespace: NS, name: NAME }, type: 'Opaque', data: { x: 'eA==' } } as Secret);
    const leader = make();
    leader.lead();
    await advance(2 * HOUR);
    expect(fake.writes()).toEqual([]);
    expect(lines.filter((l) => String(l.msg).includes('not of type kubernetes.io/tls'))).toHaveLength(1);
  });
});

describe('WebhookCertificates: renewal and rotation', () => {
  it('renews the serving certificate when a third of its life is left, from the same CA', async () => {
    const { leader, changes, first } = await leading();
    expect(changes).toHaveBeenCalledTimes(1);
    // 9 days, backdated an hour: two thirds of its life are gone at T0 + 6 d - 20 min.
    await advance(6 * DAY - 21 * MIN);
    expect(content().tlsCrt).toBe(first.tlsCrt);
    expect(secretWrites()).toHaveLength(1);
    await advance(2 * MIN);
    const renewed = content();
    expect(renewed.tlsCrt).not.toBe(first.tlsCrt);
    expect(renewed.tlsKey).not.toBe(first.tlsKey);
    expect(renewed.serving.checkIssued(first.ca) && renewed.serving.verify(first.ca.publicKey)).toBe(true);
    expect(renewed.caCrt).toBe(first.caCrt);
    expect(renewed.caKey).toBe(first.caKey);
    expect(renewed.bundle).toBe(first.bundle);
    expect(renewed.serving.validFromDate.getTime()).toBe(T0 + 6 * DAY - 20 * MIN - HOUR);
    expect(secretWrites().map((c) => c.verb)).toEqual(['create', 'replace']);
    expect(leader.current()).toEqual({ cert: renewed.tlsCrt, key: renewed.tlsKey });
    expect(changes).toHaveBeenCalledTimes(2);
    expect(lines.find((l) => l.msg === 'webhook TLS: Secret updated')?.changes).toEqual(['serving certificate reissued: a third of its life is left']);
  });

  it('rotates the CA in steps: bundle with both CAs first, then the served certificate, then the old CA leaves', async () => {
    const leader = make();
    const replica = make();
    await replica.start();
    const changes = vi.fn();
    replica.onChange(changes);
    const keys = new Set<string>();
    const remember = () => {
      const c = content();
      keys.add(c.tlsKey);
      keys.add(c.caKey);
      return c;
    };
    leader.lead();
    await settle();
    const first = remember();
    expect(changes).toHaveBeenCalledTimes(1);

    // Up to just before the CA has a third of its life left (T0 + 20 d - 20 min): the serving
    // certificate is renewed three times on the way (about every 6 days), always by the first CA.
    let renewals = 0;
    let last = first.tlsCrt;
    for (let t = 0; t < 20 * DAY - 21 * MIN; t += HOUR) {
      await advance(Math.min(HOUR, 20 * DAY - 21 * MIN - t));
      const now = remember();
      expect(now.caCrt).toBe(first.caCrt);
      if (now.tlsCrt !== last) renewals++;
      last = now.tlsCrt;
    }
    expect(renewals).toBe(3);
    const beforeRotation = remember();
    expect(changes).toHaveBeenCalledTimes(1 + renewals);

    // Step 1: the new CA, the bundle with both; the served certificate is still the old CA's.
    await advance(2 * MIN);
    const step1 = remember();
    expect(step1.caCrt).not.toBe(first.caCrt);
    expect(step1.caKey).not.toBe(first.caKey);
    expect(fingerprints(step1.bundleCerts)).toEqual([step1.ca.fingerprint256, first.ca.fingerprint256]);
    expect(step1.tlsCrt).toBe(beforeRotation.tlsCrt);
    expect(step1.serving.checkIssued(first.ca)).toBe(true);
    expect(step1.secret.metadata.annotations?.[CA_PUBLISHED_ANNOTATION]).toBe(new Date(T0 + 20 * DAY - 20 * MIN).toISOString());
    expect(replica.caBundle()).toBe(step1.bundle);
    expect(replica.current()?.cert).toBe(beforeRotation.tlsCrt);
    expect(changes).toHaveBeenCalledTimes(2 + renewals);

    // Still within the overlap: nothing moves.
    await advance(7 * MIN);
    expect(remember().tlsCrt).toBe(step1.tlsCrt);

    // Step 2: once the overlap is over, the served certificate is the new CA's; the bundle keeps both.
    await advance(2 * MIN);
    const step2 = remember();
    expect(step2.tlsCrt).not.toBe(step1.tlsCrt);
    expect(step2.serving.checkIssued(step1.ca) && step2.serving.verify(step1.ca.publicKey)).toBe(true);
    expect(step2.caCrt).toBe(step1.caCrt);
    expect(step2.bundle).toBe(step1.bundle);
    expect(replica.current()).toEqual({ cert: step2.tlsCrt, key: step2.tlsKey });
    expect(changes).toHaveBeenCalledTimes(3 + renewals);

    // Step 3: the old CA leaves the bundle when it expires (T0 + 30 d), not before.
    const toExpiry = T0 + 30 * DAY - Date.now();
    await advance(toExpiry - MIN);
    expect(fingerprints(remember().bundleCerts)).toHaveLength(2);
    const callsBefore = changes.mock.calls.length;
    await advance(3 * MIN);
    const step3 = remember();
    expect(fingerprints(step3.bundleCerts)).toEqual([step1.ca.fingerprint256]);
    expect(step3.caCrt).toBe(step1.caCrt);
    expect(replica.caBundle()).toBe(step3.bundle);
    expect(changes.mock.calls.length).toBe(callsBefore + 1);

    // No key, whole or in part, ever reached the log.
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain('PRIVATE KEY');
    for (const key of keys) {
      const body = key.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      expect(body.length).toBeGreaterThan(40);
      for (let i = 0; i + 24 <= body.length; i += 24) expect(logged).not.toContain(body.slice(i, i + 24));
    }
    expect(lines.some((l) => Array.isArray(l.changes) && (l.changes as string[]).includes('CA rotated: a third of its life is left'))).toBe(true);
    expect(lines.some((l) => Array.isArray(l.changes) && (l.changes as string[]).includes('serving certificate moved to the new CA'))).toBe(true);
  });
});

describe('WebhookCertificates: repair', () => {
  it('makes a new Secret after it is deleted, serving the old pair until then', async () => {
    const { leader, changes, first } = await leading();
    fake.remove(RESOURCES.secrets, first.secret);
    expect(leader.current()).toEqual({ cert: first.tlsCrt, key: first.tlsKey });
    await settle();
    const again = content();
    expect(again.caCrt).not.toBe(first.caCrt);
    expect(again.serving.checkIssued(again.ca)).toBe(true);
    expect(leader.current()).toEqual({ cert: again.tlsCrt, key: again.tlsKey });
    expect(leader.caBundle()).toBe(again.bundle);
    expect(changes).toHaveBeenCalledTimes(2);
    expect(secretWrites().map((c) => c.verb)).toEqual(['create', 'create']);
  });

  it('reissues the serving certificate after tls.crt is edited, keeping the CA', async () => {
    const { leader, changes, first } = await leading();

    // Garbage: the served pair stays as it was, and the leader reissues.
    await fake.patch(RESOURCES.secrets, NS, NAME, { data: { 'tls.crt': Buffer.from('not a certificate').toString('base64') } });
    await settle();
    const repaired = content();
    expect(repaired.tlsCrt).not.toBe(first.tlsCrt);
    expect(repaired.serving.checkIssued(first.ca)).toBe(true);
    expect(repaired.caCrt).toBe(first.caCrt);
    expect(repaired.bundle).toBe(first.bundle);
    expect(leader.current()).toEqual({ cert: repaired.tlsCrt, key: repaired.tlsKey });
    expect(lines.some((l) => l.msg === 'webhook TLS: the Secret is not usable as it is; keeping what was served before')).toBe(true);
    expect(changes).toHaveBeenCalledTimes(2);

    // A valid pair for another name, signed by no CA of the bundle: replaced too.
    const foreign = await generateSelfSignedServingCertificate({ commonName: 'evil.example', dnsNames: ['evil.example'] });
    await fake.patch(RESOURCES.secrets, NS, NAME, {
      data: { 'tls.crt': Buffer.from(foreign.cert).toString('base64'), 'tls.key': Buffer.from(foreign.key).toString('base64') },
    });
    await settle();
    const again = content();
    expect(again.tlsCrt).not.toBe(foreign.cert);
    expect(again.serving.checkHost(DNS, { subject: 'never' })).toBe(DNS);
    expect(again.serving.checkIssued(first.ca)).toBe(true);
    expect(leader.current()).toEqual({ cert: again.tlsCrt, key: again.tlsKey });
    const updates = lines.filter((l) => l.msg === 'webhook TLS: Secret updated').map((l) => l.changes);
    expect(updates).toEqual([['serving certificate reissued: tls.crt does not parse'], [`serving certificate reissued: not valid for ${DNS}`]]);
  });

  it('asks its issuer once for the CA and the serving certificate when there is no Secret; for a lost CA, the CA alone, the certificate after the overlap', async () => {
    const calls: string[] = [];
    const issuer: CertificateIssuer = {
      generateCA: (o) => (calls.push('CA'), generateCA(o)),
      generateServingCertificate: (o) => (calls.push('serving'), generateServingCertificate(o)),
      generateCAAndServingCertificate: (ca, serving) => (calls.push('CA and serving'), generateCAAndServingCertificate(ca, serving)),
    };
    const leader = make({ issuer });
    leader.lead();
    await settle();
    expect(calls).toEqual(['CA and serving']);
    await fake.patch(RESOURCES.secrets, NS, NAME, { data: { 'ca.key': null } });
    await settle();
    expect(calls).toEqual(['CA and serving', 'CA']);
    await advance(11 * MIN);
    expect(calls).toEqual(['CA and serving', 'CA', 'serving']);
    await fake.client.delete(RESOURCES.secrets, NS, NAME);
    await settle();
    expect(calls).toEqual(['CA and serving', 'CA', 'serving', 'CA and serving']);
    expect(content().serving.checkIssued(content().ca)).toBe(true);
  });

  it('makes a new CA when ca.key is lost, keeping the old CA in the bundle and its certificate served through the overlap', async () => {
    const leader = make();
    leader.lead();
    await settle();
    const first = content();
    await fake.patch(RESOURCES.secrets, NS, NAME, { data: { 'ca.key': null } });
    await settle();
    const rotated = content();
    expect(rotated.caCrt).not.toBe(first.caCrt);
    expect(fingerprints(rotated.bundleCerts)).toEqual([rotated.ca.fingerprint256, first.ca.fingerprint256]);
    expect(rotated.tlsCrt).toBe(first.tlsCrt);
    await advance(11 * MIN);
    const moved = content();
    expect(moved.serving.checkIssued(rotated.ca)).toBe(true);
    expect(fingerprints(moved.bundleCerts)).toEqual([rotated.ca.fingerprint256, first.ca.fingerprint256]);
  });

  it('puts the bundle and its labels back after an edit', async () => {
    const leader = make();
    leader.lead();
    await settle();
    const first = content();
    await fake.patch(RESOURCES.secrets, NS, NAME, { metadata: { labels: { 'app.kubernetes.io/component': null } }, data: { 'ca-bundle.crt': Buffer.from('x').toString('base64') } });
    await settle();
    const repaired = content();
    expect(repaired.bundle).toBe(first.bundle);
    expect(repaired.secret.metadata.labels?.['app.kubernetes.io/component']).toBe('webhook-tls');
    expect(repaired.tlsCrt).toBe(first.tlsCrt);
    expect(leader.caBundle()).toBe(first.bundle);
  });

  it('re-reads and decides again on a 409, and backs off on other errors without throwing', async () => {
    const leader = make();
    leader.lead();
    await settle();
    fake.failNext({ verb: 'replace', resource: 'secrets' }, 409);
    await fake.patch(RESOURCES.secrets, NS, NAME, { data: { 'tls.crt': null } });
    await settle();
    expect(content().serving.checkHost(DNS, { subject: 'never' })).toBe(DNS);
    expect(fake.calls.filter((c) => c.resource === 'secrets').map((c) => c.verb)).toEqual(['list', 'create', 'patch', 'replace', 'get', 'replace']);

    fake.failNext({ verb: 'replace', resource: 'secrets' }, 500, 2);
    await fake.patch(RESOURCES.secrets, NS, NAME, { data: { 'tls.crt': null } });
    await settle();
    expect(fake.object<Secret>(RESOURCES.secrets, NS, NAME)?.data?.['tls.crt']).toBeUndefined();
    const retries = lines.filter((l) => l.msg === 'webhook TLS: could not reconcile the Secret; retrying');
    expect(retries).toHaveLength(1);
    await advance(5_000);
    expect(lines.filter((l) => l.msg === 'webhook TLS: could not reconcile the Secret; retrying')).toHaveLength(2);
    await advance(10_000);
    expect(content().serving.checkHost(DNS, { subject: 'never' })).toBe(DNS);
  });
});
