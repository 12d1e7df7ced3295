// Leader election against an in-memory Lease that behaves like the API server's: every write is
// conditional on resourceVersion (409 otherwise), and responses can be held back to model a slow
// or hanging connection. Timers are faked, so every deadline below is exact.
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KubeError, type KubeClient } from '../../src/kube/client.ts';
import { LeaderElector, type LeaseOptions } from '../../src/kube/leader.ts';

type Method = 'GET' | 'POST' | 'PUT';

interface Spec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Spec;
}

interface Write {
  method: Method;
  holder: string | undefined;
  at: number;
}

class FakeLeaseServer {
  lease: StoredLease | undefined;
  /** Every request fails as if the API server were unreachable. */
  down = false;
  readonly writes: Write[] = [];
  private version = 0;
  private readonly before: Array<{ method: Method; run: () => void }> = [];
  private readonly delays: Array<{ method: Method; until: number | Promise<void> }> = [];

  readonly client = {
    path: (_res: unknown, namespace?: string, name?: string) => `/leases/${namespace ?? ''}/${name ?? ''}`,
    request: (method: Method, _path: string, opts: { body?: unknown } = {}) => this.handle(method, opts.body as StoredLease | undefined),
  } as unknown as KubeClient;

  holder(): string | undefined {
    return this.lease?.spec.holderIdentity;
  }

  /** Another replica (or a person) writes the Lease. */
  setSpec(spec: Spec): void {
    if (!this.lease) this.lease = { metadata: { name: 'regcred', namespace: 'ns', resourceVersion: '' }, spec: {} };
    this.lease = { metadata: { ...this.lease.metadata, resourceVersion: this.nextVersion() }, spec: { ...this.lease.spec, ...spec } };
  }

  /** Runs `run` just before the next `method` request is handled. */
  beforeNext(method: Method, run: () => void): void {
    this.before.push({ method, run });
  }

  /** The next `method` request takes effect on the server at once, but its response arrives only after `until` (ms or a promise). */
  delayNext(method: Method, until: number | Promise<void>): void {
    this.delays.push({ method, until });
  }

  private async handle(method: Method, body: StoredLease | undefined): Promise<unknown> {
    const hook = takeFirst(this.before, method);
    hook?.run();
    if (this.down) throw new Error('connect ECONNREFUSED');
    const result = this.apply(method, body);
    const delay = takeFirst(this.delays, method);
    if (delay) await (typeof delay.until === 'number' ? new Promise<void>((r) => setTimeout(r, delay.until as number)) : delay.until);
    if (result instanceof Error) throw result;
    return structuredClone(result);
  }

  private apply(method: Method, body: StoredLease | undefined): StoredLease | Error {
    if (method === 'GET') return this.lease ?? new KubeError(404, 'NotFound', 'leases "regcred" not found');
    if (!body) return new KubeError(400, 'BadRequest', 'no body');
    if (method === 'POST') {
      if (this.lease) return new KubeError(409, 'AlreadyExists', 'leases "regcred" already exists');
    } else {
      if (!this.lease) return new KubeError(404, 'NotFound', 'leases "regcred" not found');
      if (body.metadata.resourceVersion !== this.lease.metadata.resourceVersion) {
        return new KubeError(409, 'Conflict', 'the object has been modified');
      }
    }
    this.lease = { metadata: { name: body.metadata.name, namespace: body.metadata.namespace, resourceVersion: this.nextVersion() }, spec: { ...body.spec } };
    this.writes.push({ method, holder: body.spec.holderIdentity, at: Date.now() });
    return this.lease;
  }

  private nextVersion(): string {
    return String(++this.version);
  }
}

function takeFirst<T extends { method: Method }>(list: T[], method: Method): T | undefined {
  const i = list.findIndex((e) => e.method === method);
  return i < 0 ? undefined : list.splice(i, 1)[0];
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const OPTIONS: LeaseOptions = {
  namespace: 'ns',
  name: 'regcred',
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  identity: 'me',
};

const electors: LeaderElector[] = [];

function setup(): { server: FakeLeaseServer; elector: LeaderElector } {
  const server = new FakeLeaseServer();
  const elector = new LeaderElector(server.client, pino({ level: 'silent' }), OPTIONS);
  electors.push(elector);
  return { server, elector };
}

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  // acquire() jitters its retry period; without jitter every retry lands on a known tick.
  vi.spyOn(Math, 'random').mockReturnValue(0);
});

