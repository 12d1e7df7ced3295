// Where the API server's CPU goes: the floor's fan-out against the operator's, the same N Secret
// creates and N ServiceAccount patches, each under a CPU profile of kube-apiserver itself
// (/debug/pprof, served only on this control plane). For a fan-out that costs the API server more
// than the floor's writes alone: the profiles tell serving the operator's watches from handling
// its writes. Needs Go's pprof (`go tool pprof`), as the control plane's build does.
//
//   node scripts/apiserver-profile.ts N RUNS [OUT_DIR]
//     per run: the floor's fan-out at 50 in flight, then the operator's (this tree's dist/), each
//     inside one profile; prints kube-apiserver's CPU from /proc, the requests it counted, and the
//     profiles' split by handler; keeps the profiles in OUT_DIR.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { diff, scrapeRequests } from './bench/apiserver-metrics.ts';
import { createCredential, createNamespaces, forgetWebhookCertificate, garbageCollectorKnowsCredentials, MANAGED, namespaceNames, resetCredential, SECRET_NAME, setSourcePassword, startControlPlane } from './bench/cluster.ts';
import { cleanUp, floorFanout } from './bench/floor.ts';
import { Observer } from './bench/observer.ts';
import { OperatorProcess, processCpuSeconds } from './bench/operator-process.ts';
import { median, sleep } from './bench/stats.ts';

const TIMEOUT_MS = 600_000;
const FLOOR_CONCURRENCY = 50;
/** Each profile covers its fan-out with room to spare; the floor's and the operator's alike, idle rest included. */
const WINDOW_PER_1000_S = 4;

/** pprof nodes (regular expressions on the function name) whose cumulative time is reported. */
const SPLIT: Array<[string, RegExp]> = [
  ['watch serving', /handlers\.handleWatch$/],
  ['Secret create', /handlers\.CreateResource\.createHandler\.func1$/],
  ['patch', /handlers\.PatchResource\.func1$/],
  ['etcd writes', /etcd3\.\(\*store\)\.(GuaranteedUpdate|Create)$/],
  ['Go GC', /runtime\.gcBgMarkWorker$/],
  ['TLS writes', /tls\.\(\*Conn\)\.Write$/],
];

const [sizeArg, runsArg, outArg] = process.argv.slice(2);
const size = Number(sizeArg);
const runs = Number(runsArg);
if (!(size > 0) || !(runs > 0)) {
  console.error('usage: node scripts/apiserver-profile.ts N RUNS [OUT_DIR]');
  process.exit(2);
}
const out = resolve(outArg ?? mkdtempSync(join(tmpdir(), 'regcred-apiserver-profile-')));
mkdirSync(out, { recursive: true });
const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`);
const windowS = Math.max(3, Math.ceil((size / 1000) * WINDOW_PER_1000_S));

const { cp, admin } = await startControlPlane(log, { apiServerProfiling: true });
const observer = await Observer.start(cp.kubeconfigPath, SECRET_NAME);

/** A CPU profile of kube-apiserver over the next `seconds`, written to `file`. */
function profile(file: string, seconds: number): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'get', '--raw', `/debug/pprof/profile?seconds=${seconds}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pipe(createWriteStream(file));
    child.on('error', fail);
    child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`kubectl get --raw /debug/pprof/profile exited with ${code}`))));
  });
}

/** Cumulative seconds per SPLIT entry, and the profile's total, from `go tool pprof -top -cum`. */
function split(file: string): Record<string, number> {
  const text = execFileSync('go', ['tool', 'pprof', '-top', '-cum', '-nodecount=1000000', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const seconds = (s: string) => (s.endsWith('ms') ? Number(s.slice(0, -2)) / 1000 : Number(s.slice(0, -1)));
  const total = /Total samples = ([\d.]+m?s)/.exec(text);
  const result: Record<string, number> = { 'profile total': total ? seconds(total[1]!) : NaN };
  for (const [name, pattern] of SPLIT) {
    let sum = 0;
    for (const line of text.split('\n')) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 6 && pattern.test(cols.slice(5).join(' '))) sum += seconds(cols[3]!);
    }
    result[name] = Math.round(sum * 100) / 100;
  }
  return result;
}

