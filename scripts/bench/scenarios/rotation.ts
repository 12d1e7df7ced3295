// Rotation: one patch of the source Secret's password, timed until every managed namespace's
// .dockerconfigjson carries the new password (the observer decodes the bytes).
import { setSourcePassword } from '../cluster.ts';
import type { OperatorProcess } from '../operator-process.ts';
import { sleep } from '../stats.ts';
import { CPU_SETTLE_MS, seconds, type RunContext } from './context.ts';

export async function rotation(ctx: RunContext, op: OperatorProcess, password: string): Promise<number> {
  // Expected before the patch, so no early event is judged against the old password.
  ctx.observer.expectPassword(password);
  const cpu0 = op.cpuSeconds();
  const t0 = performance.now();
  await setSourcePassword(ctx.admin, password);
  const done = await op.guard(ctx.observer.waitRotated(ctx.managed, ctx.timeoutMs));
  await sleep(CPU_SETTLE_MS);
  const cpu = op.cpuSeconds() - cpu0;
  const ms = done.at - t0;
  ctx.rec.add('rotation', 'every Secret holds the new password', 's', seconds(ms), seconds(ctx.floor.rotationMs));
  ctx.rec.add('rotation', 'operator CPU', 'cpu-s', cpu);
  ctx.rec.distribution('rotation: namespace rotated after source patched', [...done.passedAt.values()].map((t) => t - t0), { 'N updates': ctx.floor.rotationMs });
  ctx.log(`rotation: ${seconds(ms).toFixed(2)} s (floor ${seconds(ctx.floor.rotationMs).toFixed(2)} s at c=${ctx.floor.rotationConcurrency}), CPU ${cpu.toFixed(2)} s`);
  return cpu;
}
