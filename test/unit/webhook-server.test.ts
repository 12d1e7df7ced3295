// The admission webhook's HTTPS endpoint, served for real on 127.0.0.1 with certificates from certs.ts.
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JsonPatchOp } from '../../src/controller/injection.ts';
import { generateCA, generateServingCertificate, type PemKeyPair } from '../../src/server/certs.ts';
import { boundPort } from '../../src/server/http.ts';
import {
  HANDLER_ERROR,
  HANDLER_TIMEOUT,
  serveWebhook,
  type AdmissionHandler,
  type AdmissionRequestLike,
  type CertificateSource,
  type WebhookOptions,
  type WebhookOutcome,
} from '../../src/server/webhook.ts';

class FakeSource implements CertificateSource {
  readonly listeners = new Set<() => void>();
  pair: PemKeyPair | undefined;
  constructor(pair?: PemKeyPair) {
    this.pair = pair;
  }
  current() {
    return this.pair;
  }
  onChange(listener: () => void) {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }
  set(pair: PemKeyPair) {
    this.pair = pair;
    for (const l of [...this.listeners]) l();
  }
}

let ca1: PemKeyPair;
let ca2: PemKeyPair;
let leaf1: PemKeyPair;
let leaf2: PemKeyPair;
let agent: Agent;

const serving = (issuer: PemKeyPair) => generateServingCertificate({ commonName: 'regcred-webhook', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], issuer });

beforeAll(async () => {
  ca1 = await generateCA({ commonName: 'webhook-ca-1' });
  ca2 = await generateCA({ commonName: 'webhook-ca-2' });
  leaf1 = await serving(ca1);
  leaf2 = await serving(ca2);
  agent = new Agent({ connect: { ca: ca1.cert } });
});

afterAll(async () => {
  await agent.close();
});

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function start(handler: AdmissionHandler, options: WebhookOptions = {}, source = new FakeSource(leaf1)) {
  const outcomes: WebhookOutcome[] = [];
  const webhook = await serveWebhook('127.0.0.1:0', source, handler, { onServed: (o) => outcomes.push(o), ...options });
  closers.push(() => webhook.close());
  const url = (path = '/mutate-pods') => `https://127.0.0.1:${boundPort(webhook.server)}${path}`;
  return { webhook, url, outcomes, source };
}

function review(request: Partial<AdmissionRequestLike> & Record<string, unknown> = {}) {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      operation: 'CREATE',
      namespace: 'team-a',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object: { metadata: { generateName: 'web-', namespace: 'team-a' }, spec: { containers: [{ name: 'c', image: 'ghcr.io/x/y' }] } },
      dryRun: false,
      ...request,
    },
  };
}

async function post(url: string, body: unknown, dispatcher: Agent = agent) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    dispatcher,
  });
  const text = await res.text();
  return { status: res.status, text, json: () => JSON.parse(text) as { apiVersion: string; kind: string; response: Record<string, unknown> } };
}

const PATCH: JsonPatchOp[] = [{ op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'regcred' }] }];

