// The --metrics-secure filter: which answer each caller gets, what it asks the API server (through a
// fake of the two reviews), how long it remembers, and that the token reaches neither a log nor any
// request but the TokenReview.
import { request } from 'node:https';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RESOURCES, type Resource } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/client.ts';
import { createLogger } from '../../src/log.ts';
import { generateSelfSignedServingCertificate } from '../../src/server/certs.ts';
import { boundPort, serve } from '../../src/server/http.ts';
import { MetricsAuth, type ReviewClient } from '../../src/server/metrics-auth.ts';

interface User {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** TokenReview and SubjectAccessReview as the API server answers them, from two tables. */
class FakeReviews implements ReviewClient {
  readonly tokens = new Map<string, User>();
  readonly allowed = new Set<string>();
  readonly calls: Array<{ plural: string; body: unknown }> = [];
  failing: 'tokenreviews' | 'subjectaccessreviews' | undefined;
  /** Resolves every review in flight; undefined means reviews answer at once. */
  private held: Array<() => void> | undefined;

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const go of held) go();
  }

  count(plural: string): number {
    return this.calls.filter((c) => c.plural === plural).length;
  }

  async create<T>(res: Resource, namespace: string | undefined, body: unknown): Promise<T> {
    expect(namespace).toBeUndefined();
    this.calls.push({ plural: res.plural, body });
    if (this.held) await new Promise<void>((go) => this.held!.push(go));
    if (this.failing === res.plural) throw new KubeError(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
    if (res === RESOURCES.tokenReviews) {
      const user = this.tokens.get((body as { spec: { token: string } }).spec.token);
      return { status: user ? { authenticated: true, user } : { authenticated: false, error: 'invalid bearer token' } } as T;
    }
    if (res === RESOURCES.subjectAccessReviews) {
      const spec = (body as { spec: { user: string; nonResourceAttributes: { path: string; verb: string } } }).spec;
      const key = `${spec.user} ${spec.nonResourceAttributes.verb} ${spec.nonResourceAttributes.path}`;
      return { status: { allowed: this.allowed.has(key) } } as T;
    }
    throw new Error(`unexpected resource ${res.plural}`);
  }
}

const PROMETHEUS: User = { username: 'system:serviceaccount:monitoring:prometheus', uid: 'u-1', groups: ['system:serviceaccounts'], extra: { 'authentication.kubernetes.io/pod-name': ['prometheus-0'] } };
const STRANGER: User = { username: 'system:serviceaccount:apps:stranger' };

function setUp(options: ConstructorParameters<typeof MetricsAuth>[1] = {}) {
  const reviews = new FakeReviews();
  reviews.tokens.set('prometheus-token', PROMETHEUS);
  reviews.tokens.set('stranger-token', STRANGER);
  reviews.allowed.add(`${PROMETHEUS.username} get /metrics`);
  const clock = { now: 1_000_000 };
  const auth = new MetricsAuth(reviews, { now: () => clock.now, ...options });
  return { reviews, clock, auth, check: (header: string | undefined) => auth.check(header, 'get', '/metrics') };
}

