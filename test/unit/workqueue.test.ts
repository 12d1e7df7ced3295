import { afterEach, describe, expect, it } from 'vitest';
import { WorkQueue, type WorkQueueOptions, type WorkResult } from '../../src/queue/workqueue.ts';

interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor(check: () => boolean, timeoutMs = 1000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await sleep(1);
  }
}

interface Done {
  key: string;
  error?: unknown;
  retries: number;
  at: number;
}

const queues: WorkQueue[] = [];

function queue(handler: (key: string) => Promise<WorkResult | void>, options: Partial<WorkQueueOptions> = {}) {
  const done: Done[] = [];
  const q = new WorkQueue(handler, {
    concurrency: 1,
    ...options,
    onDone: (key, o) => done.push({ key, error: o.error, retries: o.retries, at: Date.now() }),
  });
  queues.push(q);
  return { q, done };
}

afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.shutdown(50)));
});

class Failing extends Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(retryAfterSeconds?: number) {
    super('failing');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const TOLERANCE_MS = 3;

describe('WorkQueue', () => {
  it('runs a key added many times while it waits only once', async () => {
    const gate = deferred();
    const runs: string[] = [];
    const { q, done } = queue(async (key) => {
      runs.push(key);
      if (key === 'blocker') await gate.promise;
    });
    q.add('blocker');
    for (let i = 0; i < 10; i++) q.add('k');
    expect(q.depth).toBe(1);
    gate.resolve();
    await waitFor(() => done.length === 2);
    await sleep(20);
    expect(runs).toEqual(['blocker', 'k']);
  });

  it('never runs one key twice at once, and runs it exactly once more when added while running', async () => {
    const gates = [deferred(), deferred()];
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    const { q, done } = queue(
      async () => {
        const gate = gates[runs++];
        running++;
        maxRunning = Math.max(maxRunning, running);
        await gate?.promise;
        running--;
      },
      { concurrency: 4 },
    );
    q.add('k');
    await waitFor(() => q.active === 1);
    q.add('k');
    q.add('k');
    q.add('k');
    expect(q.depth).toBe(0);
    await sleep(10);
    expect(runs).toBe(1);
    gates[0]!.resolve();
    await waitFor(() => runs === 2);
    gates[1]!.resolve();
    await waitFor(() => done.length === 2);
    await sleep(20);
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('runs different keys concurrently up to the concurrency', async () => {
    const gate = deferred();
    const started: string[] = [];
    const { q, done } = queue(
      async (key) => {
        started.push(key);
        await gate.promise;
      },
      { concurrency: 2 },
    );
    q.add('a');
    q.add('b');
    q.add('c');
    await waitFor(() => started.length === 2);
    await sleep(10);
    expect(started).toEqual(['a', 'b']);
    expect(q.active).toBe(2);
    expect(q.depth).toBe(1);
    gate.resolve();
    await waitFor(() => done.length === 3);
    expect(started).toEqual(['a', 'b', 'c']);
    expect(q.active).toBe(0);
    expect(q.depth).toBe(0);
  });

  it('retries a failing key after a backoff that doubles per failure', async () => {
    const base = 15;
    let calls = 0;
    const { q, done } = queue(
      async () => {
        if (++calls <= 3) throw new Failing();
      },
      { baseDelayMs: base },
    );
    q.add('k');
    await waitFor(() => done.length === 4, 1500);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3, 0]);
    expect(done.map((d) => d.error instanceof Failing)).toEqual([true, true, true, false]);
    const gaps = done.slice(1).map((d, i) => d.at - done[i]!.at);
    gaps.forEach((gap, i) => expect(gap).toBeGreaterThanOrEqual(base * 2 ** i - TOLERANCE_MS));
  });

  it('keeps the backoff of each key to itself', async () => {
    const base = 10;
    const { q, done } = queue(
      async (key) => {
        if (key === 'bad') throw new Failing();
      },
      { baseDelayMs: base, concurrency: 2 },
    );
    q.add('bad');
    await waitFor(() => done.filter((d) => d.key === 'bad').length === 2);
    q.add('good');
    await waitFor(() => done.some((d) => d.key === 'good'));
    expect(done.find((d) => d.key === 'good')!.retries).toBe(0);
  });

  it('caps the backoff at maxDelayMs', async () => {
    let calls = 0;
    const { q, done } = queue(
      async () => {
        if (++calls <= 5) throw new Failing();
      },
      { baseDelayMs: 10, maxDelayMs: 10 },
    );
    q.add('k');
    await waitFor(() => done.length === 6, 1000);
    expect(done[5]!.at - done[4]!.at).toBeLessThan(120);
    expect(done[5]!.at - done[0]!.at).toBeLessThan(300);
  });

  it('resets the backoff after a success', async () => {
    const base = 10;
    const results = ['fail', 'fail', 'fail', 'fail', 'ok', 'fail', 'ok'];
    let calls = 0;
    const { q, done } = queue(
      async () => {
        if (results[calls++] === 'fail') throw new Failing();
      },
      { baseDelayMs: base },
    );
    q.add('k');
    await waitFor(() => done.length === 5, 1500);
    q.add('k');
    await waitFor(() => done.length === 7, 1500);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3, 4, 0, 1, 0]);
    const afterReset = done[6]!.at - done[5]!.at;
    expect(afterReset).toBeGreaterThanOrEqual(base - TOLERANCE_MS);
    expect(afterReset).toBeLessThan(base * 12);
  });

