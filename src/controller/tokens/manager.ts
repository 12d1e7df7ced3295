// Holds one cloud token per distinct provider key, shared by every RegistryCredential (and so every
// namespace) that uses it, in memory only. Reconciles stay synchronous: they tell the manager which
// keys a credential uses (observe) and read the current token (current); a missing token starts one
// fetch, and every finished fetch wakes the credentials that use the key. Tokens are refreshed at a
// jittered point past half their lifetime; a failing fetch keeps the last good token until it
// expires and retries with bounded backoff. A key nobody uses any more is forgotten.
import type { Logger } from 'pino';
import type { TokenProviderName } from './provider.ts';
import { TokenFetchError, type FetchedToken, type TokenContext, type TokenProvider } from './provider.ts';
import type { TokenMetricsSink } from './metrics.ts';
import type { ProviderLookup } from './providers/index.ts';
import { DEFAULT_SCHEDULE, nextRefreshAt, type ScheduleOptions } from './schedule.ts';

export interface TokenFailure {
  code: string;
  message: string;
  /** When the failure streak began. */
  since: Date;
}

export type TokenState =
  | { state: 'ready'; token: FetchedToken; fetchedAt: Date; failure?: TokenFailure }
  | { state: 'pending' }
  | { state: 'failed'; failure: TokenFailure }
  | { state: 'unavailable' };

/** What a reconcile reads: the current token of an entry, never waiting. */
export interface TokenLookup {
  current(provider: TokenProviderName, entry: unknown): TokenState;
}

/** A token entry a credential uses; `version` changes when a Secret the fetch reads changes. */
export interface TokenUse {
  provider: TokenProviderName;
  entry: unknown;
  version: string;
}

export interface TokenManagerOptions {
  log: Logger;
  providers: ProviderLookup;
  /** Asks for a reconcile of the credential (the operator's queue). */
  wake(credential: string): void;
  /** Reads a key of a source Secret of the credentials namespace; throws TokenFetchError. */
  secretKey(name: string, key: string): string;
  /** A short-lived ServiceAccount token of the credentials namespace (TokenRequest); throws TokenFetchError. */
  serviceAccountToken(name: string, audience: string, signal: AbortSignal): Promise<string>;
  schedule?: Partial<ScheduleOptions>;
  metrics?: TokenMetricsSink;
  fetchTimeoutMs?: number;
  now?: () => number;
  random?: () => number;
}

interface Slot {
  key: string;
  provider: TokenProvider<unknown>;
  /** The entry the next fetch uses: the latest one a user reported for this key. */
  entry: unknown;
  users: Set<string>;
  token?: FetchedToken;
  fetchedAt?: number;
  failure?: TokenFailure;
  failures: number;
  inFlight?: AbortController;
  timer?: NodeJS.Timeout;
  /** The inputs (Secret contents) users last reported, and those of the last fetch started. */
  version: string;
  fetchedVersion?: string;
}

export class TokenManager implements TokenLookup {
  private readonly options: TokenManagerOptions;
  private readonly schedule: ScheduleOptions;
  private readonly slots = new Map<string, Slot>();
  private readonly keysOf = new Map<string, Set<string>>();
  private readonly now: () => number;
  private readonly random: () => number;
  private stopped = false;

