// Gives the pages glibc's malloc holds free back to the system, every few seconds. glibc keeps
// memory freed in the middle of its heap mapped for the life of the process: after a fan-out, the
// TLS state and read buffers of the connections that carried its writes are freed when those
// connections close, but about 10 MiB of the heap stayed resident at 1,000 namespaces. Only
// malloc_trim hands such pages back, and node has no binding for it, so a small N-API addon
// (native/malloc-trim.c, built by `make build` and in the image's build stage) provides one. Where
// it is not built or cannot load (no C compiler, a libc other than glibc), nothing is trimmed.
import { createRequire } from 'node:module';

/** glibc's malloc_trim(0): true when some memory was given back. */
export type Trim = () => boolean;

/** Often enough that a burst's memory is back within seconds of its connections closing; one call costs about 0.1 ms. */
export const TRIM_INTERVAL_MS = 10_000;

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

/** Calls `trim` every interval until the returned function is called; the timer never keeps the process alive. */
export function startTrimming(trim: Trim, intervalMs = TRIM_INTERVAL_MS): () => void {
  const timer = setInterval(trim, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
