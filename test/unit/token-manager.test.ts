// The token manager with a fake provider and fake timers: one fetch per key however many
// credentials use it, one wake per finished fetch for each of them, refreshes on schedule, the last
// good token kept through failures until it expires, and keys nobody uses forgotten.
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenManager, type TokenUse } from '../../src/controller/tokens/manager.ts';
import { TokenFetchError, type FetchedToken, type TokenProvider, type TokenProviderName } from '../../src/controller/tokens/provider.ts';

interface FakeEntry {
  account: string;
}

const H = 3600_000;

/** A provider whose fetches the test answers one by one. */
class FakeProvider implements TokenProvider<FakeEntry> {
  readonly provider = 'ecr' as const;
  readonly fetches: Array<{ entry: FakeEntry; resolve: (t: FetchedToken) => void; reject: (e: unknown) => void }> = [];
  key = (e: FakeEntry) => e.account;
  servers = (e: FakeEntry) => [`${e.account}.registry.example`];
  secretNames = () => [];
  fetch(entry: FakeEntry): Promise<FetchedToken> {
    return new Promise((resolve, reject) => this.fetches.push({ entry, resolve, reject }));
  }
  /** Answers the oldest open fetch. */
  answer(password: string, lifetimeMs = 12 * H): void {
    this.fetches.shift()!.resolve({ username: 'AWS', password, expiresAt: new Date(Date.now() + lifetimeMs) });
  }
  fail(code: string): void {
    this.fetches.shift()!.reject(new TokenFetchError(code, `refused (${code})`));
  }
}

let provider: FakeProvider;
let woken: string[];
let manager: TokenManager;
const log = pino({ level: 'silent' });
const use = (account: string, version = 'v1'): TokenUse => ({ provider: 'ecr', entry: { account }, version });
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2025, 0, 1) });
  provider = new FakeProvider();
  woken = [];
  manager = new TokenManager({
    log,
    providers: (name: TokenProviderName) => (name === 'ecr' ? (provider as TokenProvider<unknown>) : undefined),
    wake: (c) => woken.push(c),
    secretKey: () => '',
    serviceAccountToken: async () => '',
    random: () => 0.5,
  });
});

afterEach(() => {
  manager.stop();
  vi.useRealTimers();
});

