// Start-up and memory: the credential and N namespaces (and the unrelated Secrets) exist before the
// process starts; timed from the spawn to /readyz 200 and to the first full convergence. Memory is
// read once the work is done and V8's memory reducer has had its turn (it starts 8 s after the last
// full GC of a burst): RSS and its high-water mark from /proc, and the V8 heap as the operator's
// /metrics reports it. The operator offers no way to force a GC; the reducer's GCs are the GC.
import { BASE, createCredential } from '../cluster.ts';
import { sleep } from '../stats.ts';
import { seconds, STARTUP_CREDENTIAL, type RunContext } from './context.ts';

const MEMORY_SETTLE_MS = 30_000;

export async function startUp(ctx: RunContext): Promise<void> {
  await createCredential(ctx.admin, STARTUP_CREDENTIAL, BASE);
  const op = await ctx.startOperator('start-up');
  try {
    const ready = await op.waitReady(ctx.timeoutMs);
    const done = await op.guard(ctx.observer.waitConverged(ctx.base, ctx.timeoutMs));
    const floor = seconds(ctx.floor.fanoutMs);
    ctx.rec.add('start-up', 'process start → /readyz 200', 's', seconds(ready - op.spawnedAt));
    ctx.rec.add('start-up', 'process start → converged', 's', seconds(done.at - op.spawnedAt), floor);
    ctx.rec.add('start-up', '/readyz 200 → converged', 's', seconds(done.at - ready), floor);
    ctx.rec.distribution('start-up: namespace done after process start', [...done.passedAt.values()].map((t) => t - op.spawnedAt), { 'N creates + N patches': ctx.floor.fanoutMs });
    await sleep(MEMORY_SETTLE_MS);
    const mem = op.memory();
    const mib = async (metric: string) => (await op.metricSum(metric)) / 2 ** 20;
    const heap = await mib('nodejs_heap_size_used_bytes');
    ctx.rec.add('memory', 'RSS (VmRSS)', 'MiB', mem.rssMiB);
    ctx.rec.add('memory', 'peak RSS (VmHWM)', 'MiB', mem.hwmMiB);
    ctx.rec.add('memory', 'heap used (30 s after convergence)', 'MiB', heap);
    // Where RSS beyond the used heap sits: heap V8 has reserved, and memory outside the heap.
    ctx.rec.add('memory', 'heap total (V8)', 'MiB', await mib('nodejs_heap_size_total_bytes'));
    ctx.rec.add('memory', 'external (buffers outside the heap)', 'MiB', await mib('nodejs_external_memory_bytes'));
    ctx.log(`start-up: ready ${seconds(ready - op.spawnedAt).toFixed(2)} s, converged ${seconds(done.at - op.spawnedAt).toFixed(2)} s; RSS ${mem.rssMiB.toFixed(0)} MiB, peak ${mem.hwmMiB.toFixed(0)} MiB, heap ${heap.toFixed(0)} MiB`);
  } finally {
    await op.stop();
  }
}