  it('waits at least retryAfterSeconds when the error says so', async () => {
    let calls = 0;
    const { q, done } = queue(
      async () => {
        if (++calls === 1) throw new Failing(0.05);
      },
      { baseDelayMs: 5 },
    );
    q.add('k');
    await waitFor(() => done.length === 2, 1000);
    expect(done[1]!.at - done[0]!.at).toBeGreaterThanOrEqual(50 - TOLERANCE_MS);
  });

  it('runs a key again after requeueAfterMs', async () => {
    let calls = 0;
    const { q, done } = queue(async () => (++calls === 1 ? { requeueAfterMs: 30 } : undefined));
    q.add('k');
    await waitFor(() => done.length === 2, 1000);
    expect(done[1]!.at - done[0]!.at).toBeGreaterThanOrEqual(30 - TOLERANCE_MS);
    await sleep(40);
    expect(calls).toBe(2);
  });

  it('runs a key added later by addAfter once, at the earliest schedule', async () => {
    const { q, done } = queue(async () => {});
    q.addAfter('k', 5_000);
    q.addAfter('k', 10);
    q.addAfter('k', 2_000);
    await waitFor(() => done.length === 1, 1000);
    await sleep(30);
    expect(done).toHaveLength(1);
  });

  it('runs addAfter with zero delay at once', async () => {
    const { q, done } = queue(async () => {});
    q.addAfter('k', 0);
    expect(q.depth + q.active).toBe(1);
    await waitFor(() => done.length === 1);
  });

  it('reports how long the oldest waiting key has waited', async () => {
    const gate = deferred();
    const { q } = queue(async () => gate.promise);
    expect(q.oldestWaitMs()).toBe(0);
    q.add('running');
    await waitFor(() => q.active === 1);
    const t = Date.now();
    q.add('waiting');
    expect(q.oldestWaitMs(t + 500)).toBeGreaterThanOrEqual(500);
    gate.resolve();
    await waitFor(() => q.depth === 0 && q.active === 0);
    expect(q.oldestWaitMs()).toBe(0);
  });

  it('resolves shutdown true at once when idle, and takes no more work', async () => {
    const runs: string[] = [];
    const { q } = queue(async (key) => void runs.push(key));
    const start = Date.now();
    expect(await q.shutdown(1000)).toBe(true);
    expect(Date.now() - start).toBeLessThan(250);
    q.add('k');
    q.addAfter('later', 5);
    await sleep(20);
    expect(runs).toEqual([]);
    expect(q.depth).toBe(0);
  });

  it('waits for a running key and drops waiting ones on shutdown', async () => {
    const gate = deferred();
    const runs: string[] = [];
    const { q } = queue(async (key) => {
      runs.push(key);
      if (key === 'slow') await gate.promise;
    });
    q.add('slow');
    await waitFor(() => q.active === 1);
    q.add('slow');
    q.add('queued-1');
    q.add('queued-2');
    expect(q.depth).toBe(2);
    const result = q.shutdown(1000);
    expect(q.depth).toBe(0);
    setTimeout(() => gate.resolve(), 10);
    expect(await result).toBe(true);
    await sleep(20);
    expect(runs).toEqual(['slow']);
  });

  it('cancels scheduled retries and requeues on shutdown', async () => {
    const runs: string[] = [];
    const { q, done } = queue(
      async (key) => {
        runs.push(key);
        if (key === 'failing') throw new Failing();
        return { requeueAfterMs: 20 };
      },
      { baseDelayMs: 20, concurrency: 2 },
    );
    q.add('failing');
    q.add('periodic');
    await waitFor(() => done.length === 2);
    expect(await q.shutdown(1000)).toBe(true);
    await sleep(50);
    expect(runs.sort()).toEqual(['failing', 'periodic']);
  });

  it('resolves shutdown false when a running key outlasts the bound', async () => {
    const gate = deferred();
    const { q } = queue(async () => gate.promise);
    q.add('k');
    await waitFor(() => q.active === 1);
    const start = Date.now();
    expect(await q.shutdown(30)).toBe(false);
    expect(Date.now() - start).toBeGreaterThanOrEqual(30 - TOLERANCE_MS);
    expect(Date.now() - start).toBeLessThan(500);
    gate.resolve();
  });
});