type Row = Record<string, number>;
const rows: Record<'floor' | 'operator', Row[]> = { floor: [], operator: [] };

/** Runs `work` inside one profile and returns the API server's CPU, its request counts and the split. */
async function profiled(file: string, work: () => Promise<number>): Promise<Row> {
  const apiServerPid = cp.pidOf('kube-apiserver');
  if (apiServerPid === undefined) throw new Error('kube-apiserver is not running');
  const profiling = profile(file, windowS);
  await sleep(300);
  const requestsBefore = await scrapeRequests(admin);
  const cpu = processCpuSeconds(apiServerPid);
  const ms = await work();
  const apiServerCpuS = Math.round((processCpuSeconds(apiServerPid) - cpu) * 100) / 100;
  await profiling;
  const requests = diff(requestsBefore, await scrapeRequests(admin));
  log(`${file}: ${JSON.stringify(requests.byKey)}`);
  return { fanoutMs: Math.round(ms), apiServerCpuS, mutating: requests.mutating, ...split(file) };
}

try {
  await setSourcePassword(admin, 'initial');
  observer.expectPassword('initial');
  const namespaces = namespaceNames('bench', size);
  await Promise.all([createNamespaces(admin, observer, namespaces, MANAGED, TIMEOUT_MS), garbageCollectorKnowsCredentials(admin)]);
  for (let run = 0; run < runs; run++) {
    await sleep(2000);
    const floor = await profiled(join(out, `floor-${run}.pb.gz`), async () => (await floorFanout(admin, namespaces, FLOOR_CONCURRENCY)).fanoutMs);
    rows.floor.push(floor);
    log(`floor run ${run + 1}: ${JSON.stringify(floor)}`);
    await cleanUp(admin, namespaces);

    // A first start, as in make bench: no webhook certificate yet.
    await forgetWebhookCertificate(admin);
    const op = await OperatorProcess.start({ kubeconfig: cp.kubeconfigPath, logFile: join(out, `operator-${run}.log`), extraArgs: [] });
    await op.waitReady(60_000);
    await sleep(3000);
    const operatorCpu = op.cpuSeconds();
    const operator = await profiled(join(out, `operator-${run}.pb.gz`), async () => {
      const t0 = performance.now();
      await createCredential(admin, 'apiserver-profile', MANAGED);
      return (await op.guard(observer.waitConverged(namespaces, TIMEOUT_MS))).at - t0;
    });
    operator.operatorCpuS = Math.round((op.cpuSeconds() - operatorCpu) * 100) / 100;
    rows.operator.push(operator);
    log(`operator run ${run + 1}: ${JSON.stringify(operator)}`);
    await op.stop();
    await resetCredential(admin, observer, 'apiserver-profile', namespaces, TIMEOUT_MS);
  }
  const keys = [...new Set([...Object.keys(rows.floor[0]!), ...Object.keys(rows.operator[0]!)])];
  console.log(`N = ${size}, ${runs} runs, medians (each run's value): seconds of kube-apiserver CPU unless named`);
  console.log(`| | floor | operator |\n|---|---|---|`);
  const cell = (list: Row[], k: string) => (list[0]?.[k] === undefined ? '—' : `${median(list.map((r) => r[k]!))} (${list.map((r) => r[k]).join(', ')})`);
  for (const k of keys) console.log(`| ${k} | ${cell(rows.floor, k)} | ${cell(rows.operator, k)} |`);
  console.log(`profiles in ${out} (go tool pprof -top -cum <file>, -diff_base floor-0.pb.gz operator-0.pb.gz)`);
} finally {
  await observer.stop();
  await cp.stop();
}
