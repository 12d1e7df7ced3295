// The operator as it ships: node with the image's flags and environment (the Dockerfile's ENTRYPOINT and ENV), dist/main.js
// and its production flags, plus what the bench reads from outside the process — /readyz, /metrics,
// and /proc for CPU and memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { freePorts } from '../../test/controlplane/controlplane.ts';
import { CREDENTIALS_NAMESPACE } from './cluster.ts';
import { sleep } from './stats.ts';

/**
 * The node flags the image runs the operator with: what stands between node and dist/main.js in
 * the Dockerfile's exec-form ENTRYPOINT.
 */
export function shippedNodeFlags(dockerfile = readFileSync('Dockerfile', 'utf8')): string[] {
  const line = dockerfile.split('\n').find((l) => l.startsWith('ENTRYPOINT '));
  if (!line) throw new Error('the Dockerfile has no ENTRYPOINT');
  const argv = JSON.parse(line.slice('ENTRYPOINT '.length)) as string[];
  const main = argv.indexOf('dist/main.js');
  if (main < 1) throw new Error(`the Dockerfile's ENTRYPOINT does not run dist/main.js: ${line}`);
  return argv.slice(1, main);
}

/**
 * The environment the image sets for the operator: the `ENV KEY=VALUE` instructions of the
 * Dockerfile's last stage, the one that runs it.
 */
export function shippedEnvironment(dockerfile = readFileSync('Dockerfile', 'utf8')): Record<string, string> {
  const lines = dockerfile.split('\n');
  const runStage = lines.slice(lines.findLastIndex((l) => l.startsWith('FROM ')));
  const env: Record<string, string> = {};
  for (const line of runStage) {
    if (!line.startsWith('ENV ')) continue;
    for (const pair of line.slice('ENV '.length).trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq < 1) throw new Error(`the Dockerfile's ENV is not in KEY=VALUE form: ${line}`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

/** utime + stime of any process so far. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may itself hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export interface OperatorStartOptions {
  kubeconfig: string;
  logFile: string;
  /** Flags from BENCH_OPERATOR_ARGS, after ours so they win. */
  extraArgs: string[];
  /** Flags for node itself, such as --max-old-space-size. */
  nodeArgs?: string[];
  /** Environment over the image's (scripts/bench-ab.ts). */
  env?: Record<string, string>;
  /** The directory whose dist/main.js runs (scripts/bench-ab.ts); this one by default. */
  cwd?: string;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class OperatorProcess {
  readonly pid: number;
  /** performance.now() just before the spawn. */
  readonly spawnedAt: number;
  readonly logFile: string;
  readonly exited: Promise<ExitInfo>;
  private exit: ExitInfo | undefined;
  private readonly child: ChildProcess;
  private readonly metricsUrl: string;
  private readonly readyUrl: string;

  private constructor(child: ChildProcess, spawnedAt: number, logFile: string, metricsPort: number, healthPort: number) {
    this.child = child;
    this.pid = child.pid!;
    this.spawnedAt = spawnedAt;
    this.logFile = logFile;
    this.metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    this.readyUrl = `http://127.0.0.1:${healthPort}/readyz`;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve((this.exit = { code, signal }))));
  }

  static async start(opts: OperatorStartOptions): Promise<OperatorProcess> {
    const [metricsPort, healthPort] = await freePorts(2);
    const out = openSync(opts.logFile, 'a');
    const args = [
      ...shippedNodeFlags(),
      ...(opts.nodeArgs ?? []),
      'dist/main.js',
      '--kubeconfig', opts.kubeconfig,
      '--credentials-namespace', CREDENTIALS_NAMESPACE,
      '--metrics-bind-address', `127.0.0.1:${metricsPort}`,
      '--health-probe-bind-address', `127.0.0.1:${healthPort}`,
      // The pod webhook runs as shipped; on a port of its own so operators of successive runs never clash.
      '--webhook-bind-address', '127.0.0.1:0',
      '--log-level', 'warn',
      ...opts.extraArgs,
    ];
    const spawnedAt = performance.now();
    // NODE_OPTIONS is cleared so the only heap limit is the one a scenario asks for.
    const child = spawn(process.execPath, args, { stdio: ['ignore', out, out], env: { ...process.env, ...shippedEnvironment(), NODE_OPTIONS: '', ...opts.env }, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    closeSync(out);
    if (!child.pid) throw new Error('the operator did not start');
    return new OperatorProcess(child, spawnedAt, opts.logFile, metricsPort!, healthPort!);
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  describeExit(): string {
    if (!this.exit) return 'running';
    // V8 prints this on stderr (into the log) when it aborts for lack of heap.
    const oom = readFileSync(this.logFile, 'utf8').includes('heap out of memory') ? 'ran out of heap and ' : '';
    return `${oom}exited (code ${this.exit.code}, signal ${this.exit.signal}); see ${this.logFile}`;
  }

  /** Time /readyz first answered 200, polled every 20 ms. */
  async waitReady(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (!this.alive) throw new Error(`operator ${this.describeExit()}`);
      try {
        const r = await fetch(this.readyUrl, { signal: AbortSignal.timeout(1000) });
        await r.arrayBuffer();
        if (r.ok) return performance.now();
      } catch {
        // not listening yet
      }
      await sleep(20);
    }
    throw new Error(`operator not ready after ${Math.round(timeoutMs / 1000)} s`);
  }

  /** Rejects when the process exits first: a wait on the cluster must not outlive the operator. */
  guard<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.exited.then(() => Promise.reject(new Error(`operator ${this.describeExit()} during the scenario`)))]);
  }

  /** utime + stime of the process so far. */
  cpuSeconds(): number {
    return processCpuSeconds(this.pid);
  }

  /** Resident set now and its high-water mark, in MiB. */
  memory(): { rssMiB: number; hwmMiB: number; anonMiB: number; fileMiB: number } {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    // RssFile is mostly node's own code, mapped from its binary; RssAnon is what the process holds.
    return { rssMiB: kib('VmRSS') / 1024, hwmMiB: kib('VmHWM') / 1024, anonMiB: kib('RssAnon') / 1024, fileMiB: kib('RssFile') / 1024 };
  }

  async metrics(): Promise<string> {
    const r = await fetch(this.metricsUrl, { signal: AbortSignal.timeout(5000) });
    return r.text();
  }

  /** Sum of a metric's samples (all label sets), from the operator's /metrics. */
  async metricSum(name: string): Promise<number> {
    const text = await this.metrics();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  /** Log lines at warn or above: a quiet operator should have none in a clean run. */
  warnings(): number {
    let count = 0;
    for (const line of readFileSync(this.logFile, 'utf8').split('\n')) {
      if (/"level":"(warn|error|fatal)"/.test(line)) count++;
    }
    return count;
  }

  async stop(): Promise<ExitInfo> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    const info = await this.exited;
    clearTimeout(timer);
    return info;
  }
}
