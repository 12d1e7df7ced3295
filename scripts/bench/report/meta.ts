// Where the numbers came from: commit, machine, versions and the options of the run.
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import type { BenchOptions } from '../options.ts';

export interface Meta {
  date: string;
  gitSha: string;
  /** Tracked files differed from the commit: the numbers are for the working tree, not the commit. */
  gitDirty: boolean;
  kubernetes: string;
  node: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  independence: string;
  options: BenchOptions;
  totalSeconds: number;
  notes: string[];
}

const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trim();

export function collectMeta(options: BenchOptions, kubernetes: string, totalSeconds: number): Meta {
  let gitSha = 'unknown';
  let gitDirty = false;
  try {
    gitSha = git('rev-parse', '--short=12', 'HEAD');
    gitDirty = git('status', '--porcelain', '--untracked-files=no').length > 0;
  } catch {
    // not a checkout
  }
  return {
    date: new Date().toISOString().slice(0, 10),
    gitSha,
    gitDirty,
    kubernetes,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    independence: 'a fresh control plane (etcd, kube-apiserver, kube-controller-manager with --kube-api-qps=1000 --kube-api-burst=2000) per size and run',
    options,
    totalSeconds,
    notes: [
      'Times are observed by the bench\'s own list+watch of Secrets (metadata.name=regcred) and `default` ServiceAccounts, never from the operator\'s logs or status.',
      'Floor: KubeClient without client-side throttle making exactly the writes (N Secret creates + N SA patches; N Secret updates) at the best of the listed concurrencies; latency floors are one write alone on a quiet server.',
      'Idle requests: apiserver_request_total has no user or user-agent label, so they are the window\'s difference on the resources the operator uses (namespaces, secrets, serviceaccounts, registrycredentials, events) minus the same from a control-plane-only window (before the operator first starts) scaled to the same length. A WATCH is counted when it ends. The operator\'s own counts (requests; watch restarts and relists) are shown beside them.',
      'Memory: RSS from /proc and heap used from nodejs_heap_size_used_bytes, 30 s after convergence (the operator has no way to force a GC; V8\'s memory reducer runs in that time). Peak RSS is the high-water mark of the whole start-up.',
      'Operator CPU is utime+stime from /proc/<pid>/stat, read 2 s after each convergence so the closing status write is included.',
    ],
  };
}
