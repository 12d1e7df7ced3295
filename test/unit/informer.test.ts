import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '../../src/kube/client-node.ts';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeClient, KubeError, RESOURCES } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { FakeKube, track } from '../support/fake-watch.ts';

const T0 = Date.parse('2024-05-01T10:00:00Z');
/** More than the longest backoff the informers below can pick (maxBackoffMs 1000, +20 % jitter). */
const BACKOFF = 2_000;

const secret = (namespace: string, name: string, resourceVersion: string, extra: Partial<Secret> = {}): Secret => ({
  metadata: { namespace, name, resourceVersion },
  ...extra,
});

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

/** Lets every promise chain in flight run to its next timer or I/O wait; setImmediate is not faked. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

let fake: FakeKube;
let informer: Informer<Secret>;
let lines: Array<Record<string, unknown>>;
/** Handler calls as [resourceVersion, old resourceVersion, deleted]. */
let calls: Array<[string | undefined, string | undefined, boolean]>;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(T0);
  fake = new FakeKube();
  const captured = capturingLogger();
  lines = captured.lines;
  informer = new Informer<Secret>(fake.client, RESOURCES.secrets, captured.log, { maxBackoffMs: 1_000, watchTimeoutSeconds: 60 });
  calls = [];
  informer.on((obj, old, deleted) => calls.push([obj.metadata.resourceVersion, old?.metadata.resourceVersion, deleted]));
});

afterEach(() => {
  informer.stop();
  vi.useRealTimers();
});

/** Starts the informer and returns its first watch, accepted. */
async function started() {
  informer.start();
  const w = await fake.watchNumber(1);
  await flush();
  return w;
}

