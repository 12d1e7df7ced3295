// The work queue on fake timers: every delay is asserted exactly (the jitter's random source is
// injected), and nothing depends on how fast the machine is.
import { AsyncLocalStorage } from 'node:async_hooks';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
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

/** Moves the fake clock by `ms`, running due timers and the promise callbacks they set off. */
const advance = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

interface Done {
  key: string;
  error?: unknown;
  retries: number;
  at: number;
  result?: WorkResult | undefined;
}

const queues: WorkQueue[] = [];
let t0 = 0;

/** No jitter unless a test asks for it: random() = 0 adds nothing. */
function queue(handler: (key: string) => Promise<WorkResult | void>, options: Partial<WorkQueueOptions> = {}) {
  const done: Done[] = [];
  const q = new WorkQueue(handler, {
    concurrency: 1,
    random: () => 0,
    ...options,
    onDone: (key, o) => done.push({ key, error: o.error, retries: o.retries, at: Date.now() - t0, result: o.result }),
  });
  queues.push(q);
  return { q, done };
}

beforeEach(() => {
  vi.useFakeTimers();
  t0 = Date.now();
});

afterEach(async () => {
  const stopping = Promise.all(queues.splice(0).map((q) => q.shutdown(50)));
  await advance(50);
  await stopping;
  vi.useRealTimers();
});

