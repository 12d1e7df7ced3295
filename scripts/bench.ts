// make bench: the operator against a floor of the same writes on a real local control plane —
// fan-out, new-namespace latency, rotation, idle cost, memory, start-up and CPU — each figure the
// median of several runs with its spread. Prints a table and writes bench/results/<date>-<sha>.{json,md,svg}.
// The scenarios and their inputs are described in scripts/bench/; `--help` lists the options.
import { existsSync } from 'node:fs';
import { parseOptions, USAGE } from './bench/options.ts';
import { collectMeta } from './bench/report/meta.ts';
import { writeResults } from './bench/report/files.ts';
import type { RunResult } from './bench/results.ts';
import { runSize } from './bench/run-size.ts';

const options = parseOptions(process.argv.slice(2), process.env);
if (options === 'help') {
  process.stdout.write(USAGE);
  process.exit(0);
}
if (!existsSync('dist/main.js')) {
  console.error('dist/main.js is missing: run `make bench` (it builds first) or `make build`');
  process.exit(2);
}
for (const [what, size] of [['new namespaces and the CPU total', options.churnSize], ['start-up and memory', options.memorySize]] as const) {
  if (!options.sizes.includes(size)) console.error(`note: ${what} run at N=${size}, which is not among --sizes; they are skipped`);
}

const started = performance.now();
const results: RunResult[] = [];
for (const size of options.sizes) {
  for (let run = 1; run <= options.runs; run++) results.push(await runSize(options, size, run));
}
const kubernetes = results.map((r) => r.details.kubernetes).find((v): v is string => typeof v === 'string') ?? 'unknown';
const meta = collectMeta(options, kubernetes, (performance.now() - started) / 1000);
const { table, files } = writeResults(meta, results);
console.log(`\n${table}\n\n${meta.independence}.`);
const failed = results.filter((r) => r.failure);
for (const r of failed) console.log(`FAILED N=${r.size} run ${r.run}: ${r.failure}`);
console.log(`wrote ${files.join(', ')} in ${Math.round(meta.totalSeconds / 60)} min`);
process.exit(failed.length ? 1 : 0);
