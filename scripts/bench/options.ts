// Bench options: flags first, then BENCH_* environment variables, then the full spec's defaults,
// so `make bench` with nothing set is the complete run and a quick one is a few flags away.
import { parseArgs } from 'node:util';

export interface BenchOptions {
  sizes: number[];
  runs: number;
  /** The size at which new-namespace latency and the operator CPU total are measured. */
  churnSize: number;
  churnRate: number;
  churnSeconds: number;
  idleSeconds: number;
  /** Controller manager alone, subtracted (scaled) from the idle window's API server counts. */
  baselineSeconds: number;
  /** The size at which start-up, memory and the heap-limited run are measured. */
  memorySize: number;
  blobs: number;
  blobKiB: number;
  heapLimitMiB: number;
  concurrencies: number[];
  timeoutSeconds: number;
  outDir: string;
  operatorArgs: string[];
  /** Node flags for every operator process, for profiling (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  operatorNodeArgs: string[];
}

const SPEC = {
  sizes: '100,1000,10000',
  runs: '3',
  'churn-size': '1000',
  'churn-rate': '10',
  'churn-seconds': '60',
  'idle-seconds': '300',
  'baseline-seconds': '60',
  'memory-size': '',
  blobs: '',
  'blob-kib': '64',
  'heap-limit-mib': '256',
  concurrencies: '10,25,50,100',
  'timeout-seconds': '1200',
  out: 'bench/results',
} as const;

type Key = keyof typeof SPEC;

export const USAGE = `make bench [ARGS='…']    or    node scripts/bench.ts [flags]

  --sizes 100,1000,10000     namespaces per fan-out (each size and run on a fresh control plane)
  --runs 3                   runs per size; figures are the median with min–max
  --churn-size 1000          size at which new namespaces arrive and operator CPU is totalled
  --churn-rate 10            new namespaces per second
  --churn-seconds 60
  --idle-seconds 300         idle window after convergence
  --baseline-seconds 60      controller-manager-only window subtracted from the idle counts
  --memory-size N            size for start-up, memory and the heap-limited run (default: largest size)
  --blobs N                  unrelated Secrets present for those (default: the memory size)
  --blob-kib 64
  --heap-limit-mib 256       --max-old-space-size of the heap-limited run
  --concurrencies 10,25,50,100   the floor's concurrencies; the best one is kept
  --timeout-seconds 1200     longest wait for any convergence
  --out bench/results
Every flag may also be given as BENCH_<FLAG> (e.g. BENCH_SIZES=100,1000); extra operator flags
come from BENCH_OPERATOR_ARGS and extra Node flags (such as --cpu-prof --cpu-prof-dir=DIR, to
profile) from BENCH_OPERATOR_NODE_ARGS (both split on spaces).
`;

const envName = (k: string) => `BENCH_${k.replace(/-/g, '_').toUpperCase()}`;

function numbers(key: Key, raw: string): number[] {
  const list = raw.split(',').map((s) => Number(s.trim()));
  if (!list.length || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--${key}: expected positive integers, got "${raw}"`);
  return list;
}

function number(key: Key, raw: string, min = 0): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${key}: expected a number >= ${min}, got "${raw}"`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  const keys = Object.keys(SPEC) as Key[];
  const { values } = parseArgs({
    args: argv,
    options: { ...Object.fromEntries(keys.map((k) => [k, { type: 'string' } as const])), help: { type: 'boolean' } },
    strict: true,
  });
  if (values.help) return 'help';
  const given = values as Record<string, string | boolean | undefined>;
  const get = (k: Key): string => (given[k] as string | undefined) ?? env[envName(k)] ?? SPEC[k];
  const sizes = numbers('sizes', get('sizes'));
  const memorySize = get('memory-size') ? number('memory-size', get('memory-size'), 1) : Math.max(...sizes);
  return {
    sizes,
    runs: number('runs', get('runs'), 1),
    churnSize: number('churn-size', get('churn-size'), 1),
    churnRate: number('churn-rate', get('churn-rate'), 0.1),
    churnSeconds: number('churn-seconds', get('churn-seconds'), 1),
    idleSeconds: number('idle-seconds', get('idle-seconds'), 1),
    baselineSeconds: number('baseline-seconds', get('baseline-seconds'), 1),
    memorySize,
    blobs: get('blobs') ? number('blobs', get('blobs')) : memorySize,
    blobKiB: number('blob-kib', get('blob-kib'), 1),
    heapLimitMiB: number('heap-limit-mib', get('heap-limit-mib'), 16),
    concurrencies: numbers('concurrencies', get('concurrencies')),
    timeoutSeconds: number('timeout-seconds', get('timeout-seconds'), 1),
    outDir: get('out'),
    operatorArgs: (env.BENCH_OPERATOR_ARGS ?? '').split(/\s+/).filter(Boolean),
    operatorNodeArgs: (env.BENCH_OPERATOR_NODE_ARGS ?? '').split(/\s+/).filter(Boolean),
  };
}