class Failing extends Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(retryAfterSeconds?: number) {
    super('failing');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Fails the first `n` runs (with the given Retry-After), then succeeds; counts runs. */
function failingTimes(n: number, retryAfterSeconds?: number) {
  const state = { calls: 0 };
  const handler = async () => {
    if (++state.calls <= n) throw new Failing(retryAfterSeconds);
  };
  return { state, handler };
}

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
    await advance(1_000);
    expect(runs).toEqual(['blocker', 'k']);
    expect(done).toHaveLength(2);
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
    await advance();
    expect(q.active).toBe(1);
    q.add('k');
    q.add('k');
    q.add('k');
    expect(q.depth).toBe(0);
    await advance(100);
    expect(runs).toBe(1);
    gates[0]!.resolve();
    await advance();
    expect(runs).toBe(2);
    gates[1]!.resolve();
    await advance(1_000);
    expect(done).toHaveLength(2);
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
    await advance(100);
    expect(started).toEqual(['a', 'b']);
    expect(q.active).toBe(2);
    expect(q.depth).toBe(1);
    gate.resolve();
    await advance();
    expect(done).toHaveLength(3);
    expect(started).toEqual(['a', 'b', 'c']);
    expect(q.active).toBe(0);
    expect(q.depth).toBe(0);
  });

  it('retries a failing key after a backoff that doubles per failure: base·2^(n-1), exactly', async () => {
    const { state, handler } = failingTimes(3);
    const { q, done } = queue(handler, { baseDelayMs: 100 });
    q.add('k');
    await advance();
    expect(done.map((d) => d.at)).toEqual([0]);
    // One millisecond short of each retry nothing runs; at the retry it does.
    await advance(99);
    expect(state.calls).toBe(1);
    await advance(1);
    expect(state.calls).toBe(2);
    await advance(199);
    expect(state.calls).toBe(2);
    await advance(1);
    expect(state.calls).toBe(3);
    await advance(10_000);
    expect(done.map((d) => d.at)).toEqual([0, 100, 300, 700]);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3, 0]);
    expect(done.map((d) => d.error instanceof Failing)).toEqual([true, true, true, false]);
  });

  it('adds jitter of up to 10% of each delay from the injected random source', async () => {
    const draws = [0.5, 0.25, 0.999];
    const random = vi.fn(() => draws.shift() ?? 0);
    const { handler } = failingTimes(3);
    const { q, done } = queue(handler, { baseDelayMs: 1_000, random });
    q.add('k');
    await advance(60_000);
    // 1000·(1 + 0.1·0.5), 2000·(1 + 0.1·0.25), 4000·(1 + 0.1·0.999) = 4399.6, rounded to the millisecond.
    const gaps = done.slice(1).map((d, i) => d.at - done[i]!.at);
    expect(gaps).toEqual([1_050, 2_050, 4_400]);
    expect(random).toHaveBeenCalledTimes(3);
  });

  it('keeps the jitter within [delay, 1.1·delay) with the default random source', async () => {
    const { handler } = failingTimes(6);
    const { q, done } = queue(handler, { baseDelayMs: 1_000, random: undefined });
    q.add('k');
    await advance(300_000);
    expect(done).toHaveLength(7);
    done.slice(1).forEach((d, i) => {
      const gap = d.at - done[i]!.at;
      expect(gap).toBeGreaterThanOrEqual(1_000 * 2 ** i);
      expect(gap).toBeLessThanOrEqual(1_100 * 2 ** i);
    });
  });

  it('honours a jitter fraction of 0', async () => {
    const { handler } = failingTimes(2);
    const { q, done } = queue(handler, { baseDelayMs: 100, jitter: 0, random: () => 0.9 });
    q.add('k');
    await advance(1_000);
    expect(done.map((d) => d.at)).toEqual([0, 100, 300]);
  });

  it('keeps the backoff of each key to itself', async () => {
    const { q, done } = queue(
      async (key) => {
        if (key === 'bad') throw new Failing();
      },
      { baseDelayMs: 100, concurrency: 2 },
    );
    q.add('bad');
    await advance(100);
    expect(done.filter((d) => d.key === 'bad').map((d) => d.retries)).toEqual([1, 2]);
    q.add('good');
    await advance();
    expect(done.filter((d) => d.key === 'good').map((d) => d.retries)).toEqual([0]);
  });

  it('caps the backoff at maxDelayMs, then adds the jitter to the cap', async () => {
    const { handler } = failingTimes(5);
    const { q, done } = queue(handler, { baseDelayMs: 10, maxDelayMs: 40 });
    q.add('k');
    await advance(1_000);
    expect(done.slice(1).map((d, i) => d.at - done[i]!.at)).toEqual([10, 20, 40, 40, 40]);

    const capped = failingTimes(4);
    const { q: q2, done: done2 } = queue(capped.handler, { baseDelayMs: 100, maxDelayMs: 200, random: () => 0.5 });
    const start = Date.now() - t0;
    q2.add('k');
    await advance(10_000);
    expect(done2.slice(1).map((d, i) => d.at - done2[i]!.at)).toEqual([105, 210, 210, 210]);
    expect(done2[0]!.at).toBe(start);
  });

  it('resets the backoff after a success', async () => {
    const results = ['fail', 'fail', 'fail', 'fail', 'ok', 'fail', 'ok'];
    let calls = 0;
    const { q, done } = queue(
      async () => {
        if (results[calls++] === 'fail') throw new Failing();
      },
      { baseDelayMs: 10 },
    );
    q.add('k');
    await advance(1_000);
    expect(done).toHaveLength(5);
    q.add('k');
    await advance(1_000);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3, 4, 0, 1, 0]);
    expect(done[6]!.at - done[5]!.at).toBe(10);
  });

  it('waits for Retry-After when it is longer than the backoff, and for the backoff when that is longer', async () => {
    const short = failingTimes(1, 2);
    const { q, done } = queue(short.handler, { baseDelayMs: 5 });
    q.add('k');
    await advance(1_999);
    expect(short.state.calls).toBe(1);
    await advance(1);
    expect(done.map((d) => d.at)).toEqual([0, 2_000]);

    const long = failingTimes(1, 1);
    const { q: q2, done: done2 } = queue(long.handler, { baseDelayMs: 5_000 });
    q2.add('k');
    await advance(10_000);
    expect(done2[1]!.at - done2[0]!.at).toBe(5_000);
  });

  it('keeps Retry-After as a floor for the next run, whatever asks for it', async () => {
    const { state, handler } = failingTimes(1, 3);
    const { q, done } = queue(handler, { baseDelayMs: 5 });
    q.add('k');
    await advance(10);
    // An event (add), a shorter requeue (addAfter) and a zero-delay requeue all wait for the floor.
    q.add('k');
    q.addAfter('k', 50);
    q.addAfter('k', 0);
    expect(q.depth).toBe(0);
    await advance(2_979);
    expect(state.calls).toBe(1);
    await advance(11);
    expect(done.map((d) => d.at)).toEqual([0, 3_000]);
    await advance(10_000);
    expect(state.calls).toBe(2);
    // The floor was for that run only: after it, a key added runs at once.
    q.add('k');
    await advance();
    expect(state.calls).toBe(3);
  });

  it('holds a key added while it ran to the Retry-After its run then returned', async () => {
    const gate = deferred();
    let calls = 0;
    const { q, done } = queue(async () => {
      if (++calls === 1) {
        await gate.promise;
        throw new Failing(1);
      }
    });
    q.add('k');
    await advance();
    q.add('k');
    gate.resolve();
    await advance(999);
    expect(calls).toBe(1);
    await advance(1);
    expect(calls).toBe(2);
    await advance(10_000);
    expect(done.map((d) => d.at)).toEqual([0, 1_000]);
  });

  it('runs a key again after requeueAfterMs, exactly', async () => {
    let calls = 0;
    const { q, done } = queue(async () => (++calls === 1 ? { requeueAfterMs: 30 } : undefined));
    q.add('k');
    await advance(29);
    expect(calls).toBe(1);
    await advance(1);
    expect(calls).toBe(2);
    await advance(1_000);
    expect(done.map((d) => d.at)).toEqual([0, 30]);
  });

  it('runs a key added later by addAfter once, at the earliest schedule', async () => {
    const { q, done } = queue(async () => {});
    q.addAfter('k', 5_000);
    q.addAfter('k', 10);
    q.addAfter('k', 2_000);
    await advance(10_000);
    expect(done.map((d) => d.at)).toEqual([10]);
  });

  it('runs addAfter with zero delay at once', async () => {
    const { q, done } = queue(async () => {});
    q.addAfter('k', 0);
    expect(q.depth + q.active).toBe(1);
    await advance();
    expect(done.map((d) => d.at)).toEqual([0]);
  });

  it('forgets a key: its scheduled retry is cancelled and its next failure backs off from the base again', async () => {
    let calls = 0;
    const { q, done } = queue(
      async () => {
        calls++;
        throw new Failing();
      },
      { baseDelayMs: 100 },
    );
    q.add('k');
    await advance(100 + 200);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3]);
    q.forget('k');
    await advance(10_000);
    expect(calls).toBe(3);

    q.add('k');
    await advance();
    expect(done.at(-1)!.retries).toBe(1);
    await advance(100);
    expect(done.map((d) => d.retries)).toEqual([1, 2, 3, 1, 2]);
    expect(done.at(-1)!.at - done.at(-2)!.at).toBe(100);
  });

  it('forgets a key\'s Retry-After floor and its requeue', async () => {
    let calls = 0;
    const { q } = queue(async () => {
      calls++;
      if (calls === 1) throw new Failing(60);
      return { requeueAfterMs: 1_000 };
    });
    q.add('k');
    await advance();
    q.forget('k');
    q.add('k');
    await advance();
    expect(calls).toBe(2);
    q.forget('k');
    await advance(120_000);
    expect(calls).toBe(2);
  });

  it('forgets nothing of other keys', async () => {
    const { q, done } = queue(
      async () => {
        throw new Failing();
      },
      { baseDelayMs: 100, concurrency: 2 },
    );
    q.add('a');
    q.add('b');
    await advance();
    q.forget('a');
    await advance(100);
    expect(done.map((d) => `${d.key}@${d.at}`)).toEqual(['a@0', 'b@0', 'b@100']);
  });

  it('reports how long the oldest waiting key has waited', async () => {
    const gate = deferred();
    const { q } = queue(async () => gate.promise);
    expect(q.oldestWaitMs()).toBe(0);
    q.add('running');
    await advance();
    expect(q.active).toBe(1);
    q.add('waiting');
    await advance(500);
    expect(q.oldestWaitMs()).toBe(500);
    expect(q.oldestWaitMs(Date.now() + 250)).toBe(750);
    gate.resolve();
    await advance();
    expect(q.depth + q.active).toBe(0);
    expect(q.oldestWaitMs()).toBe(0);
  });

  it('reports how long the longest-running key has been running, 0 when none runs', async () => {
    const gates = new Map([['a', deferred()], ['b', deferred()]]);
    const { q } = queue(async (key) => gates.get(key)!.promise, { concurrency: 2 });
    expect(q.oldestRunningMs()).toBe(0);
    q.add('a');
    await advance(1_000);
    q.add('b');
    await advance(500);
    expect(q.active).toBe(2);
    expect(q.oldestRunningMs()).toBe(1_500);
    expect(q.oldestRunningMs(Date.now() + 100)).toBe(1_600);
    gates.get('a')!.resolve();
    await advance(200);
    expect(q.oldestRunningMs()).toBe(700);
    gates.get('b')!.resolve();
    await advance();
    expect(q.active).toBe(0);
    expect(q.oldestRunningMs()).toBe(0);
  });

  it('sums how long every running key has been running, 0 when none runs', async () => {
    const gate = deferred();
    const { q } = queue(async () => gate.promise, { concurrency: 2 });
    expect(q.unfinishedWorkMs()).toBe(0);
    q.add('a');
    await advance(1_000);
    q.add('b');
    await advance(500);
    expect(q.unfinishedWorkMs()).toBe(1_500 + 500);
    gate.resolve();
    await advance();
    expect(q.unfinishedWorkMs()).toBe(0);
  });

  it('counts an add that queues a key, not one for a key already waiting or already due to run again', async () => {
    const gate = deferred();
    const { q, done } = queue(async (key) => {
      if (key === 'running') await gate.promise;
    });
    q.add('running');
    await advance();
    expect(q.adds).toBe(1);
    q.add('waiting');
    q.add('waiting');
    expect(q.adds).toBe(2);
    // Added while it runs: it will run once more, and that is one add however often it is asked for.
    q.add('running');
    q.add('running');
    expect(q.adds).toBe(3);
    gate.resolve();
    await advance(1_000);
    expect(done.map((d) => d.key)).toEqual(['running', 'waiting', 'running']);
    expect(q.adds).toBe(3);
    // A delayed add counts when it is due.
    q.addAfter('later', 5_000);
    expect(q.adds).toBe(3);
    await advance(5_000);
    expect(q.adds).toBe(4);
  });

  it('counts a failed key\'s retry as an add when its backoff is over', async () => {
    const { handler } = failingTimes(1);
    const { q, done } = queue(handler, { baseDelayMs: 100 });
    q.add('k');
    await advance();
    expect(q.adds).toBe(1);
    await advance(100);
    expect(done).toHaveLength(2);
    expect(q.adds).toBe(2);
  });

  it('tells onDone what the handler returned, and nothing when it threw', async () => {
    const { handler } = failingTimes(1);
    const { q, done } = queue(async (key) => (key === 'requeued' ? { requeueAfterMs: 60_000 } : key === 'failing' ? handler() : undefined), { baseDelayMs: 100 });
    q.add('requeued');
    q.add('plain');
    q.add('failing');
    await advance();
    expect(done.map((d) => [d.key, d.result, d.error !== undefined])).toEqual([
      ['requeued', { requeueAfterMs: 60_000 }, false],
      ['plain', undefined, false],
      ['failing', undefined, true],
    ]);
    expect(q.concurrency).toBe(1);
  });

  it('runs each run of a key, its onDone included, inside the scope given, a fresh one per run', async () => {
    const runs = new AsyncLocalStorage<number>();
    let opened = 0;
    const seen: Array<[string, string, number | undefined]> = [];
    const { handler } = failingTimes(1);
    const q = new WorkQueue(async (key) => {
      seen.push(['handler', key, runs.getStore()]);
      await handler();
    }, {
      concurrency: 1,
      baseDelayMs: 100,
      random: () => 0,
      scope: (run) => runs.run(++opened, run),
      onDone: (key, o) => seen.push([o.error ? 'failed' : 'done', key, runs.getStore()]),
    });
    queues.push(q);
    q.add('k');
    await advance();
    await advance(100);
    expect(seen).toEqual([
      ['handler', 'k', 1],
      ['failed', 'k', 1],
      ['handler', 'k', 2],
      ['done', 'k', 2],
    ]);
  });

  it('resolves shutdown true at once when idle, and takes no more work', async () => {
    const runs: string[] = [];
    const { q } = queue(async (key) => void runs.push(key));
    let result: boolean | undefined;
    void q.shutdown(1_000).then((r) => (result = r));
    // Not a moment of the bound passes: it resolved because nothing ran.
    await advance();
    expect(result).toBe(true);
    q.add('k');
    q.addAfter('later', 5);
    await advance(1_000);
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
    await advance();
    expect(q.active).toBe(1);
    q.add('slow');
    q.add('queued-1');
    q.add('queued-2');
    expect(q.depth).toBe(2);
    let result: boolean | undefined;
    void q.shutdown(1_000).then((r) => (result = r));
    expect(q.depth).toBe(0);
    await advance(10);
    expect(result).toBeUndefined();
    gate.resolve();
    await advance();
    expect(result).toBe(true);
    await advance(1_000);
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
    await advance();
    expect(done).toHaveLength(2);
    let result: boolean | undefined;
    void q.shutdown(1_000).then((r) => (result = r));
    await advance();
    expect(result).toBe(true);
    await advance(10_000);
    expect(runs.sort()).toEqual(['failing', 'periodic']);
  });

  it('resolves shutdown false when a running key outlasts the bound, and not before the bound', async () => {
    const gate = deferred();
    const { q } = queue(async () => gate.promise);
    q.add('k');
    await advance();
    expect(q.active).toBe(1);
    let result: boolean | undefined;
    void q.shutdown(30).then((r) => (result = r));
    await advance(29);
    expect(result).toBeUndefined();
    await advance(1);
    expect(result).toBe(false);
    gate.resolve();
  });
});