describe('MetricsAuth decisions', () => {
  it('answers 401 without asking the API server when there is no bearer token', async () => {
    const { reviews, check } = setUp();
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer two words', 'prometheus-token']) {
      expect(await check(header), String(header)).toEqual({ allowed: false, status: 401, message: 'Unauthorized' });
    }
    expect(reviews.calls).toEqual([]);
  });

  it('answers 401 for a token the API server does not authenticate, and asks no SubjectAccessReview', async () => {
    const { reviews, check } = setUp();
    expect(await check('Bearer forged-token')).toMatchObject({ allowed: false, status: 401 });
    expect(reviews.calls).toEqual([{ plural: 'tokenreviews', body: { spec: { token: 'forged-token' } } }]);
  });

  it('answers 403 for an authenticated user without get on the path, naming the user', async () => {
    const { check } = setUp();
    expect(await check('Bearer stranger-token')).toEqual({
      allowed: false,
      status: 403,
      message: `Forbidden: user "${STRANGER.username}" may not get /metrics`,
    });
  });

  it('lets in a user allowed get on /metrics, asking with the whole identity and no token', async () => {
    const { reviews, check } = setUp();
    // The scheme is case-insensitive (RFC 7235).
    expect(await check('bearer  prometheus-token ')).toEqual({ allowed: true, user: PROMETHEUS.username });
    expect(reviews.calls.map((c) => c.plural)).toEqual(['tokenreviews', 'subjectaccessreviews']);
    expect(reviews.calls[1]!.body).toEqual({
      spec: {
        user: PROMETHEUS.username,
        uid: PROMETHEUS.uid,
        groups: PROMETHEUS.groups,
        extra: PROMETHEUS.extra,
        nonResourceAttributes: { path: '/metrics', verb: 'get' },
      },
    });
  });

  it('authorizes the path asked for, not /metrics alone', async () => {
    const { auth, reviews } = setUp();
    expect(await auth.check('Bearer prometheus-token', 'get', '/debug')).toMatchObject({ allowed: false, status: 403 });
    reviews.allowed.add(`${PROMETHEUS.username} get /debug`);
    // A different path is a different decision: not the cached one for /metrics.
    expect(await auth.check('Bearer prometheus-token', 'get', '/metrics')).toMatchObject({ allowed: true });
  });
});

describe('MetricsAuth cache', () => {
  it('remembers an allowed caller for a minute, then asks again', async () => {
    const { reviews, clock, check } = setUp();
    await check('Bearer prometheus-token');
    clock.now += 59_000;
    expect(await check('Bearer prometheus-token')).toMatchObject({ allowed: true });
    expect(reviews.calls).toHaveLength(2);
    clock.now += 2_000;
    reviews.allowed.clear();
    expect(await check('Bearer prometheus-token')).toMatchObject({ allowed: false, status: 403 });
    expect(reviews.calls).toHaveLength(4);
  });

  it('remembers a refusal for 10 seconds only, so a new RoleBinding soon counts', async () => {
    const { reviews, clock, check } = setUp();
    expect(await check('Bearer stranger-token')).toMatchObject({ status: 403 });
    expect(await check('Bearer forged-token')).toMatchObject({ status: 401 });
    reviews.allowed.add(`${STRANGER.username} get /metrics`);
    reviews.tokens.set('forged-token', STRANGER);
    clock.now += 9_000;
    expect(await check('Bearer stranger-token')).toMatchObject({ status: 403 });
    expect(await check('Bearer forged-token')).toMatchObject({ status: 401 });
    expect(reviews.calls).toHaveLength(3);
    clock.now += 2_000;
    expect(await check('Bearer stranger-token')).toMatchObject({ allowed: true });
    expect(await check('Bearer forged-token')).toMatchObject({ allowed: true });
  });

  it('takes the TTLs from its options', async () => {
    const { reviews, clock, check } = setUp({ allowedTtlMs: 5_000 });
    await check('Bearer prometheus-token');
    clock.now += 5_001;
    await check('Bearer prometheus-token');
    expect(reviews.count('tokenreviews')).toBe(2);
  });

  it('asks once for callers that arrive together with the same token', async () => {
    const { reviews, check } = setUp();
    reviews.hold();
    const answers = Promise.all([check('Bearer prometheus-token'), check('Bearer prometheus-token'), check('Bearer stranger-token')]);
    await new Promise((r) => setImmediate(r));
    reviews.release();
    expect((await answers).map((d) => d.allowed)).toEqual([true, true, false]);
    expect(reviews.count('tokenreviews')).toBe(2);
    expect(reviews.count('subjectaccessreviews')).toBe(2);
  });

  it('answers 500 when the API server cannot be asked, and does not remember it', async () => {
    const { reviews, check } = setUp();
    reviews.failing = 'tokenreviews';
    expect(await check('Bearer prometheus-token')).toMatchObject({ allowed: false, status: 500 });
    reviews.failing = 'subjectaccessreviews';
    expect(await check('Bearer prometheus-token')).toMatchObject({ allowed: false, status: 500 });
    reviews.failing = undefined;
    expect(await check('Bearer prometheus-token')).toMatchObject({ allowed: true });
    expect(reviews.count('tokenreviews')).toBe(3);
  });

  it('keeps at most maxEntries decisions, dropping expired ones first, then the oldest', async () => {
    const { auth, reviews, clock, check } = setUp({ maxEntries: 2 });
    for (let i = 0; i < 5; i++) reviews.tokens.set(`t${i}`, { username: `u${i}` });
    await check('Bearer t0');
    clock.now += 11_000; // t0's refusal has expired
    await check('Bearer t1');
    await check('Bearer t2');
    expect(auth.size).toBe(2);
    await check('Bearer t3'); // t1, the oldest, goes
    expect(auth.size).toBe(2);
    const before = reviews.count('tokenreviews');
    await check('Bearer t2');
    await check('Bearer t3');
    expect(reviews.count('tokenreviews')).toBe(before);
    await check('Bearer t1');
    expect(reviews.count('tokenreviews')).toBe(before + 1);
  });
});

