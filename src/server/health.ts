// /readyz: caches have synced. /healthz: every cache is keeping up, no queued key has waited too
// long and no reconcile has run too long, so the kubelet restarts an operator that is stuck rather
// than just idle.
import type { Route } from './http.ts';

export interface InformerHealth {
  name: string;
  /** Last time the cache was known current (a list, an accepted watch, a non-ERROR event). */
  lastSuccess: number;
  hasSynced: boolean;
  /** When the informer was started; undefined while it has not been. */
  startedAt: number | undefined;
}

export interface HealthSources {
  synced(): boolean;
  informers(): InformerHealth[];
  /** Milliseconds the longest-waiting queued key has waited; 0 when none. */
  oldestWaitMs(): number;
  /** Milliseconds the longest-running reconcile has been running; 0 when none. */
  oldestRunningMs(): number;
  /** Further reasons to fail /healthz (e.g. the pod webhook not serving). */
  extraProblems?(): string[];
}

export interface HealthLimits {
  watchStaleMs: number;
  queueStallMs: number;
  runningStuckMs: number;
}

export function healthRoutes(sources: HealthSources, limits: HealthLimits): Record<string, Route> {
  return {
    '/readyz': async () => (sources.synced() ? { status: 200, body: 'ok\n' } : { status: 503, body: 'caches not synced\n' }),
    '/healthz': async () => {
      const now = Date.now();
      const seconds = (ms: number) => Math.round(ms / 1000);
      const problems: string[] = [];
      for (const i of sources.informers()) {
        if (i.hasSynced) {
          if (now - i.lastSuccess > limits.watchStaleMs) problems.push(`watch ${i.name} silent for ${seconds(now - i.lastSuccess)}s`);
        } else if (i.startedAt !== undefined && now - i.startedAt > limits.watchStaleMs) {
          // A first list that keeps failing may never succeed; a restart may be what fixes it.
          problems.push(`watch ${i.name} not synced after ${seconds(now - i.startedAt)}s`);
        }
      }
      const waited = sources.oldestWaitMs();
      if (waited > limits.queueStallMs) problems.push(`work queue: a key has waited ${seconds(waited)}s`);
      const running = sources.oldestRunningMs();
      if (running > limits.runningStuckMs) problems.push(`work queue: a reconcile has run for ${seconds(running)}s`);
      problems.push(...(sources.extraProblems?.() ?? []));
      return problems.length ? { status: 503, body: `${problems.join('\n')}\n` } : { status: 200, body: 'ok\n' };
    },
  };
}