describe('waitForSync', () => {
  it('rejects after the given timeout while the first list keeps failing', async () => {
    fake.listErrors = Array.from({ length: 100 }, () => new KubeError(503, 'ServiceUnavailable', 'unavailable'));
    informer.start();
    const sync = track(informer.waitForSync(5_000));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(sync.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(sync.state).toBe('rejected');
    expect(String(sync.error)).toContain(`informer ${informer.name} did not sync within 5000ms`);
  });

  it('waits 120000 ms by default', async () => {
    fake.listErrors = Array.from({ length: 1_000 }, () => new Error('connect ECONNREFUSED'));
    informer.start();
    const sync = track(informer.waitForSync());
    await vi.advanceTimersByTimeAsync(119_999);
    expect(sync.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(sync.state).toBe('rejected');
  });

  it('resolves on the first list and leaves no timer behind', async () => {
    informer.start();
    await informer.waitForSync(5_000);
    await flush();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() rejects every pending waiter, and later waiters at once', async () => {
    fake.listErrors = Array.from({ length: 100 }, () => new Error('connect ECONNREFUSED'));
    informer.start();
    const first = track(informer.waitForSync(60_000));
    const second = track(informer.waitForSync(60_000));
    informer.stop();
    await flush();
    for (const w of [first, second]) {
      expect(w.state).toBe('rejected');
      expect(String(w.error)).toContain('stopped before its cache synced');
    }
    await expect(informer.waitForSync(60_000)).rejects.toThrow('stopped before its cache synced');
  });
});

describe('a watch that keeps failing', () => {
  it('relists after three ERROR events in a row instead of resuming from the same resourceVersion', async () => {
    fake.versions = ['10', '20'];
    const w1 = await started();
    w1.error(500, 'internal error');
    await vi.advanceTimersByTimeAsync(BACKOFF);
    const w2 = await fake.watchNumber(2);
    w2.error(500);
    await vi.advanceTimersByTimeAsync(BACKOFF);
    const w3 = await fake.watchNumber(3);
    expect([w1, w2, w3].map((w) => w.opts.resourceVersion)).toEqual(['10', '10', '10']);
    expect(fake.lists).toHaveLength(1);
    w3.error(500);
    await vi.advanceTimersByTimeAsync(BACKOFF);
    const w4 = await fake.watchNumber(4);
    expect(fake.lists).toHaveLength(2);
    expect(w4.opts.resourceVersion).toBe('20');
  });

  it('relists after three failed connects', async () => {
    fake.versions = ['10', '20'];
    fake.connects = [1, 2, 3].map(() => ({ kind: 'reject' as const, error: new Error('connect ECONNREFUSED') }));
    informer.start();
    for (let n = 1; n <= 3; n++) {
      await fake.watchNumber(n);
      await vi.advanceTimersByTimeAsync(BACKOFF);
    }
    const w4 = await fake.watchNumber(4);
    expect(fake.lists).toHaveLength(2);
    expect(w4.opts.resourceVersion).toBe('20');
  });

  it('counts failures in a row only: an event in between starts the count again', async () => {
    const w1 = await started();
    w1.error(500);
    await vi.advanceTimersByTimeAsync(BACKOFF);
    const w2 = await fake.watchNumber(2);
    w2.event('ADDED', secret('a', 'regcred', '11'));
    w2.error(500);
    await vi.advanceTimersByTimeAsync(BACKOFF);
    (await fake.watchNumber(3)).error(500);
    await vi.advanceTimersByTimeAsync(BACKOFF);
    const w4 = await fake.watchNumber(4);
    expect(fake.lists).toHaveLength(1);
    expect(w4.opts.resourceVersion).toBe('11');
  });
});

describe('410 Gone', () => {
  it('on the watch request itself (refused with HTTP 410) relists at once', async () => {
    fake.versions = ['10', '20'];
    fake.connects = [{ kind: 'http', status: 410, statusText: 'Gone' }];
    informer.start();
    await fake.watchNumber(1);
    await flush();
    // No timer advanced: a relist, not a retry after backoff.
    expect(fake.lists).toHaveLength(2);
    expect((await fake.watchNumber(2)).opts.resourceVersion).toBe('20');
  });

  it('ending a watch that was accepted relists at once', async () => {
    fake.versions = ['10', '20'];
    const w1 = await started();
    w1.end(new KubeError(410, '', 'Gone'));
    await flush();
    expect(fake.lists).toHaveLength(2);
    expect((await fake.watchNumber(2)).opts.resourceVersion).toBe('20');
  });
});

describe('lastSuccess', () => {
  it('moves on a list, an accepted watch and an event, never on an ERROR event or a refused watch', async () => {
    const w1 = await started();
    expect(informer.lastSuccess).toBe(T0);
    vi.setSystemTime(T0 + 10_000);
    w1.error(500);
    expect(informer.lastSuccess).toBe(T0);

    fake.connects = [{ kind: 'http', status: 500, statusText: 'Internal Server Error' }];
    // One backoff sleep at a time: the next one must not run before the refusal is checked.
    await vi.advanceTimersToNextTimerAsync();
    await fake.watchNumber(2);
    await flush();
    expect(informer.lastSuccess).toBe(T0);

    await vi.advanceTimersToNextTimerAsync();
    const w3 = await fake.watchNumber(3);
    await flush();
    const accepted = Date.now();
    expect(accepted).toBeGreaterThan(T0 + 10_000);
    expect(informer.lastSuccess).toBe(accepted);

    vi.setSystemTime(accepted + 5_000);
    w3.event('BOOKMARK', { metadata: { resourceVersion: '12' } });
    expect(informer.lastSuccess).toBe(accepted + 5_000);
    expect(informer.restarts).toBe(2);
  });
});

describe('an event that cannot be applied, or a handler that throws', () => {
  it('is caught, logged with the informer name (not the object) and counted; the stream goes on', async () => {
    const w = await started();
    const malformed = { kind: 'Secret', data: { password: 'c2VjcmV0LXZhbHVl' } };
    expect(() => w.event('ADDED', malformed)).not.toThrow();
    expect(() => w.event('MODIFIED', null)).not.toThrow();
    expect(informer.handlerErrors).toBe(2);
    const errors = lines.filter((l) => l.level === 50);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ informer: informer.name, eventType: 'ADDED' });
    expect(JSON.stringify(lines)).not.toContain('c2VjcmV0LXZhbHVl');

    w.event('ADDED', secret('a', 'regcred', '11'));
    expect(informer.get('a', 'regcred')?.metadata.resourceVersion).toBe('11');
    expect(calls).toEqual([['11', undefined, false]]);
  });

  it('counts handler exceptions and still runs the other handlers', async () => {
    informer.on(() => {
      throw new Error('boom');
    });
    const after: string[] = [];
    informer.on((obj) => after.push(obj.metadata.name));
    const w = await started();
    w.event('ADDED', secret('a', 'regcred', '11'));
    expect(informer.handlerErrors).toBe(1);
    expect(after).toEqual(['regcred']);
    expect(lines.find((l) => l.msg === 'event handler failed')).toMatchObject({ informer: informer.name });
  });
});

