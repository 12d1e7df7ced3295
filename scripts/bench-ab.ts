// make bench-ab: two or more builds of the operator side by side on one control plane, their runs
// interleaved (A B, B A, A B, …) so that a slow minute of the machine falls on both. For a change
// whose effect is smaller than the noise between separate `make bench` runs. Each build is a
// directory holding a built dist/ (a git worktree, say); all run with the image's node flags and
// environment as this tree's Dockerfile has them.
//
//   node scripts/bench-ab.ts fanout  N RUNS name=DIR[,--operator-flag…][,node:--node-flag…][,env:KEY=VALUE…] name=DIR…
//     per run the floor, then per build: fan-out, its ratio to that run's floor, its operator CPU,
//     rotation, its ratio, its operator CPU, RSS 2 s and 30 s after rotation.
//   node scripts/bench-ab.ts startup N RUNS name=DIR… (N namespaces and N unrelated 64 KiB Secrets)
//     per run and build: start the operator with the credential in place, as a first install (no
//     webhook certificate or configuration yet); ready, the webhook's configuration in place,
//     converged, RSS and peak RSS 30 s after convergence.
//   node scripts/bench-ab.ts floor N RUNS name=DIR…
//     per run and build: the floor (scripts/bench/floor.ts) with that build's own KubeClient, for a
//     change to the client the floor shares with the operator.
//   --pin (anywhere in the arguments): the control plane on CPU 0, this process, its watches, the
//     floor and the operator on CPU 1, to see the operator's pace when it does not take the API
//     server's CPU (on this project's 2-core machine they otherwise share both).
// Fan-out rows also give, from the credential's creation (or the rotation) to convergence (the
// floor's rows: over its best fan-out and rotation), the control plane's CPU (kube-apiserver, etcd,
// controller manager), this process's CPU (the observer; the floor's client too in its rows) and
// the TCP connections opened meanwhile.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BASE, createBlobs, createCredential, createNamespaces, forgetWebhook, forgetWebhookCertificate, garbageCollectorKnowsCredentials, MANAGED, namespaceNames, resetCredential, SECRET_NAME, setSourcePassword, startControlPlane, webhookConfigured } from './bench/cluster.ts';
import { measureFloor, since, type Metered } from './bench/floor.ts';
import { Observer } from './bench/observer.ts';
import { OperatorProcess, processCpuSeconds } from './bench/operator-process.ts';
import { median, sleep } from './bench/stats.ts';

const TIMEOUT_MS = 600_000;
const SETTLE_MS = 30_000;

