// The operator under a V8 heap limit (--max-old-space-size) converging over N namespaces from a
// cold start: it must get there without running out of heap.
import { BASE, createCredential } from '../cluster.ts';
import { HEAP_LIMIT_CREDENTIAL, seconds, type RunContext } from './context.ts';

export async function heapLimited(ctx: RunContext): Promise<void> {
  const limit = ctx.options.heapLimitMiB;
  await createCredential(ctx.admin, HEAP_LIMIT_CREDENTIAL, BASE);
  const op = await ctx.startOperator('heap-limit', { nodeArgs: [`--max-old-space-size=${limit}`] });
  const scenario = `heap limit ${limit} MiB`;
  try {
    const done = await op.guard(ctx.observer.waitConverged(ctx.base, ctx.timeoutMs));
    const mem = op.memory();
    ctx.rec.add(scenario, 'process start → converged', 's', seconds(done.at - op.spawnedAt), seconds(ctx.floor.fanoutMs));
    ctx.rec.add(scenario, 'peak RSS (VmHWM)', 'MiB', mem.hwmMiB);
    ctx.log(`${scenario}: converged in ${seconds(done.at - op.spawnedAt).toFixed(2)} s, peak RSS ${mem.hwmMiB.toFixed(0)} MiB`);
  } catch (err) {
    ctx.rec.fail(scenario, 'process start → converged', 's', op.alive ? (err as Error).message : `operator ${op.describeExit()}`);
    ctx.log(`${scenario}: FAILED ${(err as Error).message}`);
  } finally {
    await op.stop();
  }
}
