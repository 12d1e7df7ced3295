// What every scenario of one (size, run) shares: the cluster, the observer, the floor and the recorder.
import type { KubeClient } from '../../../src/kube/client.ts';
import type { RequestSummary } from '../apiserver-metrics.ts';
import type { FloorResult } from '../floor.ts';
import type { Observer } from '../observer.ts';
import type { BenchOptions } from '../options.ts';
import type { OperatorProcess, OperatorStartOptions } from '../operator-process.ts';
import type { Recorder } from '../results.ts';

export interface RunContext {
  options: BenchOptions;
  size: number;
  kubeconfig: string;
  admin: KubeClient;
  /** Replaced when a scenario has to stop watching (the idle window). */
  observer: Observer;
  floor: FloorResult;
  /** The N namespaces every scenario starts from. */
  base: string[];
  /** Everything the fan-out credential selects: the base set and, after churn, the new namespaces. */
  managed: string[];
  /** Controller manager alone, for the idle window's API server counts. */
  baseline: { seconds: number; requests: RequestSummary; all: RequestSummary };
  rec: Recorder;
  timeoutMs: number;
  log: (line: string) => void;
  startOperator: (phase: string, extra?: Partial<OperatorStartOptions>) => Promise<OperatorProcess>;
}

export const FANOUT_CREDENTIAL = 'bench-fanout';
export const STARTUP_CREDENTIAL = 'bench-startup';
export const HEAP_LIMIT_CREDENTIAL = 'bench-heap-limit';

/** The operator finishes its reconcile (status, events) just after the last write lands. */
export const CPU_SETTLE_MS = 2000;

export const seconds = (ms: number) => ms / 1000;