describe('serveWebhook', () => {
  it('answers allowed with the handler patch, base64 JSON, and the uid echoed', async () => {
    const seen: AdmissionRequestLike[] = [];
    const { url, webhook, outcomes } = await start(async (request) => {
      seen.push(request);
      return { patch: PATCH, reason: 'Injected' };
    });
    const res = await post(url(), review({ uid: 'uid-1' }));
    expect(res.status).toBe(200);
    const body = res.json();
    expect(body).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'uid-1', allowed: true, patchType: 'JSONPatch', patch: expect.any(String) },
    });
    expect(JSON.parse(Buffer.from(body.response.patch as string, 'base64').toString('utf8'))).toEqual(PATCH);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ uid: 'uid-1', operation: 'CREATE', namespace: 'team-a', kind: { kind: 'Pod' } });
    expect(seen[0]!.object).toEqual(review().request.object);
    expect(webhook.stats.served).toBe(1);
    expect(webhook.stats.lastServedAt).toBeGreaterThan(Date.now() - 10_000);
    expect(outcomes).toEqual([{ uid: 'uid-1', reason: 'Injected', patchOps: 1, durationMs: expect.any(Number) }]);
  });

  it.each<[string, { patch?: JsonPatchOp[]; reason: string }]>([
    ['no patch', { reason: 'NotSelected' }],
    ['an empty patch', { patch: [], reason: 'AlreadyPresent' }],
  ])('sends no patchType for %s', async (_name, answer) => {
    const { url, outcomes } = await start(async () => answer);
    const body = (await post(url(), review({ uid: 'uid-2' }))).json();
    expect(body.response).toEqual({ uid: 'uid-2', allowed: true });
    expect(outcomes[0]).toMatchObject({ reason: answer.reason, patchOps: 0 });
  });

  it('allows without a patch when the handler throws', async () => {
    const boom = new Error('cache exploded');
    const { url, outcomes, webhook } = await start(async () => {
      throw boom;
    });
    const res = await post(url(), review({ uid: 'uid-3' }));
    expect(res.status).toBe(200);
    expect(res.json().response).toEqual({ uid: 'uid-3', allowed: true });
    expect(res.text).not.toContain('cache exploded');
    expect(outcomes).toEqual([{ uid: 'uid-3', reason: HANDLER_ERROR, patchOps: 0, durationMs: expect.any(Number), error: boom }]);
    expect(webhook.stats.served).toBe(1);
  });

  it('allows without a patch when the handler answers something that is not a patch', async () => {
    const { url, outcomes } = await start(async () => ({ patch: 'nonsense' as unknown as JsonPatchOp[], reason: 'Injected' }));
    expect((await post(url(), review({ uid: 'uid-x' }))).json().response).toEqual({ uid: 'uid-x', allowed: true });
    expect(outcomes[0]).toMatchObject({ reason: HANDLER_ERROR, patchOps: 0 });
  });

  it('allows without a patch when the handler takes longer than handlerTimeoutMs', async () => {
    let late: ((v: { patch: JsonPatchOp[]; reason: string }) => void) | undefined;
    const { url, outcomes } = await start(() => new Promise((resolve) => (late = resolve)), { handlerTimeoutMs: 100 });
    const started = Date.now();
    const res = await post(url(), review({ uid: 'uid-4' }));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(res.json().response).toEqual({ uid: 'uid-4', allowed: true });
    expect(outcomes).toEqual([{ uid: 'uid-4', reason: HANDLER_TIMEOUT, patchOps: 0, durationMs: expect.any(Number) }]);
    expect(outcomes[0]!.durationMs).toBeGreaterThanOrEqual(90);
    // An answer after the deadline changes nothing.
    late!({ patch: PATCH, reason: 'Injected' });
    await new Promise((r) => setTimeout(r, 20));
    expect(outcomes).toHaveLength(1);
  });

  it('handles dryRun requests the same', async () => {
    const seen: AdmissionRequestLike[] = [];
    const { url } = await start(async (request) => {
      seen.push(request);
      return { patch: PATCH, reason: 'Injected' };
    });
    const body = (await post(url(), review({ uid: 'uid-5', dryRun: true }))).json();
    expect(body.response).toMatchObject({ uid: 'uid-5', allowed: true, patchType: 'JSONPatch' });
    expect(JSON.parse(Buffer.from(body.response.patch as string, 'base64').toString())).toEqual(PATCH);
    expect(seen[0]!.dryRun).toBe(true);
  });

  it('serves POST on its path only', async () => {
    const { url, webhook } = await start(async () => ({ patch: PATCH, reason: 'Injected' }), { path: '/inject' });
    expect((await post(url('/mutate-pods'), review())).status).toBe(404);
    expect((await post(url('/'), review())).status).toBe(404);
    const get = await fetch(url('/inject'), { dispatcher: agent });
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    await get.text();
    const ok = await post(url('/inject?timeout=10s'), review({ uid: 'uid-6' }));
    expect(ok.status).toBe(200);
    expect(ok.json().response.uid).toBe('uid-6');
    expect(webhook.stats.served).toBe(1);
  });

  it.each<[string, unknown]>([
    ['not JSON', '{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", "object": {"password": "hunter2"'],
    ['empty', ''],
    ['a JSON array', '[]'],
    ['another kind', { ...review(), kind: 'Pod' }],
    ['admission.k8s.io/v1beta1', { ...review(), apiVersion: 'admission.k8s.io/v1beta1' }],
    ['no request', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }],
    ['no uid', review({ uid: undefined })],
    ['an empty uid', review({ uid: '' })],
    ['a numeric uid', review({ uid: 7 as unknown as string })],
  ])('answers 400 to a body that is %s, without calling the handler or echoing it', async (_name, body) => {
    let called = false;
    const { url, webhook } = await start(async () => {
      called = true;
      return { reason: 'x' };
    });
    const res = await post(url(), body);
    expect(res.status).toBe(400);
    expect(res.text).not.toContain('hunter2');
    expect(called).toBe(false);
    expect(webhook.stats.served).toBe(0);
  });

  it('answers 413 to a body larger than maxBodyBytes', async () => {
    let called = false;
    const { url } = await start(
      async () => {
        called = true;
        return { reason: 'x' };
      },
      { maxBodyBytes: 1024 },
    );
    const big = JSON.stringify(review({ object: { metadata: { annotations: { a: 'x'.repeat(64 * 1024) } } } }));
    const fresh = new Agent({ connect: { ca: ca1.cert } });
    try {
      // With a Content-Length, and streamed without one.
      expect((await post(url(), big, fresh)).status).toBe(413);
      const streamed = await fetch(url(), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(big));
            c.close();
          },
        }),
        duplex: 'half',
        dispatcher: fresh,
      });
      expect(streamed.status).toBe(413);
      await streamed.text();
    } finally {
      await fresh.destroy();
    }
    expect(called).toBe(false);
    // The limit is on the body, not on the server: a small review still passes.
    expect((await post(url(), review({ uid: 'small' }))).json().response.uid).toBe('small');
  });

  it('serves a swapped certificate on the next connection', async () => {
    const { url, source, webhook } = await start(async () => ({ reason: 'NotSelected' }));
    const port = boundPort(webhook.server)!;
    expect(await peerFingerprint(port, ca1.cert)).toBe(new X509Certificate(leaf1.cert).fingerprint256);

    source.set(leaf2);
    expect(await peerFingerprint(port, ca2.cert)).toBe(new X509Certificate(leaf2.cert).fingerprint256);
    const trustsNew = new Agent({ connect: { ca: ca2.cert } });
    const trustsOld = new Agent({ connect: { ca: ca1.cert } });
    try {
      expect((await post(url(), review({ uid: 'after-swap' }), trustsNew)).json().response.uid).toBe('after-swap');
      await expect(post(url(), review(), trustsOld)).rejects.toThrow();
    } finally {
      await trustsNew.close();
      await trustsOld.destroy();
    }
  });

  it('keeps the certificate it serves when the new pair is unusable', async () => {
    const errors: unknown[] = [];
    const { source, webhook } = await start(async () => ({ reason: 'x' }), { onCertificateError: (err) => errors.push(err) });
    source.set({ cert: leaf2.cert, key: leaf1.key });
    expect(errors).toHaveLength(1);
    expect(await peerFingerprint(boundPort(webhook.server)!, ca1.cert)).toBe(new X509Certificate(leaf1.cert).fingerprint256);
  });

  it('starts only once the source has a certificate', async () => {
    const source = new FakeSource();
    let settled = false;
    const pending = serveWebhook('127.0.0.1:0', source, async () => ({ reason: 'x' })).then((w) => {
      settled = true;
      return w;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    source.set(leaf1);
    const webhook = await pending;
    closers.push(() => webhook.close());
    expect(await peerFingerprint(boundPort(webhook.server)!, ca1.cert)).toBe(new X509Certificate(leaf1.cert).fingerprint256);
  });

  it('gives up when no certificate comes within certificateWaitMs', async () => {
    const source = new FakeSource();
    await expect(serveWebhook('127.0.0.1:0', source, async () => ({ reason: 'x' }), { certificateWaitMs: 50 })).rejects.toThrow(/no serving certificate/);
    expect(source.listeners.size).toBe(0);
  });

  it('refuses an address without a port', async () => {
    await expect(serveWebhook('0', new FakeSource(leaf1), async () => ({ reason: 'x' }))).rejects.toThrow(/\[host\]:port/);
    await expect(serveWebhook('127.0.0.1:http', new FakeSource(leaf1), async () => ({ reason: 'x' }))).rejects.toThrow(/port/);
  });

  it('stops listening and watching the source on close', async () => {
    const source = new FakeSource(leaf1);
    const webhook = await serveWebhook('127.0.0.1:0', source, async () => ({ reason: 'x' }));
    const keepAlive = new Agent({ connect: { ca: ca1.cert } });
    const url = `https://127.0.0.1:${boundPort(webhook.server)}/mutate-pods`;
    expect((await post(url, review(), keepAlive)).status).toBe(200);
    expect(source.listeners.size).toBe(1);
    // An idle keep-alive connection does not hold the close up.
    await webhook.close();
    expect(source.listeners.size).toBe(0);
    expect(webhook.server.listening).toBe(false);
    await keepAlive.destroy();
  });

  it('answers the requests in flight on close, then closes their connections at once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const webhook = await serveWebhook('127.0.0.1:0', new FakeSource(leaf1), async () => {
      await gate;
      return { patch: PATCH, reason: 'Injected' };
    }, { handlerTimeoutMs: 10_000 });
    const keepAlive = new Agent({ connect: { ca: ca1.cert } });
    try {
      const url = `https://127.0.0.1:${boundPort(webhook.server)}/mutate-pods`;
      const answer = post(url, review({ uid: 'in-flight' }), keepAlive);
      while (webhook.server.listening && (await connections(webhook.server)) === 0) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      const started = Date.now();
      const closed = webhook.close();
      release();
      const res = await answer;
      expect(res.status).toBe(200);
      expect(res.json().response).toMatchObject({ uid: 'in-flight', patchType: 'JSONPatch' });
      await closed;
      // Not held up until the handler timeout lets close() cut the connection.
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await keepAlive.destroy();
    }
  });
});

function connections(server: import('node:net').Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
}

/** The SHA-256 fingerprint of the certificate a fresh TLS connection is served. */
function peerFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.once('error', reject);
  });
}
