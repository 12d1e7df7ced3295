// A keyed work queue on p-queue: a key waits at most once (dedup), is never processed by two workers
// at once (a key added while it runs is run again afterwards), and failures back off per key.
import PQueue from 'p-queue';

export interface WorkResult {
  /** Run the key again after this long even if nothing changes (e.g. a retry the caller schedules). */
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  concurrency: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Called after each run, for metrics and logs. */
  onDone?: (key: string, outcome: { durationMs: number; error?: unknown; waitedMs: number; retries: number }) => void;
}

/** An error that says how long to wait before the next try (HTTP 429 Retry-After). */
export interface RetryAfter {
  retryAfterSeconds?: number | undefined;
}

export class WorkQueue {
  private readonly queue: PQueue;
  private readonly waiting = new Map<string, number>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly handler: (key: string) => Promise<WorkResult | void>;
  private readonly options: WorkQueueOptions;
  private shuttingDown = false;

  constructor(handler: (key: string) => Promise<WorkResult | void>, options: WorkQueueOptions) {
    this.handler = handler;
    this.options = options;
    this.queue = new PQueue({ concurrency: options.concurrency });
  }

  /** Keys waiting to run (not counting ones running or scheduled for later). */
  get depth(): number {
    return this.waiting.size;
  }

  get active(): number {
    return this.running.size;
  }

  /** Milliseconds the oldest waiting key has waited; 0 when nothing waits. */
  oldestWaitMs(now = Date.now()): number {
    let oldest = now;
    for (const t of this.waiting.values()) oldest = Math.min(oldest, t);
    return now - oldest;
  }

  add(key: string): void {
    if (this.shuttingDown) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    this.waiting.set(key, Date.now());
    void this.queue.add(() => this.process(key));
  }

  /** Adds the key after `ms`; an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = Date.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  private backoffMs(key: string, err: unknown): number {
    const n = this.failures.get(key) ?? 1;
    const base = this.options.baseDelayMs ?? 500;
    const delay = Math.min(this.options.maxDelayMs ?? 300_000, base * 2 ** (n - 1));
    const retryAfter = (err as RetryAfter | undefined)?.retryAfterSeconds;
    return Math.max(delay, retryAfter !== undefined ? retryAfter * 1000 : 0);
  }

  private async process(key: string): Promise<void> {
    const enqueuedAt = this.waiting.get(key) ?? Date.now();
    this.waiting.delete(key);
    this.running.add(key);
    const start = Date.now();
    let error: unknown;
    try {
      const result = await this.handler(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      error = err;
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      this.addAfter(key, this.backoffMs(key, err));
    } finally {
      this.running.delete(key);
      this.options.onDone?.(key, { durationMs: Date.now() - start, waitedMs: start - enqueuedAt, error, retries: this.failures.get(key) ?? 0 });
      if (this.dirty.delete(key)) this.add(key);
    }
  }

  /** Stops taking work; waits up to `timeoutMs` for running keys. True when all finished. */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.queue.clear();
    this.waiting.clear();
    const idle = this.queue.onIdle().then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([idle, timeout]);
  }
}