describe('MetricsAuth and the token', () => {
  it('puts the token in no log line and in no request but the TokenReview', async () => {
    let logged = '';
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { logged += chunk.toString(); done(); } });
    const { reviews, check } = setUp({ log: createLogger('trace', sink) });
    const token = 'bearer-secret-4f1c9a';
    reviews.tokens.set(token, STRANGER);
    await check(`Bearer ${token}`);
    reviews.failing = 'subjectaccessreviews';
    reviews.tokens.set(`${token}-2`, STRANGER);
    await check(`Bearer ${token}-2`);
    reviews.failing = 'tokenreviews';
    await check(`Bearer ${token}-3`);
    expect(logged).toContain('SubjectAccessReview failed');
    expect(logged).not.toContain(token);
    const elsewhere = reviews.calls.filter((c) => c.plural !== 'tokenreviews');
    expect(elsewhere.length).toBeGreaterThan(0);
    expect(JSON.stringify(elsewhere)).not.toContain(token);
  });
});

describe('serve() with TLS and the guard', () => {
  it('answers over HTTPS 401, 403 and 200 by the filter, and 404 for other paths without a review', async () => {
    const { reviews, auth } = setUp();
    const tls = await generateSelfSignedServingCertificate({ commonName: 'test', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const server = await serve('127.0.0.1:0', { '/metrics': async () => ({ status: 200, body: 'regcred_up 1\n' }) }, {
      tls: { pair: tls, watch: () => () => undefined },
      guard: auth.guard,
    });
    const port = boundPort(server)!;
    // The chain ends in the CA made for this certificate alone: trusting it verifies the server.
    const ca = tls.cert.slice(tls.cert.indexOf('-----BEGIN CERTIFICATE-----', 1));
    const get = (path: string, token?: string) => new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, ca, headers: token ? { Authorization: `Bearer ${token}` } : {} }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
      req.on('error', reject);
      req.end();
    });
    try {
      expect(await get('/metrics')).toEqual({ status: 401, body: 'Unauthorized\n' });
      expect(await get('/metrics', 'stranger-token')).toMatchObject({ status: 403 });
      expect(await get('/metrics', 'prometheus-token')).toEqual({ status: 200, body: 'regcred_up 1\n' });
      const calls = reviews.calls.length;
      expect(await get('/elsewhere', 'forged')).toMatchObject({ status: 404 });
      expect(reviews.calls).toHaveLength(calls);
    } finally {
      server?.close();
    }
  });
});