describe('own writes', () => {
  it('an ADDED or MODIFIED event for the resourceVersion the cache holds wakes no handler', async () => {
    fake.items = [secret('a', 'listed', '5')];
    const w = await started();
    calls.length = 0;
    informer.observe(secret('a', 'regcred', '21'));
    w.event('ADDED', secret('a', 'regcred', '21'));
    w.event('MODIFIED', secret('a', 'listed', '5'));
    expect(calls).toEqual([]);
    w.event('MODIFIED', secret('a', 'regcred', '22'));
    expect(calls).toEqual([['22', '21', false]]);
    expect(informer.get('a', 'regcred')?.metadata.resourceVersion).toBe('22');
  });

  it('an event with an older resourceVersion than one we wrote still wakes handlers and keeps ours', async () => {
    const w = await started();
    informer.observe(secret('a', 'regcred', '30'));
    w.event('MODIFIED', secret('a', 'regcred', '25'));
    expect(calls).toEqual([['25', '30', false]]);
    expect(informer.get('a', 'regcred')?.metadata.resourceVersion).toBe('30');
  });

  it('a write whose watch event arrived before its response is not kept as pending', async () => {
    const w = await started();
    w.event('ADDED', secret('a', 'regcred', '40'));
    informer.observe(secret('a', 'regcred', '40'));
    expect(informer.pendingOwnWrites).toBe(0);
    informer.observe(secret('a', 'regcred', '41'));
    expect(informer.pendingOwnWrites).toBe(1);
    w.event('MODIFIED', secret('a', 'regcred', '41'));
    expect(informer.pendingOwnWrites).toBe(0);
  });

  it('a write whose watch event arrives before its answer wakes no handler', async () => {
    fake.items = [secret('a', 'regcred', '10')];
    const w = await started();
    calls.length = 0;
    const settled = informer.writing('a', 'regcred');
    w.event('MODIFIED', secret('a', 'regcred', '11'));
    // The cache moves on at once; only the handlers wait for the answer.
    expect(informer.get('a', 'regcred')?.metadata.resourceVersion).toBe('11');
    expect(calls).toEqual([]);
    informer.observe(secret('a', 'regcred', '11'));
    settled();
    expect(calls).toEqual([]);
    expect(informer.pendingOwnWrites).toBe(0);
    // Later changes of the object are news as before.
    w.event('MODIFIED', secret('a', 'regcred', '12'));
    expect(calls).toEqual([['12', '11', false]]);
  });

  it('someone else\'s change while our write is unanswered is handed on when the write settles, before or after ours', async () => {
    fake.items = [secret('a', 'regcred', '10'), secret('b', 'regcred', '10')];
    const w = await started();
    calls.length = 0;
    const settled = informer.writing('a', 'regcred');
    w.event('MODIFIED', secret('a', 'regcred', '11'));
    w.event('MODIFIED', secret('a', 'regcred', '12'));
    // Other objects are not held.
    w.event('MODIFIED', secret('b', 'regcred', '13'));
    expect(calls).toEqual([['13', '10', false]]);
    informer.observe(secret('a', 'regcred', '11'));
    settled();
    expect(calls).toEqual([['13', '10', false], ['12', '11', false]]);
  });

  it('a write that failed hands on every event held for it, and settling twice changes nothing', async () => {
    fake.items = [secret('a', 'regcred', '10')];
    const w = await started();
    calls.length = 0;
    const settled = informer.writing('a', 'regcred');
    w.event('MODIFIED', secret('a', 'regcred', '11'));
    expect(calls).toEqual([]);
    expect(informer.unsettledWrites).toBe(1);
    settled();
    expect(calls).toEqual([['11', '10', false]]);
    expect(informer.unsettledWrites).toBe(0);
    settled();
    expect(calls).toHaveLength(1);
    w.event('MODIFIED', secret('a', 'regcred', '12'));
    expect(calls).toEqual([['11', '10', false], ['12', '11', false]]);
  });

  it('holds events until the last of two writes to the same object settles', async () => {
    fake.items = [secret('a', 'regcred', '10')];
    const w = await started();
    calls.length = 0;
    const first = informer.writing('a', 'regcred');
    const second = informer.writing('a', 'regcred');
    w.event('MODIFIED', secret('a', 'regcred', '11'));
    first();
    expect(calls).toEqual([]);
    second();
    expect(calls).toEqual([['11', '10', false]]);
  });

  it('a DELETED event for a key forget() removed wakes no handler; one for a cached key does', async () => {
    fake.items = [secret('a', 'mine', '5'), secret('b', 'theirs', '6')];
    const w = await started();
    calls.length = 0;
    informer.forget('a', 'mine');
    w.event('DELETED', secret('a', 'mine', '7'));
    expect(calls).toEqual([]);
    w.event('DELETED', secret('b', 'theirs', '8'));
    expect(calls).toEqual([['8', '6', true]]);
    expect(informer.size).toBe(0);
  });

  it('a relist still emits only objects whose resourceVersion changed', async () => {
    fake.items = [secret('a', 'same', '5'), secret('a', 'changed', '6')];
    const w = await started();
    calls.length = 0;
    fake.items = [secret('a', 'same', '5'), secret('a', 'changed', '9')];
    w.error(410, 'too old resource version');
    await flush();
    expect(fake.lists).toHaveLength(2);
    expect(calls).toEqual([['9', '6', false]]);
  });
});

