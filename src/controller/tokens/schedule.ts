// When to fetch a cloud token again: pure, so every case (lifetimes, jitter, failure streaks, clock
// skew, tokens that arrive expired) is a row of a table test.

export interface ScheduleOptions {
  /** A refresh lands at a random point in [start, end] of the lifetime (fractions of it). */
  jitterStart: number;
  jitterEnd: number;
  /** Refreshed at least this long before expiry (or a tenth of the lifetime, when shorter). */
  marginMs: number;
  /** Never sooner than this from now: no busy loop whatever the clocks say. */
  minDelayMs: number;
  /** The first retry after a failure; doubled per failure in a row, up to retryMaxMs. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** The lifetime trusted at most (--token-max-lifetime); undefined: the token's own. */
  maxLifetimeMs?: number | undefined;
}

export const DEFAULT_SCHEDULE: ScheduleOptions = {
  jitterStart: 0.5,
  jitterEnd: 0.75,
  marginMs: 5 * 60_000,
  minDelayMs: 1000,
  retryBaseMs: 5000,
  retryMaxMs: 5 * 60_000,
};

export interface ScheduleInput {
  /** When the token in use was fetched (our clock); undefined: there is none. */
  fetchedAt?: number | undefined;
  /** When it expires (the cloud's clock). */
  expiresAt?: number | undefined;
  now: number;
  /** A uniform random number in [0, 1). */
  random: number;
  /** Fetches failed in a row since the last success; 0 right after a success. */
  failures: number;
}

/** The expiry the scheduler works with: the token's own, capped by the trusted lifetime. */
export function effectiveExpiry(fetchedAt: number, expiresAt: number, options: Pick<ScheduleOptions, 'maxLifetimeMs'> = DEFAULT_SCHEDULE): number {
  return options.maxLifetimeMs === undefined ? expiresAt : Math.min(expiresAt, fetchedAt + options.maxLifetimeMs);
}

/** How long before expiry a token is refreshed at the latest. */
export function refreshMargin(lifetimeMs: number, options: ScheduleOptions = DEFAULT_SCHEDULE): number {
  return Math.min(options.marginMs, lifetimeMs / 10);
}

/** The backoff after `failures` failures in a row, jittered by ±20 % and bounded by retryMaxMs. */
export function retryDelay(failures: number, random: number, options: ScheduleOptions = DEFAULT_SCHEDULE): number {
  const base = Math.min(options.retryMaxMs, options.retryBaseMs * 2 ** Math.max(0, Math.min(failures - 1, 30)));
  return Math.min(options.retryMaxMs, Math.max(options.minDelayMs, Math.round(base * (0.8 + 0.4 * random))));
}

/** When to fetch again (ms since the epoch), never before now + minDelayMs. */
export function nextRefreshAt(input: ScheduleInput, options: ScheduleOptions = DEFAULT_SCHEDULE): number {
  const earliest = input.now + options.minDelayMs;
  const { fetchedAt, expiresAt } = input;
  const hasToken = fetchedAt !== undefined && expiresAt !== undefined;
  const expiry = hasToken ? effectiveExpiry(fetchedAt, expiresAt, options) : undefined;
  const lifetime = hasToken ? expiry! - fetchedAt : 0;
  // No token, or one the cloud says expired when it was issued (the clocks disagree by more than its
  // lifetime): nothing to plan a lifetime around, so retry as after a failure.
  if (!hasToken || lifetime <= 0) return Math.max(earliest, input.now + retryDelay(Math.max(1, input.failures), input.random, options));
  const latest = expiry! - refreshMargin(lifetime, options);
  if (input.failures === 0) {
    const fraction = options.jitterStart + (options.jitterEnd - options.jitterStart) * input.random;
    return Math.max(earliest, Math.min(fetchedAt + lifetime * fraction, latest));
  }
  // Failing with a token still in use: back off, but try once more before the margin runs out.
  const retry = input.now + retryDelay(input.failures, input.random, options);
  return Math.max(earliest, latest > earliest ? Math.min(retry, latest) : retry);
}
