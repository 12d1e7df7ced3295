// Gives the pages glibc's malloc holds free back to the system, a few seconds after the process
// grew. glibc keeps memory freed in the middle of its heap mapped for the life of the process:
// after a fan-out, the TLS state and read buffers of the connections that carried its writes are
// freed when those connections close, but about 10 MiB of the heap stayed resident at 1,000
// namespaces. Only malloc_trim hands such pages back, and node has no binding for it, so a small
// N-API addon (native/malloc-trim.c, built by `make deps` and in the image's build stage) provides
// one. Where it is not built or cannot load (no C compiler), or the libc is not glibc, nothing is
// trimmed.
import { createRequire } from 'node:module';

/** glibc's malloc_trim(0): true when it gave pages back (or found any to give). */
export type Trim = () => boolean;

/** Often enough that a burst's memory is back within seconds of its connections closing. */
export const TRIM_INTERVAL_MS = 10_000;

/**
 * Growth of the resident set since the last trim below which a tick does nothing: a trim walks
 * every free block of the heap with a system call for each (a few ms with thousands), and a process
 * that has not grown has nothing new to give back.
 */
export const TRIM_MIN_GROWTH_BYTES = 1 << 20;

/** The addon, relative to this module: src/ and dist/ are both one level under the package. */
const ADDON_PATH = '../build/malloc-trim.node';

/** The addon's trim(), or why it cannot be had. */
export function loadTrim(path = ADDON_PATH): { trim: Trim } | { unavailable: string } {
  try {
    const addon = createRequire(import.meta.url)(path) as { trim?: unknown };
    if (typeof addon.trim !== 'function') return { unavailable: `${path} has no trim function` };
    return { trim: addon.trim as Trim };
  } catch (err) {
    return { unavailable: err instanceof Error ? err.message.split('\n')[0]! : String(err) };
  }
}

export interface TrimmingOptions {
  intervalMs?: number;
  /** The resident set size in bytes. */
  rss?: () => number;
  /** Told of each trim made. */
  trimmed?: (report: { released: boolean; durationMs: number; rssBefore: number; rssAfter: number }) => void;
}

/**
 * Every interval, trims when the resident set grew by TRIM_MIN_GROWTH_BYTES since it was last
 * trimmed (or since its lowest since then), until the returned function is called. The timer never
 * keeps the process alive.
 */
export function startTrimming(trim: Trim, options: TrimmingOptions = {}): () => void {
  const rss = options.rss ?? (() => process.memoryUsage.rss());
  let low = 0;
  const tick = () => {
    const before = rss();
    if (before < low + TRIM_MIN_GROWTH_BYTES) {
      low = Math.min(low, before);
      return;
    }
    const started = performance.now();
    const released = trim();
    const durationMs = performance.now() - started;
    low = rss();
    options.trimmed?.({ released, durationMs, rssBefore: before, rssAfter: low });
  };
  const timer = setInterval(tick, options.intervalMs ?? TRIM_INTERVAL_MS);
  timer.unref();
  return () => clearInterval(timer);
}
