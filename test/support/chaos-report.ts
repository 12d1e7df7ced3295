// What each chaos file measured, written to .cluster/chaos-results/<file>.json and summed into the
// suite's one closing line by test/chaos/summary.ts.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CHAOS_RESULTS_DIR = join('.cluster', 'chaos-results');

export interface ChaosResult {
  file: string;
  seed: number;
  rounds: number;
  faults: number;
  violations: string[];
  /** Seconds from the end of each fault to the invariants holding again. */
  recoveries: number[];
  notes: string[];
}

export class ChaosReport {
  private readonly result: ChaosResult;

  get file(): string {
    return this.result.file;
  }

  constructor(file: string, seed: number) {
    this.result = { file, seed, rounds: 0, faults: 0, violations: [], recoveries: [], notes: [] };
    console.log(`chaos ${file}: seed ${seed} (replay with CHAOS_SEED=${seed})`);
    this.save();
  }

  round(): void {
    this.result.rounds++;
    this.save();
  }

  fault(what: string): void {
    this.result.faults++;
    this.note(`fault: ${what}`);
  }

  recovered(seconds: number): void {
    this.result.recoveries.push(Math.round(seconds * 100) / 100);
    this.save();
  }

  /** Records violations (prefixed with where they were seen) and returns them for the assertion. */
  violations(where: string, list: string[]): string[] {
    const shown = list.length > 25 ? [...list.slice(0, 25), `… and ${list.length - 25} more`] : list;
    for (const v of shown) this.result.violations.push(`${where}: ${v}`);
    if (list.length) console.log(`chaos ${this.result.file}: ${list.length} violations ${where}:\n  ${shown.join('\n  ')}`);
    this.save();
    return list;
  }

  note(line: string): void {
    this.result.notes.push(line);
    console.log(`chaos ${this.result.file}: ${line}`);
    this.save();
  }

  private save(): void {
    mkdirSync(CHAOS_RESULTS_DIR, { recursive: true });
    writeFileSync(join(CHAOS_RESULTS_DIR, `${this.result.file}.json`), JSON.stringify(this.result, null, 2));
  }
}

export function readResults(dir = CHAOS_RESULTS_DIR): ChaosResult[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as ChaosResult);
}

export function quantile(values: number[], q: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
