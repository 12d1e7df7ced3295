// One run at one size, on a control plane of its own so that no run inherits another's objects,
// history or caches. Order: namespaces → floor → controller-manager baseline → operator (warm) →
// fan-out → rotation → idle → new namespaces (at the churn size) → then, at the memory size, with
// the operator stopped and its writes taken away: unrelated Secrets → start-up and memory → the
// heap-limited run.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, createBlobs, createNamespaces, garbageCollectorKnowsCredentials, kubernetesVersion, MANAGED, namespaceNames, resetCredential, SECRET_NAME, setSourcePassword, startControlPlane } from './cluster.ts';
import { measureFloor } from './floor.ts';
import { Observer } from './observer.ts';
import { OperatorProcess } from './operator-process.ts';
import type { BenchOptions } from './options.ts';
import { Recorder, type RunResult } from './results.ts';
import { churn, CPU_GOAL_NAMESPACES } from './scenarios/churn.ts';
import { FANOUT_CREDENTIAL, seconds, STARTUP_CREDENTIAL, type RunContext } from './scenarios/context.ts';
import { fanOut } from './scenarios/fanout.ts';
import { heapLimited } from './scenarios/heap-limit.ts';
import { idle, measureBaseline } from './scenarios/idle.ts';
import { rotation } from './scenarios/rotation.ts';
import { startUp } from './scenarios/startup.ts';

export const LOG_DIR = '.cluster/bench';

export async function runSize(options: BenchOptions, size: number, run: number): Promise<RunResult> {
  const tag = `[N=${size} run ${run}]`;
  const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${tag} ${line}`);
  const rec = new Recorder(size, run);
  const started = performance.now();
  const timeoutMs = options.timeoutSeconds * 1000;
  mkdirSync(LOG_DIR, { recursive: true });
  const operators: OperatorProcess[] = [];
  let failure: string | undefined;
  log('starting a fresh control plane');
  const { cp, admin } = await startControlPlane(() => undefined);
  let ctx: RunContext | undefined;
  let observer: Observer | undefined;
  try {
    rec.details.kubernetes = await kubernetesVersion(admin);
    const passwords = { initial: `bench-initial-${run}`, rotated: `bench-rotated-${run}` };
    await setSourcePassword(admin, passwords.initial);
    observer = await Observer.start(cp.kubeconfigPath, SECRET_NAME);
    observer.expectPassword(passwords.initial);
    const base = namespaceNames('bench', size);
    let t = performance.now();
    // The garbage collector's discovery sync runs meanwhile; nothing is timed before it is done.
    await Promise.all([createNamespaces(admin, observer, base, { ...MANAGED, ...BASE }, timeoutMs), garbageCollectorKnowsCredentials(admin)]);
    log(`${size} namespaces and their default ServiceAccounts in ${seconds(performance.now() - t).toFixed(1)} s`);

    t = performance.now();
    const floor = await measureFloor(admin, base, options.concurrencies);
    rec.details.floor = floor;
    rec.add('floor', `N Secret creates + N SA patches (best of ${options.concurrencies.join('/')})`, 's', seconds(floor.fanoutMs));
    rec.add('floor', 'N Secret updates (best)', 's', seconds(floor.rotationMs));
    rec.add('floor', 'one Secret create, alone (median of 50)', 'ms', floor.secretCreateRttMs);
    rec.add('floor', 'one SA patch, alone (median of 50)', 'ms', floor.saPatchRttMs);
    log(`floor in ${seconds(performance.now() - t).toFixed(0)} s: ${floor.byConcurrency.map((c) => `c=${c.concurrency} ${seconds(c.fanoutMs).toFixed(2)}/${seconds(c.rotationMs).toFixed(2)} s`).join(', ')}`);

    log(`controller-manager baseline for ${options.baselineSeconds} s`);
    const baseline = await measureBaseline(admin, options.baselineSeconds);

    ctx = {
      options, size, kubeconfig: cp.kubeconfigPath, admin, observer, floor, base, managed: [...base], baseline, rec, timeoutMs, log,
      startOperator: async (phase, extra) => {
        const op = await OperatorProcess.start({
          kubeconfig: cp.kubeconfigPath,
          logFile: join(LOG_DIR, `operator-${size}-${run}-${phase}.log`),
          extraArgs: options.operatorArgs,
          ...extra,
          nodeArgs: [...options.operatorNodeArgs, ...(extra?.nodeArgs ?? [])],
        });
        operators.push(op);
        return op;
      },
    };

    const op = await ctx.startOperator('warm');
    await op.waitReady(timeoutMs);
    const cpuFanOut = await fanOut(ctx, op);
    const cpuRotation = await rotation(ctx, op, passwords.rotated);
    log(`idle for ${options.idleSeconds} s`);
    await idle(ctx, op, passwords.rotated);
    if (size === options.churnSize) {
      const cpuChurn = await churn(ctx, op);
      rec.add('operator CPU', 'fan-out + new namespaces + rotation', 'cpu-s', cpuFanOut + cpuChurn.all + cpuRotation);
      if (cpuChurn.first !== undefined) rec.add('operator CPU', `fan-out + ${CPU_GOAL_NAMESPACES} new namespaces + rotation`, 'cpu-s', cpuFanOut + cpuChurn.first + cpuRotation);
    }
    rec.add('operator', 'warn/error log lines (warm operator)', 'count', op.warnings());
    await op.stop();

    if (size === options.memorySize) {
      await resetCredential(admin, ctx.observer, FANOUT_CREDENTIAL, ctx.managed, timeoutMs);
      t = performance.now();
      await createBlobs(admin, base, options.blobs, options.blobKiB);
      log(`${options.blobs} unrelated ${options.blobKiB} KiB Secrets in ${seconds(performance.now() - t).toFixed(0)} s`);
      await startUp(ctx);
      await resetCredential(admin, ctx.observer, STARTUP_CREDENTIAL, ctx.managed, timeoutMs);
      await heapLimited(ctx);
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    log(`FAILED: ${failure}`);
  } finally {
    await Promise.all(operators.map((o) => o.stop()));
    await (ctx?.observer ?? observer)?.stop();
    await cp.stop();
  }
  const wallSeconds = seconds(performance.now() - started);
  log(`done in ${wallSeconds.toFixed(0)} s`);
  return { size, run, wallSeconds, measures: rec.measures, distributions: rec.distributions, details: rec.details, ...(failure ? { failure } : {}) };
}
