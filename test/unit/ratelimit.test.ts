import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TokenBucket } from '../../src/kube/ratelimit.ts';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

/** Starts n takes at once and records when each is granted (ms since the start). */
function takeMany(bucket: TokenBucket, n: number): number[] {
  const start = performance.now();
  const granted: number[] = [];
  for (let i = 0; i < n; i++) void bucket.take().then(() => granted.push(performance.now() - start));
  return granted;
}

describe('TokenBucket', () => {
  it('lets a burst through at once, then one request per 1/qps, in arrival order', async () => {
    const bucket = new TokenBucket(10, 3);
    const granted = takeMany(bucket, 6);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual([0, 0, 0]);
    expect(bucket.waiting).toBe(3);
    await vi.advanceTimersByTimeAsync(300);
    expect(granted).toEqual([0, 0, 0, 100, 200, 300]);
    expect(bucket.waiting).toBe(0);
  });

  it('refills while idle, never above the burst', async () => {
    const bucket = new TokenBucket(100, 2);
    takeMany(bucket, 2);
    await vi.advanceTimersByTimeAsync(10_000);
    const granted = takeMany(bucket, 3);
    await vi.advanceTimersByTimeAsync(0);
    expect(granted).toEqual([0, 0]);
    await vi.advanceTimersByTimeAsync(10);
    expect(granted).toEqual([0, 0, 10]);
  });

  it('holds a sustained request rate to qps over a long window', async () => {
    const bucket = new TokenBucket(50, 10);
    const granted = takeMany(bucket, 510);
    await vi.advanceTimersByTimeAsync(10_000);
    // 10 at once, then 50 per second: all 510 by 10 s, and not one earlier than the rate allows.
    expect(granted).toHaveLength(510);
    granted.forEach((t, i) => expect(t).toBeGreaterThanOrEqual(Math.max(0, (i - 9) * 20) - 1));
  });
});