const args = process.argv.slice(2);
const pin = args.includes('--pin');
const [scenario, sizeArg, runsArg, ...buildArgs] = args.filter((a) => a !== '--pin');
const size = Number(sizeArg);
const runs = Number(runsArg);
if (!['fanout', 'startup', 'floor'].includes(scenario ?? '') || !(size > 0) || !(runs > 0) || buildArgs.length < 1) {
  console.error('usage: node scripts/bench-ab.ts fanout|startup|floor N RUNS name=DIR[,--operator-flag…] …');
  process.exit(2);
}
const builds = buildArgs.map((arg) => {
  const eq = arg.indexOf('=');
  const [dir, ...flags] = arg.slice(eq + 1).split(',');
  // node:--flag goes to node itself, after the image's flags (--cpu-prof, another heap setting);
  // env:KEY=VALUE to its environment, over the image's (a malloc setting, say).
  const prefixed = (prefix: string) => flags.filter((f) => f.startsWith(prefix)).map((f) => f.slice(prefix.length));
  const env = Object.fromEntries(prefixed('env:').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  return { name: arg.slice(0, eq), dir: dir!, flags: flags.filter((f) => !/^(node|env):/.test(f)), nodeFlags: prefixed('node:'), env };
});
if (scenario === 'fanout' && builds.some((b) => b.name === 'floor')) {
  console.error('bench-ab: "floor" names the floor\'s own rows; give the build another name');
  process.exit(2);
}
const logs = mkdtempSync(join(tmpdir(), 'regcred-bench-ab-'));
const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`);

type Row = Record<string, number>;
const rows = new Map<string, Row[]>([...(scenario === 'fanout' ? ['floor'] : []), ...builds.map((b) => b.name)].map((name) => [name, []]));

const { cp, admin } = await startControlPlane(log);
const CONTROL_PLANE = { Apiserver: 'kube-apiserver', Etcd: 'etcd', ControllerManager: 'kube-controller-manager' };
/** CPU seconds so far of each control-plane process and of this one, and TCP connections opened. */
const meter = (): Metered => ({
  ...Object.fromEntries(Object.entries(CONTROL_PLANE).map(([field, binary]) => [`${field}CpuS`, processCpuSeconds(cp.pidOf(binary)!)])),
  TcpConnects: tcpActiveOpens(),
  // This process: the observer's watches, and in the floor's rows the floor's own client as well.
  BenchCpuS: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
});
/** A difference of two readings as row fields: fanoutApiserverCpuS, … */
const asFields = (prefix: string, metered: Metered): Row => Object.fromEntries(Object.entries(metered).map(([k, v]) => [prefix + k, round2(v)]));
if (pin) {
  // -a: every thread; the operator, started later, inherits this process's CPU.
  for (const binary of Object.values(CONTROL_PLANE)) execFileSync('taskset', ['-a', '-p', '-c', '0', String(cp.pidOf(binary))], { stdio: 'ignore' });
  execFileSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  log('pinned: the control plane on CPU 0, the bench and the operator on CPU 1');
}
const observer = await Observer.start(cp.kubeconfigPath, SECRET_NAME);
try {
  await setSourcePassword(admin, 'initial');
  observer.expectPassword('initial');
  const namespaces = namespaceNames('bench', size);
  await Promise.all([createNamespaces(admin, observer, namespaces, { ...MANAGED, ...BASE }, TIMEOUT_MS), garbageCollectorKnowsCredentials(admin)]);
  log(`${size} namespaces`);
  if (scenario === 'startup') await createBlobs(admin, namespaces, size, 64);
  for (let run = 0; run < runs; run++) {
    // The floor again in every run, so each run's times have a ratio to a floor of the same minutes.
    const floor = scenario === 'fanout' ? await floorRow(namespaces) : undefined;
    if (floor) {
      rows.get('floor')!.push(floor);
      log(`floor run ${run + 1}: ${Object.entries(floor).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
    for (const build of run % 2 ? [...builds].reverse() : builds) {
      const start = () => OperatorProcess.start({ kubeconfig: cp.kubeconfigPath, logFile: join(logs, `${build.name}-${run}.log`), extraArgs: build.flags, nodeArgs: build.nodeFlags, env: build.env, cwd: build.dir });
      const row =
        scenario === 'fanout' ? await fanout(start, namespaces, `${build.name}-${run}`, floor!) : scenario === 'startup' ? await startup(start, namespaces) : await floorOf(build.dir, namespaces);
      rows.get(build.name)!.push(row);
      log(`${build.name} run ${run + 1}: ${Object.entries(row).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  }
  for (const [name, list] of rows) {
    const keys = Object.keys(list[0] ?? {});
    console.log(`${name}: ${keys.map((k) => `${k} ${median(list.map((r) => r[k]!))} (${list.map((r) => r[k]).join(', ')})`).join('; ')}`);
  }
  console.log(`operator logs in ${logs}`);
} finally {
  await observer.stop();
  await cp.stop();
}

/** TCP connections this machine has opened so far (loopback: every client on it, the operator's included). */
function tcpActiveOpens(): number {
  const [names, values] = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Tcp:'));
  return Number(values!.split(/\s+/)[names!.split(/\s+/).indexOf('ActiveOpens')]);
}

/** The floor's best fan-out and rotation, and the meter's readings over each. */
async function floorRow(namespaces: string[]): Promise<Row> {
  const floor = await measureFloor(admin, namespaces, [50, 100], meter);
  return {
    fanoutMs: Math.round(floor.fanoutMs),
    ...asFields('fanout', floor.fanoutMetered!),
    rotationMs: Math.round(floor.rotationMs),
    ...asFields('rotation', floor.rotationMetered!),
  };
}

async function fanout(start: () => Promise<OperatorProcess>, namespaces: string[], tag: string, floor: Row): Promise<Row> {
  const [before, after] = [`pw-${tag}-a`, `pw-${tag}-b`];
  await setSourcePassword(admin, before);
  observer.expectPassword(before);
  // Every start a first one, as in make bench (a fresh control plane per size).
  await forgetWebhookCertificate(admin);
  const op = await start();
  await op.waitReady(60_000);
  await sleep(1000);
  let cpu = op.cpuSeconds();
  let metered = meter();
  let t0 = performance.now();
  await createCredential(admin, 'bench-ab', MANAGED);
  const fanoutMs = (await op.guard(observer.waitConverged(namespaces, TIMEOUT_MS))).at - t0;
  const fanoutMetered = since(metered, meter());
  await sleep(2000);
  const fanoutCpu = op.cpuSeconds() - cpu;
  observer.expectPassword(after);
  cpu = op.cpuSeconds();
  metered = meter();
  t0 = performance.now();
  await setSourcePassword(admin, after);
  const rotationMs = (await op.guard(observer.waitRotated(namespaces, TIMEOUT_MS))).at - t0;
  const rotationMetered = since(metered, meter());
  await sleep(2000);
  const row: Row = {
    fanoutMs: Math.round(fanoutMs),
    fanoutRatio: round2(fanoutMs / floor.fanoutMs!),
    fanoutCpuS: round2(fanoutCpu),
    ...asFields('fanout', fanoutMetered),
    rotationMs: Math.round(rotationMs),
    rotationRatio: round2(rotationMs / floor.rotationMs!),
    rotationCpuS: round2(op.cpuSeconds() - cpu),
    ...asFields('rotation', rotationMetered),
    rssMiB: Math.round(op.memory().rssMiB),
  };
  // And once the writes' garbage is collected and idle connections are closed.
  await sleep(SETTLE_MS);
  const settled = op.memory();
  row.settledRssMiB = Math.round(settled.rssMiB);
  row.settledAnonMiB = Math.round(settled.anonMiB);
  await op.stop();
  await resetCredential(admin, observer, 'bench-ab', namespaces, TIMEOUT_MS);
  return row;
}

async function startup(start: () => Promise<OperatorProcess>, namespaces: string[]): Promise<Row> {
  observer.expectPassword('initial');
  await setSourcePassword(admin, 'initial');
  await createCredential(admin, 'bench-ab', BASE);
  // A first install: the leader makes the webhook's certificates and publishes its configuration.
  await forgetWebhook(admin);
  const op = await start();
  const [readyAt, configuredAt] = await Promise.all([op.waitReady(60_000), op.guard(webhookConfigured(admin, 60_000))]);
  const ready = readyAt - op.spawnedAt;
  const webhook = configuredAt - op.spawnedAt;
  const converged = (await op.guard(observer.waitConverged(namespaces, TIMEOUT_MS))).at - op.spawnedAt;
  await sleep(SETTLE_MS);
  const { rssMiB, hwmMiB, anonMiB, fileMiB } = op.memory();
  const row = { readyS: round2(ready / 1000), webhookS: round2(webhook / 1000), convergedS: round2(converged / 1000), rssMiB: Math.round(rssMiB), anonMiB: Math.round(anonMiB), fileMiB: Math.round(fileMiB), peakMiB: Math.round(hwmMiB), heapUsedMiB: Math.round((await op.metricSum('nodejs_heap_size_used_bytes')) / 2 ** 20) };
  await op.stop();
  await resetCredential(admin, observer, 'bench-ab', namespaces, TIMEOUT_MS);
  return row;
}

/** The floor as a build measures it: its floor.ts and its KubeClient, loaded from its directory. */
async function floorOf(dir: string, namespaces: string[]): Promise<Row> {
  const root = resolve(dir);
  const { measureFloor: measure } = (await import(join(root, 'scripts/bench/floor.ts'))) as typeof import('./bench/floor.ts');
  const { KubeClient } = (await import(join(root, 'src/kube/client.ts'))) as typeof import('../src/kube/client.ts');
  const result = await measure(KubeClient.load(cp.kubeconfigPath), namespaces, [50, 100]);
  return { fanoutMs: Math.round(result.fanoutMs), rotationMs: Math.round(result.rotationMs) };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
