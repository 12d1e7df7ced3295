// Idle cost: after convergence, a window in which nothing changes. Requests are the API server's
// own counts (apiserver_request_total) over the window on the resources the operator uses, minus
// the same counts from a window of the control plane alone (before the operator first started)
// scaled to the same length; next to them the operator's own counts of its requests and watch
// restarts, and its CPU (utime+stime). The bench's observer is stopped for the window so its
// watches are not counted.
import { SECRET_NAME } from '../cluster.ts';
import { diff, OPERATOR_RESOURCES, scrapeRequests, type RequestSummary } from '../apiserver-metrics.ts';
import { Observer } from '../observer.ts';
import type { OperatorProcess } from '../operator-process.ts';
import type { KubeClient } from '../../../src/kube/client.ts';
import { sleep } from '../stats.ts';
import type { RunContext } from './context.ts';

/** A closing watch is counted when it ends: give the ones just stopped time to be counted. */
const SETTLE_MS = 2000;

export async function measureBaseline(admin: KubeClient, windowSeconds: number): Promise<{ seconds: number; requests: RequestSummary; all: RequestSummary }> {
  await sleep(SETTLE_MS);
  const before = await scrapeRequests(admin);
  await sleep(windowSeconds * 1000);
  const after = await scrapeRequests(admin);
  return { seconds: windowSeconds, requests: diff(before, after, OPERATOR_RESOURCES), all: diff(before, after) };
}

export async function idle(ctx: RunContext, op: OperatorProcess, expectedPassword: string): Promise<void> {
  await ctx.observer.stop();
  await sleep(SETTLE_MS);
  const window = ctx.options.idleSeconds;
  const before = await scrapeRequests(ctx.admin);
  const cpu0 = op.cpuSeconds();
  const own0 = await op.metricSum('regcred_api_requests_total');
  const restarts0 = await op.metricSum('regcred_informer_restarts_total');
  await op.guard(sleep(window * 1000));
  const after = await scrapeRequests(ctx.admin);
  const cpu = op.cpuSeconds() - cpu0;
  const own = (await op.metricSum('regcred_api_requests_total')) - own0;
  const restarts = (await op.metricSum('regcred_informer_restarts_total')) - restarts0;
  const total = diff(before, after, OPERATOR_RESOURCES);
  const scale = window / ctx.baseline.seconds;
  const net = (key: 'mutating' | 'reads' | 'watches') => Math.max(0, total[key] - ctx.baseline.requests[key] * scale);
  ctx.rec.add('idle', `mutating requests in ${window} s (API server)`, 'requests', net('mutating'));
  ctx.rec.add('idle', `GET+LIST requests in ${window} s (API server)`, 'requests', net('reads'));
  ctx.rec.add('idle', `WATCH requests in ${window} s (API server)`, 'requests', net('watches'));
  ctx.rec.add('idle', `requests in ${window} s (operator's own count, watches aside)`, 'requests', own);
  ctx.rec.add('idle', `watch restarts + relists in ${window} s (operator's own count)`, 'requests', restarts);
  ctx.rec.add('idle', `operator CPU in ${window} s`, 'cpu-s', cpu);
  // The warm operator's footprint at this size, after fan-out, rotation and the idle window.
  const mem = op.memory();
  ctx.rec.add('idle', 'operator RSS at the end of the window', 'MiB', mem.rssMiB);
  ctx.rec.add('idle', 'operator peak RSS so far (VmHWM)', 'MiB', mem.hwmMiB);
  ctx.rec.add('idle', 'operator heap used at the end of the window', 'MiB', (await op.metricSum('nodejs_heap_size_used_bytes')) / 2 ** 20);
  ctx.rec.details.idle = {
    windowSeconds: window,
    operatorResources: [...OPERATOR_RESOURCES],
    apiserver: total,
    apiserverAllResources: diff(before, after),
    baseline: ctx.baseline,
    baselineScale: scale,
    operatorOwnRequests: own,
    operatorWatchRestarts: restarts,
  };
  ctx.log(`idle: ${net('mutating')} mutating, ${net('reads')} reads, ${net('watches')} watches, CPU ${cpu.toFixed(2)} s over ${window} s`);
  ctx.observer = await Observer.start(ctx.kubeconfig, SECRET_NAME);
  ctx.observer.expectPassword(expectedPassword);
}