describe('public fields for metrics and health', () => {
  it('exposes name, lastSuccess, startedAt, restarts and handlerErrors', async () => {
    expect(informer.startedAt).toBeUndefined();
    await started();
    expect(informer).toMatchObject({ name: 'secrets', lastSuccess: T0, startedAt: T0, restarts: 0, handlerErrors: 0 });
  });
});

describe('with KubeClient and client-node against a server that refuses a watch with HTTP 410', () => {
  let server: Server | undefined;
  let real: Informer<Secret> | undefined;

  afterEach(async () => {
    real?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('relists and watches from the new resourceVersion', async () => {
    vi.useRealTimers();
    const requests: string[] = [];
    let lists = 0;
    let watches = 0;
    let secondWatch!: (resourceVersion: string | null) => void;
    const watchedAgain = new Promise<string | null>((resolve) => (secondWatch = resolve));
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      requests.push(url.searchParams.has('watch') ? 'watch' : 'list');
      if (!url.searchParams.has('watch')) {
        lists++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'SecretList', metadata: { resourceVersion: lists === 1 ? '10' : '20' }, items: [] }));
      } else if (++watches === 1) {
        res.writeHead(410, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }));
      } else {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        secondWatch(url.searchParams.get('resourceVersion'));
      }
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    real = new Informer<Secret>(new KubeClient(kc), RESOURCES.secrets, capturingLogger().log, { maxBackoffMs: 60_000 });
    real.start();
    // A retry after backoff would come back with resourceVersion 10; a relist watches from 20.
    expect(await watchedAgain).toBe('20');
    expect(requests).toEqual(['list', 'watch', 'list', 'watch']);
  });
});
