// What a run records and how runs are folded into one row per figure: the median with min–max,
// and for times the ratio to the floor of the same run, itself as median with min–max.
import { cdfPoints, spread, type Spread } from './stats.ts';

export type Unit = 's' | 'ms' | 'MiB' | 'requests' | 'cpu-s' | 'count';

export interface Measure {
  scenario: string;
  size: number;
  metric: string;
  unit: Unit;
  /** NaN when the scenario failed; `failed` says why. */
  value: number;
  /** The floor for the same work in the same run, same unit; the ratio is value / floor. */
  floor?: number;
  failed?: string;
}

/** A latency distribution as 201 quantiles (every half percent), in ms. */
export interface Distribution {
  name: string;
  size: number;
  run: number;
  count: number;
  quantilesMs: number[];
  /** Floor lines drawn on the chart. */
  floorsMs?: Record<string, number>;
}

export interface RunResult {
  size: number;
  run: number;
  wallSeconds: number;
  measures: Measure[];
  distributions: Distribution[];
  details: Record<string, unknown>;
  failure?: string;
}

export class Recorder {
  readonly measures: Measure[] = [];
  readonly distributions: Distribution[] = [];
  readonly details: Record<string, unknown> = {};
  private readonly size: number;
  private readonly run: number;

  constructor(size: number, run: number) {
    this.size = size;
    this.run = run;
  }

  add(scenario: string, metric: string, unit: Unit, value: number, floor?: number): void {
    this.measures.push({ scenario, size: this.size, metric, unit, value, ...(floor !== undefined ? { floor } : {}) });
  }

  fail(scenario: string, metric: string, unit: Unit, reason: string): void {
    this.measures.push({ scenario, size: this.size, metric, unit, value: NaN, failed: reason });
  }

  distribution(name: string, valuesMs: number[], floorsMs?: Record<string, number>): void {
    this.distributions.push({ name, size: this.size, run: this.run, count: valuesMs.length, quantilesMs: cdfPoints(valuesMs), ...(floorsMs ? { floorsMs } : {}) });
  }
}

export interface Row {
  scenario: string;
  size: number;
  metric: string;
  unit: Unit;
  runs: number;
  value: Spread;
  floor?: Spread;
  ratio?: Spread;
  failures: string[];
}

export function aggregate(results: RunResult[]): Row[] {
  const rows = new Map<string, { first: Measure; all: Measure[] }>();
  for (const m of results.flatMap((r) => r.measures)) {
    const key = `${m.scenario}\0${m.size}\0${m.metric}`;
    const entry = rows.get(key) ?? { first: m, all: [] };
    entry.all.push(m);
    rows.set(key, entry);
  }
  return [...rows.values()].map(({ first, all }) => {
    const withFloor = all.filter((m) => m.floor !== undefined && Number.isFinite(m.value));
    return {
      scenario: first.scenario,
      size: first.size,
      metric: first.metric,
      unit: first.unit,
      runs: all.length,
      value: spread(all.map((m) => m.value)),
      ...(withFloor.length
        ? { floor: spread(withFloor.map((m) => m.floor!)), ratio: spread(withFloor.map((m) => m.value / m.floor!)) }
        : {}),
      failures: all.filter((m) => m.failed).map((m) => m.failed!),
    };
  });
}
