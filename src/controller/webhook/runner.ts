// One pass at a time on a timer, for the leader's loops that keep an object true (the webhook's
// TLS Secret, its configuration, the injection policies).
import type { Informer } from '../../kube/informer.ts';
import type { KubeObject } from '../../kube/objects.ts';

/** setTimeout's limit (about 24.8 days); a longer delay would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MIN_BACKOFF_MS = 1000;
const MAX_BACKOFF_MS = 5 * 60_000;

/**
 * Runs `body` one pass at a time: when asked again during a pass, once more right after it. The
 * pass's result is the delay until the next one (undefined: none); an error is reported and retried
 * with backoff. Nothing escapes the timers.
 */
export class Runner {
  private timer: NodeJS.Timeout | undefined;
  private dueAt = Infinity;
  private running = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private readonly body: () => Promise<number | undefined>;
  private readonly onError: (err: unknown, retryInMs: number) => void;

  constructor(body: () => Promise<number | undefined>, onError: (err: unknown, retryInMs: number) => void) {
    this.body = body;
    this.onError = onError;
  }

  /** A pass in `delayMs` (sooner if one is due sooner already). */
  schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.running && delayMs <= 0) {
      this.again = true;
      return;
    }
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, delayMs));
    const due = Date.now() + delay;
    if (this.timer && this.dueAt <= due) return;
    clearTimeout(this.timer);
    this.dueAt = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dueAt = Infinity;
      void this.run();
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    let next: number | undefined;
    let failed = false;
    try {
      next = await this.body();
      this.failures = 0;
    } catch (err) {
      failed = true;
      const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.min(this.failures++, 20));
      next = Math.round(base * (0.8 + Math.random() * 0.4));
      try {
        this.onError(err, next);
      } catch {
        // a logger that throws changes nothing
      }
    } finally {
      this.running = false;
    }
    if (this.again && !failed) next = 0;
    this.again = false;
    if (next !== undefined) this.schedule(next);
  }
}

/** How long a pass waits for the caches it reads; then it fails and is retried with backoff. */
const SYNC_WAIT_MS = 30_000;

type Syncable = Pick<Informer<KubeObject>, 'hasSynced' | 'waitForSync'>;

/**
 * Waits for the first complete list of each informer, so a pass started with its watches goes on
 * the moment they have synced (not a timer's guess later). False when `active()` turned false
 * meanwhile (stopped): the pass ends without an error.
 */
export async function whenSynced(informers: readonly Syncable[], active: () => boolean, timeoutMs = SYNC_WAIT_MS): Promise<boolean> {
  for (const informer of informers) {
    if (informer.hasSynced) continue;
    try {
      await informer.waitForSync(timeoutMs);
    } catch (err) {
      if (!active()) return false;
      throw err;
    }
  }
  return active();
}
