import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeError } from '../../src/kube/client.ts';
import { NamedSecrets } from '../../src/kube/named-secrets.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { FakeKube, track } from '../support/fake-watch.ts';

const secret = (namespace: string, name: string, resourceVersion: string): Secret => ({ metadata: { namespace, name, resourceVersion } });

/** Lets every promise chain in flight run to its next timer or I/O wait; setImmediate is not faked. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

let fake: FakeKube;
let changed: string[];
let named: NamedSecrets;

function create(options?: { syncTimeoutMs?: number }) {
  named = new NamedSecrets(fake.client, pino({ level: 'silent' }), (name) => changed.push(name), options);
  return named;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  fake = new FakeKube();
  changed = [];
});

afterEach(() => {
  named.stop();
  vi.useRealTimers();
});

const unavailable = (n: number) => Array.from({ length: n }, () => new KubeError(503, 'ServiceUnavailable', 'unavailable'));

describe('ensure', () => {
  it('rejects after syncTimeoutMs when the name cannot be listed', async () => {
    fake.listErrors = unavailable(100);
    const ensured = track(create({ syncTimeoutMs: 10_000 }).ensure('regcred'));
    await vi.advanceTimersByTimeAsync(9_999);
    expect(ensured.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(ensured.state).toBe('rejected');
    expect(String(ensured.error)).toContain('did not sync within 10000ms');
  });

  it('waits 120000 ms by default', async () => {
    fake.listErrors = unavailable(1_000);
    const ensured = track(create().ensure('regcred'));
    await vi.advanceTimersByTimeAsync(119_999);
    expect(ensured.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(ensured.state).toBe('rejected');
  });

  it('rejects, not hangs, when another caller retain()s the name away while it waits', async () => {
    fake.listErrors = unavailable(100);
    const ensured = track(create().ensure('regcred'));
    named.retain(new Set(['other']));
    await flush();
    expect(ensured.state).toBe('rejected');
    expect(String(ensured.error)).toContain('stopped before its cache synced');
    expect(named.all()).toEqual([]);
  });

  it('rejects when stop() comes while it waits', async () => {
    fake.listErrors = unavailable(100);
    const ensured = track(create().ensure('regcred'));
    named.stop();
    await flush();
    expect(ensured.state).toBe('rejected');
  });

  it('resolves once listed, shares one informer per name, and serves get()', async () => {
    fake.items = [secret('team-a', 'regcred', '5')];
    create();
    const [a, b] = await Promise.all([named.ensure('regcred'), named.ensure('regcred')]);
    expect(a).toBe(b);
    expect(fake.lists).toHaveLength(1);
    expect(fake.lists[0]).toMatchObject({ fieldSelector: 'metadata.name=regcred' });
    expect(named.get('team-a', 'regcred')?.metadata.resourceVersion).toBe('5');
    expect(named.all()).toEqual([a]);
  });
});

describe('observe and forget', () => {
  it('record our own writes and deletes so their watch events wake nobody', async () => {
    fake.items = [secret('team-a', 'regcred', '5'), secret('team-b', 'regcred', '6')];
    await create().ensure('regcred');
    const w = await fake.watchNumber(1);
    await flush();
    changed.length = 0;

    named.observe(secret('team-a', 'regcred', '7'));
    expect(named.get('team-a', 'regcred')?.metadata.resourceVersion).toBe('7');
    w.event('MODIFIED', secret('team-a', 'regcred', '7'));
    expect(changed).toEqual([]);

    named.forget('team-b', 'regcred');
    expect(named.get('team-b', 'regcred')).toBeUndefined();
    w.event('DELETED', secret('team-b', 'regcred', '8'));
    expect(changed).toEqual([]);

    w.event('MODIFIED', secret('team-a', 'regcred', '9'));
    expect(changed).toEqual(['regcred']);
  });

  it('do nothing for a name that is not watched', () => {
    create();
    expect(() => named.observe(secret('team-a', 'unwatched', '1'))).not.toThrow();
    expect(() => named.forget('team-a', 'unwatched')).not.toThrow();
    expect(named.get('team-a', 'unwatched')).toBeUndefined();
  });
});
