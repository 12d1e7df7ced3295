// New-namespace latency: with N namespaces managed, namespaces arrive at a steady rate (open loop:
// each is created on schedule whether or not the previous one has been answered). Per namespace:
// its `default` ServiceAccount's ADDED event → the event showing our entry, and the namespace POST
// → the Secret's ADDED event.
import { RESOURCES } from '../../../src/kube/client.ts';
import { MANAGED, namespaceNames } from '../cluster.ts';
import type { OperatorProcess } from '../operator-process.ts';
import { quantile, sleep } from '../stats.ts';
import { CPU_SETTLE_MS, seconds, type RunContext } from './context.ts';

/** The CPU goal counts this many new namespaces (the latency run creates more). */
export const CPU_GOAL_NAMESPACES = 60;

export interface ChurnCpu {
  /** Operator CPU seconds for every new namespace of the run. */
  all: number;
  /** Operator CPU seconds until the first CPU_GOAL_NAMESPACES new namespaces had converged. */
  first: number | undefined;
}

export async function churn(ctx: RunContext, op: OperatorProcess): Promise<ChurnCpu> {
  const { churnRate, churnSeconds } = ctx.options;
  const names = namespaceNames('churn', Math.round(churnRate * churnSeconds));
  const postedAt = new Map<string, number>();
  const cpu0 = op.cpuSeconds();
  const firstCpu = names.length >= CPU_GOAL_NAMESPACES
    ? ctx.observer.waitConverged(names.slice(0, CPU_GOAL_NAMESPACES), ctx.timeoutMs).then(() => op.cpuSeconds() - cpu0)
    : Promise.resolve(undefined);
  const start = performance.now() + 100;
  await Promise.all(names.map(async (name, i) => {
    const due = start + (i * 1000) / churnRate;
    await sleep(Math.max(0, due - performance.now()));
    postedAt.set(name, performance.now());
    await ctx.admin.create(RESOURCES.namespaces, undefined, { metadata: { name, labels: { ...MANAGED, 'bench-set': 'churn' } } });
  }));
  const lastPost = Math.max(...postedAt.values());
  ctx.managed.push(...names);
  await op.guard(ctx.observer.waitConverged(names, ctx.timeoutMs));
  const first = await firstCpu;
  await sleep(CPU_SETTLE_MS);
  const cpu = op.cpuSeconds() - cpu0;

  const entry: number[] = [];
  const secret: number[] = [];
  for (const ns of names) {
    const v = ctx.observer.view(ns)!;
    entry.push(v.entryAt! - v.saAddedAt!);
    secret.push(v.secretAddedAt! - postedAt.get(ns)!);
  }
  const { saPatchRttMs, secretCreateRttMs } = ctx.floor;
  for (const [what, values, floor] of [['SA ADDED → entry', entry, saPatchRttMs], ['namespace POST → Secret ADDED', secret, secretCreateRttMs]] as const) {
    for (const [label, q] of [['p50', 0.5], ['p95', 0.95], ['p99', 0.99], ['max', 1]] as const) {
      ctx.rec.add('new namespaces', `${what} ${label}`, 'ms', quantile([...values], q), floor);
    }
  }
  ctx.rec.add('new namespaces', 'operator CPU', 'cpu-s', cpu);
  if (first !== undefined) ctx.rec.add('new namespaces', `operator CPU until the first ${CPU_GOAL_NAMESPACES} converged`, 'cpu-s', first);
  ctx.rec.distribution('new namespace: SA ADDED → entry', entry, { 'SA patch RTT': saPatchRttMs });
  ctx.rec.distribution('new namespace: POST → Secret ADDED', secret, { 'Secret create RTT': secretCreateRttMs });
  const achieved = names.length / seconds(lastPost - start);
  ctx.rec.details.churn = { namespaces: names.length, achievedRatePerSecond: achieved };
  ctx.log(`new namespaces: ${names.length} at ${achieved.toFixed(1)}/s; entry p50 ${quantile(entry, 0.5).toFixed(0)} ms p99 ${quantile(entry, 0.99).toFixed(0)} ms; Secret p50 ${quantile(secret, 0.5).toFixed(0)} ms p99 ${quantile(secret, 0.99).toFixed(0)} ms; CPU ${cpu.toFixed(2)} s`);
  return { all: cpu, first };
}
