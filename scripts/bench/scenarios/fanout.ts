// Fan-out: one RegistryCredential over N namespaces that already exist, the operator warm (its
// caches synced), timed from the credential's creation to the last watch event that completes it.
import { createCredential, MANAGED } from '../cluster.ts';
import type { OperatorProcess } from '../operator-process.ts';
import { quantile, sleep } from '../stats.ts';
import { CPU_SETTLE_MS, FANOUT_CREDENTIAL, seconds, type RunContext } from './context.ts';

/** Returns the operator CPU seconds it took. */
export async function fanOut(ctx: RunContext, op: OperatorProcess): Promise<number> {
  const cpu0 = op.cpuSeconds();
  const t0 = performance.now();
  await createCredential(ctx.admin, FANOUT_CREDENTIAL, MANAGED);
  const done = await op.guard(ctx.observer.waitConverged(ctx.base, ctx.timeoutMs));
  await sleep(CPU_SETTLE_MS);
  const cpu = op.cpuSeconds() - cpu0;
  const ms = done.at - t0;
  ctx.rec.add('fan-out', 'every Secret + entry present', 's', seconds(ms), seconds(ctx.floor.fanoutMs));
  ctx.rec.add('fan-out', 'operator CPU', 'cpu-s', cpu);
  ctx.rec.distribution('fan-out: namespace done after credential created', [...done.passedAt.values()].map((t) => t - t0), { 'N creates + N patches': ctx.floor.fanoutMs });
  // When the two halves landed: a namespace is only usable once it has both.
  const views = ctx.base.map((ns) => ctx.observer.view(ns)!);
  const phase = (times: number[]) => ({ firstMs: quantile(times, 0), p50Ms: quantile(times, 0.5), lastMs: quantile(times, 1) });
  ctx.rec.details.fanOut = {
    secretAdded: phase(views.map((v) => v.secretAddedAt! - t0)),
    entryAdded: phase(views.map((v) => v.entryAt! - t0)),
    done: phase([...done.passedAt.values()].map((t) => t - t0)),
  };
  ctx.log(`fan-out: ${seconds(ms).toFixed(2)} s (floor ${seconds(ctx.floor.fanoutMs).toFixed(2)} s at c=${ctx.floor.fanoutConcurrency}), CPU ${cpu.toFixed(2)} s`);
  return cpu;
}
