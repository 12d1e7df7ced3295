// bench/results/<date>-<gitsha>.{json,md,svg}; a second bench of the same commit on the same day
// gets -2, -3 … rather than overwriting the first.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { aggregate, type RunResult } from '../results.ts';
import type { Meta } from './meta.ts';
import { latencySvg } from './svg.ts';
import { consoleTable, markdownReport } from './table.ts';

export function writeResults(meta: Meta, results: RunResult[]): { table: string; files: string[] } {
  mkdirSync(meta.options.outDir, { recursive: true });
  let base = `${meta.date}-${meta.gitSha}`;
  for (let i = 2; existsSync(join(meta.options.outDir, `${base}.json`)); i++) base = `${meta.date}-${meta.gitSha}-${i}`;
  const rows = aggregate(results);
  const files = { json: `${base}.json`, md: `${base}.md`, svg: `${base}.svg` };
  const write = (name: string, text: string) => writeFileSync(join(meta.options.outDir, name), text);
  write(files.json, `${JSON.stringify({ meta, rows, runs: results }, null, 1)}\n`);
  write(files.md, markdownReport(meta, rows, results, files.svg));
  write(files.svg, latencySvg(`regcred-operator latency distributions, ${meta.date}, ${meta.gitSha}`, results.flatMap((r) => r.distributions)));
  return { table: consoleTable(rows), files: Object.values(files).map((f) => join(meta.options.outDir, f)) };
}