  constructor(options: TokenManagerOptions) {
    this.options = options;
    this.schedule = { ...DEFAULT_SCHEDULE, ...options.schedule };
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /**
   * The token entries the credential uses now (replacing what it used before): a key not known yet
   * starts a fetch, as does a key whose Secrets changed; keys nobody uses any more are forgotten.
   */
  observe(credential: string, uses: TokenUse[]): void {
    const keys = new Set<string>();
    for (const use of uses) {
      const provider = this.options.providers(use.provider);
      if (!provider) continue;
      const key = slotKey(provider, use.entry);
      keys.add(key);
      let slot = this.slots.get(key);
      if (!slot) {
        slot = { key, provider, entry: use.entry, users: new Set(), failures: 0, version: use.version };
        this.slots.set(key, slot);
      }
      slot.users.add(credential);
      slot.entry = use.entry;
      slot.version = use.version;
      if (!slot.inFlight && slot.fetchedVersion !== slot.version) this.fetch(slot);
    }
    for (const key of this.keysOf.get(credential) ?? []) if (!keys.has(key)) this.release(credential, key);
    if (keys.size) this.keysOf.set(credential, keys);
    else this.keysOf.delete(credential);
  }

  /** The credential is gone or uses no token any more. */
  forget(credential: string): void {
    this.observe(credential, []);
  }

  current(providerName: TokenProviderName, entry: unknown): TokenState {
    const provider = this.options.providers(providerName);
    if (!provider) return { state: 'unavailable' };
    const slot = this.slots.get(slotKey(provider, entry));
    if (!slot) return { state: 'pending' };
    if (slot.token && slot.token.expiresAt.getTime() > this.now()) {
      return { state: 'ready', token: slot.token, fetchedAt: new Date(slot.fetchedAt!), ...(slot.failure ? { failure: slot.failure } : {}) };
    }
    return slot.failure ? { state: 'failed', failure: slot.failure } : { state: 'pending' };
  }

  /** Distinct keys held: one fetch each per refresh, however many credentials and namespaces use them. */
  get size(): number {
    return this.slots.size;
  }

  stop(): void {
    this.stopped = true;
    for (const slot of this.slots.values()) this.drop(slot);
    this.slots.clear();
    this.keysOf.clear();
  }

  private release(credential: string, key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    slot.users.delete(credential);
    if (slot.users.size > 0) return;
    this.drop(slot);
    this.slots.delete(key);
    this.options.log.debug({ provider: slot.provider.provider, source: key }, 'token no longer used; forgotten');
  }

  private drop(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.inFlight?.abort();
    this.options.metrics?.forget(slot.provider.provider, slot.key);
  }

  private fetch(slot: Slot): void {
    if (this.stopped) return;
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const controller = new AbortController();
    slot.inFlight = controller;
    slot.fetchedVersion = slot.version;
    const started = this.now();
    void this.run(slot, controller).then((result) => {
      // Forgotten meanwhile: nobody is waiting for this answer.
      if (this.stopped || this.slots.get(slot.key) !== slot || slot.inFlight !== controller) return;
      slot.inFlight = undefined;
      this.record(slot, result, started);
      if (slot.fetchedVersion !== slot.version) this.fetch(slot);
      else this.plan(slot);
      for (const credential of slot.users) this.options.wake(credential);
    });
  }

  private async run(slot: Slot, controller: AbortController): Promise<{ ok: true; token: FetchedToken } | { ok: false; error: TokenFetchError }> {
    const timeoutMs = this.options.fetchTimeoutMs ?? 30_000;
    const timer = setTimeout(() => controller.abort(new TokenFetchError('Timeout', `no answer within ${timeoutMs / 1000}s`)), timeoutMs);
    const ctx: TokenContext = {
      secretKey: (name, key) => this.options.secretKey(name, key),
      serviceAccountToken: (name, audience) => this.options.serviceAccountToken(name, audience, controller.signal),
      signal: controller.signal,
    };
    // A provider that ignores the signal must not hold the slot: the abort ends the wait.
    const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }));
    try {
      const token = await Promise.race([slot.provider.fetch(slot.entry, ctx), aborted]);
      return { ok: true, token };
    } catch (err) {
      const reason: unknown = controller.signal.reason;
      return { ok: false, error: err instanceof TokenFetchError ? err : reason instanceof TokenFetchError ? reason : unexpected(err) };
    } finally {
      clearTimeout(timer);
    }
  }

  private record(slot: Slot, result: { ok: true; token: FetchedToken } | { ok: false; error: TokenFetchError }, started: number): void {
    const log = this.options.log;
    const where = { provider: slot.provider.provider, source: slot.key };
    const now = this.now();
    // A token the cloud says expired already: the clocks disagree by more than its lifetime.
    const error = result.ok
      ? result.token.expiresAt.getTime() <= now ? new TokenFetchError('TokenExpired', 'the cloud issued a token that had already expired (are the clocks in step?)') : undefined
      : result.error;
    if (!error && result.ok) {
      const recovered = slot.failures > 0;
      slot.token = result.token;
      slot.fetchedAt = started;
      slot.failures = 0;
      slot.failure = undefined;
      this.options.metrics?.fetched(slot.provider.provider, slot.key, 'success', result.token.expiresAt);
      log.info({ ...where, expiresAt: result.token.expiresAt.toISOString(), users: slot.users.size, ...(recovered ? { recovered } : {}) }, 'token fetched');
      return;
    }
    slot.failures++;
    slot.failure = { code: error!.code, message: error!.message, since: slot.failure?.since ?? new Date(now) };
    this.options.metrics?.fetched(slot.provider.provider, slot.key, 'failure');
    // One warning per streak; the retries of a streak are debug noise.
    const entry = { ...where, code: error!.code, error: error!.message, failures: slot.failures, lastGoodToken: !!slot.token };
    if (slot.failures === 1) log.warn(entry, 'token fetch failed; retrying with backoff');
    else log.debug(entry, 'token fetch failed again');
  }

  private plan(slot: Slot): void {
    const now = this.now();
    const at = nextRefreshAt({
      fetchedAt: slot.fetchedAt,
      expiresAt: slot.token?.expiresAt.getTime(),
      now,
      random: this.random(),
      failures: slot.failures,
    }, this.schedule);
    slot.timer = setTimeout(() => this.fetch(slot), at - now);
    slot.timer.unref?.();
  }
}

function slotKey(provider: TokenProvider<unknown>, entry: unknown): string {
  return `${provider.provider}:${provider.key(entry)}`;
}

/** An error that is no TokenFetchError: its name only, since its message may quote a response. */
function unexpected(err: unknown): TokenFetchError {
  const name = err instanceof Error && /^[A-Za-z0-9_]{1,64}$/.test(err.name) ? err.name : 'Error';
  return new TokenFetchError(name, `the token fetch failed unexpectedly (${name})`);
}