afterEach(async () => {
  // Stops every renew loop and watchdog so no timer outlives its test.
  await Promise.all(electors.splice(0).map((e) => e.release()));
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('LeaderElector', () => {
  it('creates a missing Lease, renews it every retry period and releases it', async () => {
    const { server, elector } = setup();
    expect(await elector.acquire(() => false)).toBe(true);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseDurationSeconds: 15, leaseTransitions: 0 });

    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(onLost).not.toHaveBeenCalled();
    const renewals = server.writes.filter((w) => w.method === 'PUT');
    expect(renewals.map((w) => w.at)).toEqual([2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 14_000, 16_000, 18_000, 20_000, 22_000, 24_000, 26_000, 28_000, 30_000]);
    expect(renewals.every((w) => w.holder === 'me')).toBe(true);
    expect(server.lease?.spec.renewTime).toBe('1970-01-01T00:00:30.000000Z');

    await elector.release();
    expect(server.lease?.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    const writes = server.writes.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(server.writes.length).toBe(writes);
    expect(onLost).not.toHaveBeenCalled();
  });

  it('takes a released Lease at once and a held one only after it has not changed for leaseDuration', async () => {
    const { server, elector } = setup();
    server.setSpec({ holderIdentity: '', leaseDurationSeconds: 1, leaseTransitions: 3 });
    expect(await elector.acquire(() => false)).toBe(true);
    expect(server.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 4 });

    const other = setup();
    other.server.setSpec({ holderIdentity: 'old-leader', leaseDurationSeconds: 15, leaseTransitions: 1 });
    let acquired = false;
    const acquiring = other.elector.acquire(() => false).then((v) => (acquired = v));
    await vi.advanceTimersByTimeAsync(14_000);
    expect(acquired).toBe(false);
    expect(other.server.holder()).toBe('old-leader');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await acquiring).toBe(true);
    expect(other.server.lease?.spec).toMatchObject({ holderIdentity: 'me', leaseTransitions: 2 });
  });

  it('steps down when the renew deadline passes with no successful renewal', async () => {
    const { server, elector } = setup();
    await elector.acquire(() => false);
    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    server.down = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(onLost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(onLost).toHaveBeenCalledTimes(1);
  });

  it('counts the renew deadline from when a renewal was sent, not when its slow response came back', async () => {
    const { server, elector } = setup();
    await elector.acquire(() => false);
    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    // The renewal sent at 2 s is written by the server at 2 s but answered at 9 s; other replicas
    // count its expiry from 2 s, so our deadline must too: 2 s + 10 s, not 9 s + 10 s.
    server.delayNext('PUT', 7_000);
    await vi.advanceTimersByTimeAsync(2_000);
    server.down = true;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(onLost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(onLost).toHaveBeenCalledTimes(1);
  });

  it('steps down at once when a renewal reads another holder, and does not overwrite it', async () => {
    const { server, elector } = setup();
    await elector.acquire(() => false);
    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    await vi.advanceTimersByTimeAsync(1_000);
    server.setSpec({ holderIdentity: 'other', renewTime: '1970-01-01T00:00:01.000000Z' });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(onLost).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(server.holder()).toBe('other');
    expect(server.writes.filter((w) => w.at >= 1_000)).toEqual([]);
  });

  it('steps down at once when a renewal gets 409 and the re-read shows another holder', async () => {
    const { server, elector } = setup();
    await elector.acquire(() => false);
    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    server.beforeNext('PUT', () => server.setSpec({ holderIdentity: 'other' }));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(onLost).toHaveBeenCalledTimes(1);
    expect(server.holder()).toBe('other');
  });

  it('keeps leading after a 409 whose re-read still shows itself as holder', async () => {
    const { server, elector } = setup();
    await elector.acquire(() => false);
    const onLost = vi.fn();
    elector.keepRenewing(onLost);
    server.beforeNext('PUT', () => server.setSpec({ holderIdentity: 'me' }));
    await vi.advanceTimersByTimeAsync(2_000);
    expect(onLost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(20_000);
    expect(onLost).not.toHaveBeenCalled();
    expect(server.writes.at(-1)).toEqual({ method: 'PUT', holder: 'me', at: 22_000 });
  });

  it('releases a lease whose acquire request succeeds after cancellation', async () => {
    const { server, elector } = setup();
    const response = deferred();
    server.delayNext('POST', response.promise);
    let stopping = false;
    const acquiring = elector.acquire(() => stopping);
    await vi.advanceTimersByTimeAsync(0);
    expect(server.holder()).toBe('me');
    stopping = true;
    response.resolve();
    expect(await acquiring).toBe(false);
    expect(server.holder()).toBe('');
  });

  it('leaves no lease held when release() is called while an acquire request is in flight', async () => {
    const { server, elector } = setup();
    server.setSpec({ holderIdentity: '', leaseTransitions: 0 });
    const response = deferred();
    server.delayNext('PUT', response.promise);
    // release() alone must suffice, whatever the caller's stop flag says.
    const acquiring = elector.acquire(() => false);
    await vi.advanceTimersByTimeAsync(0);
    expect(server.holder()).toBe('me');
    let released = false;
    const releasing = elector.release().then(() => (released = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(released).toBe(false);
    response.resolve();
    await releasing;
    expect(server.holder()).toBe('');
    expect(await acquiring).toBe(false);
  });

  it('release() stops a waiting acquire without waiting out its retry period', async () => {
    const { server, elector } = setup();
    server.setSpec({ holderIdentity: 'other', leaseDurationSeconds: 15 });
    let acquired: boolean | undefined;
    void elector.acquire(() => false).then((v) => (acquired = v));
    await vi.advanceTimersByTimeAsync(0);
    await elector.release();
    await Promise.resolve();
    expect(acquired).toBe(false);
    expect(server.holder()).toBe('other');
    expect(vi.getTimerCount()).toBe(0);
  });
});
