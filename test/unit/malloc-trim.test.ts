// The malloc_trim addon (native/malloc-trim.c, built by `make deps`) and the timer that calls it:
// memory freed in the middle of glibc's heap stays resident until trim() gives its pages back.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadTrim, startTrimming, TRIM_INTERVAL_MS, TRIM_MIN_GROWTH_BYTES } from '../../src/malloc-trim.ts';

// A process with one malloc arena, as the image runs: 16,000 buffers of 6,000 bytes (each its own
// malloc block), three of every four dropped, the last kept so the heap's top stays in use. Array
// buffers are swept by gc() itself here, so their memory is free once the task that called it ends.
const FRAGMENT = `
const { trim } = require(process.argv[1]);
const anon = () => Number(/RssAnon:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
let kept = [];
(() => { for (let i = 0; i < 16000; i++) kept.push(Buffer.alloc(6000, 1)); })();
const allocated = anon();
(() => { kept = kept.filter((_, i) => i % 4 === 3); })();
// In tasks of their own, so that no frame still holds the dropped list when gc() runs.
setTimeout(() => {
  gc();
  setTimeout(() => {
    const freed = anon();
    const released = trim();
    console.log(JSON.stringify({ allocated, freed, trimmed: anon(), released, kept: kept.length }));
  }, 0);
}, 0);
`;

describe('malloc_trim addon', () => {
  it('loads here (glibc) and gives back the pages of memory freed in the middle of the heap', () => {
    const addon = new URL('../../build/malloc-trim.node', import.meta.url).pathname;
    const out = execFileSync(process.execPath, ['--expose-gc', '--no-concurrent-array-buffer-sweeping', '-e', FRAGMENT, addon], { env: { ...process.env, MALLOC_ARENA_MAX: '1' }, encoding: 'utf8' });
    const { allocated, freed, trimmed, released, kept } = JSON.parse(out) as Record<string, number | boolean>;
    expect(kept).toBe(4000);
    // About 72 MB was freed in runs of three buffers, each run holding four whole pages: free, but
    // still resident, until trim() gives the pages back.
    expect(Math.abs((allocated as number) - (freed as number))).toBeLessThan(5);
    expect(released).toBe(true);
    expect((freed as number) - (trimmed as number)).toBeGreaterThan(40);
  });

  it('is found by loadTrim from the source tree', () => {
    const loaded = loadTrim();
    expect('trim' in loaded && typeof loaded.trim()).toBe('boolean');
  });

  it('is reported unavailable, not thrown, where the file is missing', () => {
    const loaded = loadTrim('../build/no-such-addon.node');
    expect(loaded).toEqual({ unavailable: expect.stringMatching(/no-such-addon/) as unknown });
  });
});

describe('startTrimming', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const MiB = 2 ** 20;

  it('trims on the first tick, then only after the resident set grew by a MiB since the last trim or its low', () => {
    vi.useFakeTimers();
    let rss = 100 * MiB;
    const trim = vi.fn(() => {
      rss -= 5 * MiB;
      return true;
    });
    const reports: Array<{ rssBefore: number; rssAfter: number }> = [];
    const stop = startTrimming(trim, { rss: () => rss, trimmed: (r) => reports.push(r) });
    vi.advanceTimersByTime(TRIM_INTERVAL_MS - 1);
    expect(trim).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(trim).toHaveBeenCalledTimes(1);
    expect(reports).toEqual([expect.objectContaining({ rssBefore: 100 * MiB, rssAfter: 95 * MiB })]);
    // Idle and flat, or growing by less than a MiB: nothing to give back.
    rss += TRIM_MIN_GROWTH_BYTES - 1;
    vi.advanceTimersByTime(3 * TRIM_INTERVAL_MS);
    expect(trim).toHaveBeenCalledTimes(1);
    // Shrinking on its own lowers the mark that growth is counted from.
    rss = 90 * MiB;
    vi.advanceTimersByTime(TRIM_INTERVAL_MS);
    rss = 90 * MiB + TRIM_MIN_GROWTH_BYTES;
    vi.advanceTimersByTime(TRIM_INTERVAL_MS);
    expect(trim).toHaveBeenCalledTimes(2);
    stop();
    rss += 50 * MiB;
    vi.advanceTimersByTime(10 * TRIM_INTERVAL_MS);
    expect(trim).toHaveBeenCalledTimes(2);
  });
});
