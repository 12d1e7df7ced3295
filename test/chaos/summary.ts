// Prints the chaos suite's one closing line from the files' results; exits 1 when any invariant was
// violated or no file reported. Run by `make chaos` / `make test-chaos` after vitest.
import { quantile, readResults } from '../support/chaos-report.ts';

const results = readResults();
const rounds = results.reduce((n, r) => n + r.rounds, 0);
const faults = results.reduce((n, r) => n + r.faults, 0);
const violations = results.flatMap((r) => r.violations);
const recoveries = results.flatMap((r) => r.recoveries);
const seeds = [...new Set(results.map((r) => r.seed))].join(',');
const failing = results.filter((r) => r.violations.length).map((r) => r.file);
console.log(
  `chaos: ${results.length} files, ${rounds} rounds, ${faults} faults injected, ${violations.length} invariant violations` +
    `${failing.length ? ` (in ${failing.join(', ')})` : ''}, recovery p50 ${quantile(recoveries, 0.5).toFixed(1)} s / max ${Math.max(0, ...recoveries).toFixed(1)} s, seed ${seeds || '-'}`,
);
process.exit(results.length === 0 || violations.length > 0 ? 1 : 0);
