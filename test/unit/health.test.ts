import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { healthRoutes, type HealthSources } from '../../src/server/health.ts';

const NOW = Date.parse('2024-05-01T10:00:00Z');
const LIMITS = { watchStaleMs: 120_000, queueStallMs: 300_000 };

type Informer = ReturnType<HealthSources['informers']>[number];

function sources(over: Partial<{ synced: boolean; informers: Informer[]; oldestWaitMs: number }> = {}): HealthSources {
  return {
    synced: () => over.synced ?? true,
    informers: () => over.informers ?? [],
    oldestWaitMs: () => over.oldestWaitMs ?? 0,
  };
}

const informer = (name: string, silentMs: number, hasSynced = true): Informer => ({ name, lastActivity: NOW - silentMs, hasSynced });

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
  it.each<[string, Parameters<typeof sources>[0], number, string]>([
    ['no informers, empty queue', {}, 200, 'ok\n'],
    ['informers active', { informers: [informer('secrets', 1_000), informer('namespaces', 0)] }, 200, 'ok\n'],
    ['an informer silent exactly at the limit', { informers: [informer('secrets', 120_000)] }, 200, 'ok\n'],
    ['an informer silent beyond the limit', { informers: [informer('secrets', 1_000), informer('serviceaccounts', 150_000)] }, 503, 'watch serviceaccounts silent for 150s\n'],
    ['an informer not yet synced, silent beyond the limit', { informers: [informer('secrets', 600_000, false)] }, 200, 'ok\n'],
    ['healthy while not ready', { synced: false, informers: [informer('secrets', 600_000, false)] }, 200, 'ok\n'],
    ['a key waiting exactly at the limit', { oldestWaitMs: 300_000 }, 200, 'ok\n'],
    ['a key waiting beyond the limit', { oldestWaitMs: 301_000 }, 503, 'work queue: a key has waited 301s\n'],
    [
      'several problems, each on its own line',
      { informers: [informer('a', 200_000), informer('b', 130_400)], oldestWaitMs: 400_000 },
      503,
      'watch a silent for 200s\nwatch b silent for 130s\nwork queue: a key has waited 400s\n',
    ],
  ])('%s → %d', async (_name, over, status, body) => {
    const routes = healthRoutes(sources(over), LIMITS);
    expect(await routes['/healthz']!()).toEqual({ status, body });
  });

  it('judges staleness by the clock at request time', async () => {
    const routes = healthRoutes(sources({ informers: [informer('secrets', 100_000)] }), LIMITS);
    expect((await routes['/healthz']!()).status).toBe(200);
    vi.setSystemTime(NOW + 30_000);
    expect(await routes['/healthz']!()).toEqual({ status: 503, body: 'watch secrets silent for 130s\n' });
  });
});
