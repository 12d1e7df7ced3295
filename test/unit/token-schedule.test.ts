// When a cloud token is fetched again: a table over lifetimes, jitter, failure streaks, clock skew
// and tokens that arrive expired.
import { describe, expect, it } from 'vitest';
import { DEFAULT_SCHEDULE, nextRefreshAt, retryDelay, type ScheduleInput } from '../../src/controller/tokens/schedule.ts';

const H = 3600_000;
const M = 60_000;
const S = 1000;
const T0 = Date.UTC(2025, 0, 1);

interface Row {
  name: string;
  input: ScheduleInput;
  options?: Partial<typeof DEFAULT_SCHEDULE>;
  /** Milliseconds from `now`. */
  want: number;
}

const fresh = (lifetime: number, random: number, extra: Partial<ScheduleInput> = {}): ScheduleInput => ({ fetchedAt: T0, expiresAt: T0 + lifetime, now: T0, random, failures: 0, ...extra });

const rows: Row[] = [
  // ECR, 12 h: between half and three quarters of the lifetime.
  { name: '12 h token, lowest jitter: half its lifetime', input: fresh(12 * H, 0), want: 6 * H },
  { name: '12 h token, highest jitter: three quarters', input: fresh(12 * H, 1), want: 9 * H },
  { name: '12 h token, middle jitter', input: fresh(12 * H, 0.5), want: 7.5 * H },
  // Artifact Registry, 1 h.
  { name: '1 h token, highest jitter', input: fresh(H, 1), want: 45 * M },
  // A 40 s token: the margin is a tenth of it (4 s), the jitter end 30 s stays before it.
  { name: '40 s token, highest jitter', input: fresh(40 * S, 1), want: 30 * S },
  // Three quarters of a 10-minute token is 7.5 min, margin min(5 min, 1 min) → latest 9 min: jitter wins.
  { name: '10 min token: jitter before the margin', input: fresh(10 * M, 1), want: 7.5 * M },
  // The margin caps the jitter when jitterEnd is late.
  { name: 'late jitter end capped by the margin', input: fresh(H, 1), options: { jitterEnd: 0.99 }, want: H - 5 * M },
  // --token-max-lifetime caps the lifetime trusted.
  { name: '12 h token, 40 s trusted', input: fresh(12 * H, 1), options: { maxLifetimeMs: 40 * S }, want: 30 * S },
  { name: '20 s token, 40 s trusted: its own lifetime wins', input: fresh(20 * S, 0), options: { maxLifetimeMs: 40 * S }, want: 10 * S },
  // Clock skew: planned from when it was fetched; a point already past is now + the minimum delay.
  { name: 'fetched long ago (the process slept): never in the past', input: fresh(12 * H, 0, { now: T0 + 10 * H }), want: 1 * S },
  { name: 'the cloud clock is behind: expiry near, still before it', input: fresh(2 * M, 1), want: 1.5 * M },
  // Expired on arrival (the cloud's clock and ours disagree by more than its lifetime): a retry.
  { name: 'expired on arrival: retried like a first failure', input: { fetchedAt: T0, expiresAt: T0 - H, now: T0, random: 0.5, failures: 0 }, want: 5 * S },
  { name: 'no token yet, first failure', input: { now: T0, random: 0.5, failures: 1 }, want: 5 * S },
  { name: 'no token yet, third failure', input: { now: T0, random: 0.5, failures: 3 }, want: 20 * S },
  { name: 'no token yet, long streak: capped at 5 min', input: { now: T0, random: 1, failures: 40 }, want: 5 * M },
  { name: 'no token yet, jitter lowest', input: { now: T0, random: 0, failures: 2 }, want: 8 * S },
  // Failing with a good token: backoff, but one more try before the margin runs out.
  { name: 'failing, token valid for hours: plain backoff', input: fresh(12 * H, 0.5, { now: T0 + 7 * H, failures: 2 }), want: 10 * S },
  { name: 'failing, 1 min before the margin: retried before it', input: fresh(12 * H, 1, { now: T0 + 12 * H - 5 * M - 30 * S, failures: 20 }), want: 30 * S },
  { name: 'failing, past the margin: backoff, not a busy loop', input: fresh(12 * H, 0.5, { now: T0 + 12 * H - M, failures: 3 }), want: 20 * S },
  { name: 'failing, token expired: backoff', input: fresh(H, 0.5, { now: T0 + 2 * H, failures: 4 }), want: 40 * S },
];

describe('nextRefreshAt', () => {
  it.each(rows)('$name', ({ input, options, want }) => {
    expect(nextRefreshAt(input, { ...DEFAULT_SCHEDULE, ...options }) - input.now).toBe(want);
  });

  it('never schedules before now + the minimum delay, whatever the input', () => {
    for (const failures of [0, 1, 5, 50]) {
      for (const skew of [-24 * H, -H, 0, H, 24 * H]) {
        for (const random of [0, 0.3, 0.999]) {
          const now = T0 + skew;
          const at = nextRefreshAt({ fetchedAt: T0, expiresAt: T0 + 12 * H, now, random, failures });
          expect(at).toBeGreaterThanOrEqual(now + DEFAULT_SCHEDULE.minDelayMs);
        }
      }
    }
  });

  it('after a success, never later than expiry minus the margin while that is ahead', () => {
    for (const lifetime of [20 * S, 40 * S, 10 * M, H, 12 * H]) {
      for (const random of [0, 0.5, 0.999]) {
        const at = nextRefreshAt(fresh(lifetime, random), { ...DEFAULT_SCHEDULE, jitterEnd: 1 });
        expect(at).toBeLessThanOrEqual(T0 + lifetime - Math.min(5 * M, lifetime / 10));
      }
    }
  });
});

describe('retryDelay', () => {
  it('doubles per failure from 5 s and is bounded by 5 min', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 100].map((n) => retryDelay(n, 0.5))).toEqual([5 * S, 10 * S, 20 * S, 40 * S, 80 * S, 160 * S, 5 * M, 5 * M, 5 * M]);
  });
});
