// /readyz: caches have synced. /healthz: no cache has gone silent beyond its limit and no queued key
// has waited too long, so the kubelet restarts an operator that is stuck rather than just idle.
import type { Route } from './http.ts';

export interface HealthSources {
  synced(): boolean;
  informers(): Array<{ name: string; lastActivity: number; hasSynced: boolean }>;
  oldestWaitMs(): number;
}

export interface HealthLimits {
  watchStaleMs: number;
  queueStallMs: number;
}

export function healthRoutes(sources: HealthSources, limits: HealthLimits): Record<string, Route> {
  return {
    '/readyz': async () => (sources.synced() ? { status: 200, body: 'ok\n' } : { status: 503, body: 'caches not synced\n' }),
    '/healthz': async () => {
      const now = Date.now();
      const problems = sources
        .informers()
        .filter((i) => i.hasSynced && now - i.lastActivity > limits.watchStaleMs)
        .map((i) => `watch ${i.name} silent for ${Math.round((now - i.lastActivity) / 1000)}s`);
      const waited = sources.oldestWaitMs();
      if (waited > limits.queueStallMs) problems.push(`work queue: a key has waited ${Math.round(waited / 1000)}s`);
      return problems.length ? { status: 503, body: `${problems.join('\n')}\n` } : { status: 200, body: 'ok\n' };
    },
  };
}
