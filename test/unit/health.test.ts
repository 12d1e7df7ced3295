import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { healthRoutes, type HealthSources, type InformerHealth } from '../../src/server/health.ts';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const LIMITS = { watchStaleMs: 120_000, queueStallMs: 300_000, runningStuckMs: 600_000 };

interface Over {
  synced: boolean;
  informers: InformerHealth[];
  oldestWaitMs: number;
  oldestRunningMs: number;
}

function sources(over: Partial<Over> = {}): HealthSources {
  return {
    synced: () => over.synced ?? true,
    informers: () => over.informers ?? [],
    oldestWaitMs: () => over.oldestWaitMs ?? 0,
    oldestRunningMs: () => over.oldestRunningMs ?? 0,
  };
}

/** A synced informer whose last success was `sinceSuccessMs` ago (started long before). */
const informer = (name: string, sinceSuccessMs: number): InformerHealth => ({
  name,
  lastSuccess: NOW - sinceSuccessMs,
  hasSynced: true,
  startedAt: NOW - 3_600_000,
});

/** An informer that has not synced; `startedMsAgo` undefined means never started. */
const unsynced = (name: string, startedMsAgo: number | undefined): InformerHealth => ({
  name,
  // Its success clock is from construction and says nothing; only startedAt may be judged.
  lastSuccess: NOW - 3_600_000,
  hasSynced: false,
  startedAt: startedMsAgo === undefined ? undefined : NOW - startedMsAgo,
});

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('/readyz', () => {
  it('is 503 before the caches sync and 200 after', async () => {
    let synced = false;
    const routes = healthRoutes({ ...sources(), synced: () => synced }, LIMITS);
    expect(await routes['/readyz']!()).toEqual({ status: 503, body: 'caches not synced\n' });
    synced = true;
    expect(await routes['/readyz']!()).toEqual({ status: 200, body: 'ok\n' });
  });
});

describe('/healthz', () => {
  it.each<[string, Partial<Over>, number, string]>([
    ['no informers, empty queue', {}, 200, 'ok\n'],
    ['informers succeeding', { informers: [informer('secrets', 1_000), informer('namespaces', 0)] }, 200, 'ok\n'],
    ['an informer without success exactly at the limit', { informers: [informer('secrets', 120_000)] }, 200, 'ok\n'],
    ['an informer without success beyond the limit', { informers: [informer('secrets', 1_000), informer('serviceaccounts', 150_000)] }, 503, 'watch serviceaccounts silent for 150s\n'],
    ['an informer not yet synced, started recently', { informers: [unsynced('secrets', 60_000)] }, 200, 'ok\n'],
    ['an informer not yet synced, started exactly at the limit', { informers: [unsynced('secrets', 120_000)] }, 200, 'ok\n'],
    ['an informer not yet synced, started beyond the limit', { informers: [unsynced('secrets', 600_000)] }, 503, 'watch secrets not synced after 600s\n'],
    ['an informer never started', { informers: [unsynced('secrets', undefined)] }, 200, 'ok\n'],
    ['not ready but within the limits', { synced: false, informers: [unsynced('secrets', 1_000)] }, 200, 'ok\n'],
    ['a key waiting exactly at the limit', { oldestWaitMs: 300_000 }, 200, 'ok\n'],
    ['a key waiting beyond the limit', { oldestWaitMs: 301_000 }, 503, 'work queue: a key has waited 301s\n'],
    ['a reconcile running exactly at the limit', { oldestRunningMs: 600_000 }, 200, 'ok\n'],
    ['a reconcile running beyond the limit', { oldestRunningMs: 601_000 }, 503, 'work queue: a reconcile has run for 601s\n'],
    [
      'several problems, each on its own line',
      {
        informers: [informer('a', 200_000), informer('b', 130_400), unsynced('c', 700_000)],
        oldestWaitMs: 400_000,
        oldestRunningMs: 900_000,
      },
      503,
      'watch a silent for 200s\nwatch b silent for 130s\nwatch c not synced after 700s\nwork queue: a key has waited 400s\nwork queue: a reconcile has run for 900s\n',
    ],
  ])('%s', async (_name, over, status, body) => {
    const routes = healthRoutes(sources(over), LIMITS);
    expect(await routes['/healthz']!()).toEqual({ status, body });
  });

  it('judges staleness by the clock at request time', async () => {
    const routes = healthRoutes(sources({ informers: [informer('secrets', 100_000)] }), LIMITS);
    expect((await routes['/healthz']!()).status).toBe(200);
    vi.setSystemTime(NOW + 30_000);
    expect(await routes['/healthz']!()).toEqual({ status: 503, body: 'watch secrets silent for 130s\n' });
  });

  it('judges a synced informer by its success clock, not by a legacy activity clock', async () => {
    // An informer whose watch keeps answering with ERROR events: activity is fresh, success is not.
    const failing = { ...informer('secrets', 200_000), lastActivity: NOW };
    const routes = healthRoutes(sources({ informers: [failing] }), LIMITS);
    expect(await routes['/healthz']!()).toEqual({ status: 503, body: 'watch secrets silent for 200s\n' });
  });
});