describe('TokenManager', () => {
  it('fetches a key once for every credential that uses it, and wakes each of them once when the token is there', async () => {
    manager.observe('a', [use('111')]);
    manager.observe('b', [use('111')]);
    manager.observe('a', [use('111')]);
    expect(provider.fetches).toHaveLength(1);
    expect(manager.current('ecr', { account: '111' })).toEqual({ state: 'pending' });

    provider.answer('tok-1');
    await settle();
    expect(woken.sort()).toEqual(['a', 'b']);
    for (const c of ['a', 'b']) {
      manager.observe(c, [use('111')]);
      const state = manager.current('ecr', { account: '111' });
      expect(state.state).toBe('ready');
      expect(state.state === 'ready' && state.token.password).toBe('tok-1');
    }
    expect(provider.fetches).toHaveLength(0);
    expect(manager.size).toBe(1);
  });

  it('keeps distinct keys apart', async () => {
    manager.observe('a', [use('111'), use('222')]);
    expect(provider.fetches.map((f) => f.entry.account)).toEqual(['111', '222']);
    provider.answer('tok-111');
    await settle();
    expect(woken).toEqual(['a']);
    expect(manager.current('ecr', { account: '222' })).toEqual({ state: 'pending' });
  });

  it('refreshes at a jittered point past half the lifetime (62.5 % with random 0.5), once, and wakes the users', async () => {
    manager.observe('a', [use('111')]);
    provider.answer('tok-1');
    await settle();
    woken = [];
    await vi.advanceTimersByTimeAsync(7.5 * H - 1000);
    expect(provider.fetches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(provider.fetches).toHaveLength(1);
    // The old token serves until the new one is there.
    const during = manager.current('ecr', { account: '111' });
    expect(during.state === 'ready' && during.token.password).toBe('tok-1');
    provider.answer('tok-2');
    await settle();
    expect(woken).toEqual(['a']);
    const after = manager.current('ecr', { account: '111' });
    expect(after.state === 'ready' && after.token.password).toBe('tok-2');
  });

  it('keeps the last good token through failures, with the failure, until it expires; then reports the failure', async () => {
    manager.observe('a', [use('111')]);
    provider.answer('tok-1', H);
    await settle();
    await vi.advanceTimersByTimeAsync(0.625 * H);
    provider.fail('AccessDeniedException');
    await settle();
    let state = manager.current('ecr', { account: '111' });
    expect(state.state).toBe('ready');
    expect(state.state === 'ready' && state.token.password).toBe('tok-1');
    expect(state.state === 'ready' && state.failure?.code).toBe('AccessDeniedException');

    // Retries back off: 5 s, then 10 s (random 0.5: no jitter), each a wake.
    woken = [];
    await vi.advanceTimersByTimeAsync(5000);
    expect(provider.fetches).toHaveLength(1);
    provider.fail('AccessDeniedException');
    await settle();
    await vi.advanceTimersByTimeAsync(9999);
    expect(provider.fetches).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(provider.fetches).toHaveLength(1);
    provider.fail('ThrottlingException');
    await settle();
    expect(woken).toEqual(['a', 'a']);
    state = manager.current('ecr', { account: '111' });
    expect(state.state === 'ready' && state.failure).toMatchObject({ code: 'ThrottlingException' });

    const streakStart = state.state === 'ready' ? state.failure?.since : undefined;
    // Past the token's expiry (retries meanwhile never answer and time out): the failure alone.
    await vi.advanceTimersByTimeAsync(0.4 * H);
    state = manager.current('ecr', { account: '111' });
    expect(state.state).toBe('failed');
    expect(state.state === 'failed' && state.failure.since).toEqual(streakStart);
  });

  it('recovers: a success after failures clears the failure', async () => {
    manager.observe('a', [use('111')]);
    provider.fail('ECONNREFUSED');
    await settle();
    expect(manager.current('ecr', { account: '111' })).toMatchObject({ state: 'failed', failure: { code: 'ECONNREFUSED' } });
    await vi.advanceTimersByTimeAsync(5000);
    provider.answer('tok-1');
    await settle();
    const state = manager.current('ecr', { account: '111' });
    expect(state.state === 'ready' && state.failure).toBeUndefined();
  });

  it('does not fetch on every observe while failing (the wake it causes would loop), but does when the Secret changed', async () => {
    manager.observe('a', [use('111')]);
    provider.fail('InvalidClientTokenId');
    await settle();
    manager.observe('a', [use('111')]);
    manager.observe('a', [use('111')]);
    expect(provider.fetches).toHaveLength(0);
    manager.observe('a', [use('111', 'v2')]);
    expect(provider.fetches).toHaveLength(1);
  });

  it('fetches again after the one in flight when the Secret changes meanwhile', async () => {
    manager.observe('a', [use('111', 'v1')]);
    manager.observe('a', [use('111', 'v2')]);
    expect(provider.fetches).toHaveLength(1);
    provider.answer('old-keys');
    await settle();
    expect(provider.fetches).toHaveLength(1);
    provider.answer('new-keys');
    await settle();
    const state = manager.current('ecr', { account: '111' });
    expect(state.state === 'ready' && state.token.password).toBe('new-keys');
  });

  it('forgets a key nobody uses: no refresh timer, no token, and a new user fetches afresh', async () => {
    manager.observe('a', [use('111')]);
    manager.observe('b', [use('111')]);
    provider.answer('tok-1');
    await settle();
    manager.observe('a', []);
    expect(manager.size).toBe(1);
    manager.forget('b');
    expect(manager.size).toBe(0);
    await vi.advanceTimersByTimeAsync(24 * H);
    expect(provider.fetches).toHaveLength(0);
    expect(manager.current('ecr', { account: '111' })).toEqual({ state: 'pending' });
    manager.observe('c', [use('111')]);
    expect(provider.fetches).toHaveLength(1);
  });

  it('drops the answer of a fetch for a key forgotten meanwhile', async () => {
    manager.observe('a', [use('111')]);
    manager.forget('a');
    provider.answer('late');
    await settle();
    expect(woken).toEqual([]);
    expect(manager.size).toBe(0);
  });

  it('treats a token that arrives expired as a failure (clock skew), retried with backoff', async () => {
    manager.observe('a', [use('111')]);
    provider.answer('stale', -H);
    await settle();
    expect(manager.current('ecr', { account: '111' })).toMatchObject({ state: 'failed', failure: { code: 'TokenExpired' } });
    await vi.advanceTimersByTimeAsync(5000);
    expect(provider.fetches).toHaveLength(1);
  });

  it('reports a kind without a provider as unavailable and fetches nothing', () => {
    manager.observe('a', [{ provider: 'acr', entry: { server: 'x.azurecr.io' }, version: '' }]);
    expect(manager.current('acr', { server: 'x.azurecr.io' })).toEqual({ state: 'unavailable' });
    expect(manager.size).toBe(0);
  });

  it('times out a fetch that never answers', async () => {
    manager = new TokenManager({
      log,
      providers: () => provider as TokenProvider<unknown>,
      wake: (c) => woken.push(c),
      secretKey: () => '',
      serviceAccountToken: async () => '',
      fetchTimeoutMs: 1000,
      random: () => 0.5,
    });
    manager.observe('a', [use('111')]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(manager.current('ecr', { account: '111' })).toMatchObject({ state: 'failed', failure: { code: 'Timeout' } });
    expect(woken).toEqual(['a']);
  });
});
