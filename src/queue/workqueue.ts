// A keyed work queue on p-queue: a key waits at most once (dedup), is never processed by two workers
// at once (a key added while it runs is run again afterwards), and failures back off per key with
// jitter. A server's Retry-After is a floor for the key's next run, whatever asks for it.
import PQueue from 'p-queue';

export interface WorkResult {
  /** Run the key again after this long even if nothing changes (e.g. a retry the caller schedules). */
  requeueAfterMs?: number;
}

export interface WorkQueueOptions {
  concurrency: number;
  /** Delay after a key's first failure; it doubles with each further failure (default 500 ms). */
  baseDelayMs?: number;
  /** Cap of the doubling delay, before jitter (default 5 min). */
  maxDelayMs?: number;
  /** Up to this fraction is added at random to each backoff delay (default 0.1). */
  jitter?: number;
  /** Source of randomness in [0, 1) for the jitter (default Math.random); injectable for tests. */
  random?: () => number;
  /** Called after each run, for metrics and logs. */
  onDone?: (key: string, outcome: WorkOutcome) => void;
  /**
   * Wraps each run of a key, its onDone included, so that what onDone logs belongs to the run (a
   * reconcileID, say: log.ts's inReconcile).
   */
  scope?: <T>(run: () => Promise<T>) => Promise<T>;
}

export interface WorkOutcome {
  durationMs: number;
  waitedMs: number;
  /** Failures of the key in a row, this run's included. */
  retries: number;
  error?: unknown;
  /** What the handler returned, when it did not throw. */
  result?: WorkResult | undefined;
}

/** An error that says how long to wait before the next try (HTTP 429 Retry-After). */
export interface RetryAfter {
  retryAfterSeconds?: number | undefined;
}

export class WorkQueue {
  private readonly queue: PQueue;
  /** Waiting keys and when they were queued. */
  private readonly waiting = new Map<string, number>();
  /** Running keys and when they started. */
  private readonly running = new Map<string, number>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  /** Retry-After floors: no run of the key starts before this time. */
  private readonly notBefore = new Map<string, number>();
  private readonly handler: (key: string) => Promise<WorkResult | void>;
  private readonly options: WorkQueueOptions;
  private shuttingDown = false;
  private addCount = 0;

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

  /** Keys run at once at most. */
  get concurrency(): number {
    return this.options.concurrency;
  }

  /**
   * Adds that queued a key since the queue was made: a key that was neither waiting nor already
   * marked to run again (client-go's workqueue counts the same way). Delayed adds count when due.
   */
  get adds(): number {
    return this.addCount;
  }

  /** Milliseconds spent so far by the runs still in progress, summed (stuck workers make it grow). */
  unfinishedWorkMs(now = Date.now()): number {
    let total = 0;
    for (const t of this.running.values()) total += Math.max(0, now - t);
    return total;
  }

  /** Milliseconds the oldest waiting key has waited; 0 when nothing waits. */
  oldestWaitMs(now = Date.now()): number {
    let oldest = now;
    for (const t of this.waiting.values()) oldest = Math.min(oldest, t);
    return now - oldest;
  }

  /** Milliseconds the longest-running key has been running; 0 when nothing runs. */
  oldestRunningMs(now = Date.now()): number {
    let oldest = now;
    for (const t of this.running.values()) oldest = Math.min(oldest, t);
    return Math.max(0, now - oldest);
  }

  add(key: string): void {
    this.enqueue(key, false);
  }

  /** `counted`: the add was counted already (a key marked to run again while it ran). */
  private enqueue(key: string, counted: boolean): void {
    if (this.shuttingDown) return;
    const floor = this.floorOf(key);
    if (floor > Date.now()) {
      this.schedule(key, floor);
      return;
    }
    if (this.running.has(key)) {
      if (!this.dirty.has(key) && !counted) this.addCount++;
      this.dirty.add(key);
      return;
    }
    if (this.waiting.has(key)) return;
    if (!counted) this.addCount++;
    this.waiting.set(key, Date.now());
    const run = () => this.process(key);
    const scope = this.options.scope;
    void this.queue.add(scope ? () => scope(run) : run);
  }

  /** Adds the key after `ms` (or at its Retry-After floor, if later); an earlier pending schedule for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    const at = Math.max(Date.now() + ms, this.floorOf(key));
    if (at <= Date.now()) return this.add(key);
    this.schedule(key, at);
  }

  /**
   * Forgets a key's failures and cancels its scheduled retry or requeue (and its Retry-After floor),
   * as when its object is deleted. A waiting or running key is left to finish.
   */
  forget(key: string): void {
    this.failures.delete(key);
    this.notBefore.delete(key);
    const existing = this.timers.get(key);
    if (existing) clearTimeout(existing.timer);
    this.timers.delete(key);
  }

  private floorOf(key: string): number {
    const floor = this.notBefore.get(key);
    if (floor === undefined) return 0;
    if (floor <= Date.now()) {
      this.notBefore.delete(key);
      return 0;
    }
    return floor;
  }

  private schedule(key: string, at: number): void {
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, at - Date.now());
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** min(max, base·2^(n-1)) for the n-th failure in a row, plus up to `jitter` of it at random; whole ms. */
  private backoffMs(key: string): number {
    const n = this.failures.get(key) ?? 1;
    const base = this.options.baseDelayMs ?? 500;
    const delay = Math.min(this.options.maxDelayMs ?? 300_000, base * 2 ** (n - 1));
    const jitter = this.options.jitter ?? 0.1;
    return Math.round(delay * (1 + jitter * (this.options.random ?? Math.random)()));
  }

  private async process(key: string): Promise<void> {
    const enqueuedAt = this.waiting.get(key) ?? Date.now();
    this.waiting.delete(key);
    const start = Date.now();
    this.running.set(key, start);
    // The floor was for this run; a later failure sets its own.
    this.notBefore.delete(key);
    let error: unknown;
    let result: WorkResult | void = undefined;
    try {
      result = await this.handler(key);
      this.failures.delete(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      error = err;
      this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
      const retryAfter = (err as RetryAfter | undefined)?.retryAfterSeconds;
      if (retryAfter !== undefined && retryAfter > 0) this.notBefore.set(key, Date.now() + retryAfter * 1000);
      this.addAfter(key, this.backoffMs(key));
    } finally {
      this.running.delete(key);
      this.options.onDone?.(key, { durationMs: Date.now() - start, waitedMs: start - enqueuedAt, error, retries: this.failures.get(key) ?? 0, result: result ?? undefined });
      if (this.dirty.delete(key)) this.enqueue(key, true);
    }
  }

  /** Stops taking work; waits up to `timeoutMs` for running keys. True when all finished. */
  async shutdown(timeoutMs: number): Promise<boolean> {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.notBefore.clear();
    this.queue.clear();
    this.waiting.clear();
    const idle = this.queue.onIdle().then(() => true);
    const timeout = new Promise<boolean>((r) => setTimeout(() => r(false), timeoutMs).unref());
    return Promise.race([idle, timeout]);
  }
}
