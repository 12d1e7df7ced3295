// make bench-ab: two or more builds of the operator side by side on one control plane, their runs
// interleaved (A B, B A, A B, …) so that a slow minute of the machine falls on both. For a change
// whose effect is smaller than the noise between separate `make bench` runs. Each build is a
// directory holding a built dist/ (a git worktree, say); all run with the image's node flags and
// environment as this tree's Dockerfile has them.
//
//   node scripts/bench-ab.ts fanout  N RUNS name=DIR[,--operator-flag…][,node:--node-flag…][,env:KEY=VALUE…] name=DIR…
//     floor once (and again at the end), then per run and build: fan-out, its operator CPU,
//     rotation, its operator CPU, RSS 2 s and 30 s after rotation.
//   node scripts/bench-ab.ts startup N RUNS name=DIR… (N namespaces and N unrelated 64 KiB Secrets)
//     per run and build: start the operator with the credential in place; ready, converged, RSS and
//     peak RSS 30 s after convergence.
//   node scripts/bench-ab.ts floor N RUNS name=DIR…
//     per run and build: the floor (scripts/bench/floor.ts) with that build's own KubeClient, for a
//     change to the client the floor shares with the operator.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BASE, createBlobs, createCredential, createNamespaces, forgetWebhookCertificate, garbageCollectorKnowsCredentials, MANAGED, namespaceNames, resetCredential, SECRET_NAME, setSourcePassword, startControlPlane } from './bench/cluster.ts';
import { measureFloor } from './bench/floor.ts';
import { Observer } from './bench/observer.ts';
import { OperatorProcess } from './bench/operator-process.ts';
import { median, sleep } from './bench/stats.ts';

const TIMEOUT_MS = 600_000;
const SETTLE_MS = 30_000;

const [scenario, sizeArg, runsArg, ...buildArgs] = process.argv.slice(2);
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
const logs = mkdtempSync(join(tmpdir(), 'regcred-bench-ab-'));
const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${line}`);

type Row = Record<string, number>;
const rows = new Map<string, Row[]>(builds.map((b) => [b.name, []]));

const { cp, admin } = await startControlPlane(log);
const observer = await Observer.start(cp.kubeconfigPath, SECRET_NAME);
try {
  await setSourcePassword(admin, 'initial');
  observer.expectPassword('initial');
  const namespaces = namespaceNames('bench', size);
  await Promise.all([createNamespaces(admin, observer, namespaces, { ...MANAGED, ...BASE }, TIMEOUT_MS), garbageCollectorKnowsCredentials(admin)]);
  log(`${size} namespaces`);
  const floor = scenario === 'fanout' ? await measureFloor(admin, namespaces, [50, 100]) : undefined;
  if (floor) log(`floor: fan-out ${floor.fanoutMs.toFixed(0)} ms, rotation ${floor.rotationMs.toFixed(0)} ms`);
  if (scenario === 'startup') await createBlobs(admin, namespaces, size, 64);
  for (let run = 0; run < runs; run++) {
    for (const build of run % 2 ? [...builds].reverse() : builds) {
      const start = () => OperatorProcess.start({ kubeconfig: cp.kubeconfigPath, logFile: join(logs, `${build.name}-${run}.log`), extraArgs: build.flags, nodeArgs: build.nodeFlags, env: build.env, cwd: build.dir });
      const row =
        scenario === 'fanout' ? await fanout(start, namespaces, `${build.name}-${run}`) : scenario === 'startup' ? await startup(start, namespaces) : await floorOf(build.dir, namespaces);
      rows.get(build.name)!.push(row);
      log(`${build.name} run ${run + 1}: ${Object.entries(row).map(([k, v]) => `${k} ${v}`).join(', ')}`);
    }
  }
  if (floor) {
    const again = await measureFloor(admin, namespaces, [50, 100]);
    console.log(`floor (N=${size}): fan-out ${floor.fanoutMs.toFixed(0)} ms, rotation ${floor.rotationMs.toFixed(0)} ms; at the end ${again.fanoutMs.toFixed(0)} / ${again.rotationMs.toFixed(0)} ms`);
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

async function fanout(start: () => Promise<OperatorProcess>, namespaces: string[], tag: string): Promise<Row> {
  const [before, after] = [`pw-${tag}-a`, `pw-${tag}-b`];
  await setSourcePassword(admin, before);
  observer.expectPassword(before);
  // Every start a first one, as in make bench (a fresh control plane per size).
  await forgetWebhookCertificate(admin);
  const op = await start();
  await op.waitReady(60_000);
  await sleep(1000);
  let cpu = op.cpuSeconds();
  let t0 = performance.now();
  await createCredential(admin, 'bench-ab', MANAGED);
  const fanoutMs = (await op.guard(observer.waitConverged(namespaces, TIMEOUT_MS))).at - t0;
  await sleep(2000);
  const fanoutCpu = op.cpuSeconds() - cpu;
  observer.expectPassword(after);
  cpu = op.cpuSeconds();
  t0 = performance.now();
  await setSourcePassword(admin, after);
  const rotationMs = (await op.guard(observer.waitRotated(namespaces, TIMEOUT_MS))).at - t0;
  await sleep(2000);
  const row: Row = { fanoutMs: Math.round(fanoutMs), fanoutCpuS: round2(fanoutCpu), rotationMs: Math.round(rotationMs), rotationCpuS: round2(op.cpuSeconds() - cpu), rssMiB: Math.round(op.memory().rssMiB) };
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
  const op = await start();
  const ready = (await op.waitReady(60_000)) - op.spawnedAt;
  const converged = (await op.guard(observer.waitConverged(namespaces, TIMEOUT_MS))).at - op.spawnedAt;
  await sleep(SETTLE_MS);
  const { rssMiB, hwmMiB, anonMiB, fileMiB } = op.memory();
  const row = { readyS: round2(ready / 1000), convergedS: round2(converged / 1000), rssMiB: Math.round(rssMiB), anonMiB: Math.round(anonMiB), fileMiB: Math.round(fileMiB), peakMiB: Math.round(hwmMiB), heapUsedMiB: Math.round((await op.metricSum('nodejs_heap_size_used_bytes')) / 2 ** 20) };
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
