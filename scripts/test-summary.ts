// Prints one closing line for the whole `make test` run from the JSON reports of each vitest
// project: "N passed, N failed" (", N skipped" when any were skipped), and exits non-zero when
// anything failed.
//
//   node scripts/test-summary.ts DIR [PROJECT...]
//
// With project names (what `make test` passes), each one is expected to have left DIR/<project>.json
// and may have left DIR/<project>.exit (its exit code). A project without a report crashed before
// writing one (a build, global set-up or process failure): it counts as one failed test and is
// named. A project whose report records no failed test but which exited non-zero, or whose report
// says it did not succeed (a file that failed to load, an unhandled error), counts as at least one
// failure too. Without project names, every *.json in DIR is summed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Report {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  numFailedTestSuites?: number;
  success?: boolean;
}

const [dir = '.cluster/test-results', ...named] = process.argv.slice(2);
const projects = named.length
  ? named
  : existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)) : [];

let passed = 0;
let failed = 0;
let skipped = 0;
const problems: string[] = [];

for (const project of projects) {
  const reportFile = join(dir, `${project}.json`);
  const exitFile = join(dir, `${project}.exit`);
  const exitCode = existsSync(exitFile) ? Number(readFileSync(exitFile, 'utf8').trim()) : undefined;
  let report: Report | undefined;
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  } catch (err) {
    failed += 1;
    const why = existsSync(reportFile) ? `an unreadable report ${reportFile} (${(err as Error).message})` : `no report ${reportFile}`;
    problems.push(`${project}: crashed${exitCode !== undefined ? ` (exit ${exitCode})` : ''} with ${why}; counted as 1 failed`);
    continue;
  }
  passed += report.numPassedTests;
  failed += report.numFailedTests;
  skipped += report.numPendingTests + report.numTodoTests;
  if (report.numFailedTests > 0) continue;
  if (report.success === false || (report.numFailedTestSuites ?? 0) > 0) {
    const n = Math.max(1, report.numFailedTestSuites ?? 0);
    failed += n;
    problems.push(`${project}: ${n} test file(s) or the run itself failed outside any test (see its output); counted as ${n} failed`);
  } else if (exitCode !== undefined && exitCode !== 0) {
    failed += 1;
    problems.push(`${project}: exited ${exitCode} although its report records no failed test (set-up, teardown or process error); counted as 1 failed`);
  }
}

if (projects.length === 0) problems.push(`no reports in ${dir}`);
for (const p of problems) console.log(p);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || passed === 0 ? 1 : 0);
