// Running it in production: leader election between two processes, SIGTERM handover, metrics that
// move during a fan-out, and readiness that waits for the caches.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { eventually } from '../support/cluster.ts';
import { LOG_DIR, OperatorProcess } from '../support/operator.ts';
import { FreezableProxy } from '../support/proxy.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('ops');
const operators: OperatorProcess[] = [];
const leaderArgs = ['--leader-elect'];

beforeAll(async () => {
  // The scenario's own operator is not started: this file runs its own pair.
  await s.client.create(RESOURCES.namespaces, undefined, { metadata: { name: s.credentialsNamespace, labels: { 'regcred.dev/ignore': 'true' } } });
  await s.sourceSecret('pw', { password: s.password() });
});

afterAll(async () => {
  s.operator = operators.find((o) => !o.exited);
  await s.teardown();
  for (const o of operators) await o.stop('SIGKILL');
});

const start = async (args: string[] = leaderArgs, readyMessage = 'caches synced') => {
  const op = await OperatorProcess.start({ credentialsNamespace: s.credentialsNamespace, args, readyMessage });
  operators.push(op);
  return op;
};
const isLeader = (op: OperatorProcess) => op.logs().includes('"msg":"became leader"');
const reconciledLines = (op: OperatorProcess) => op.logs().split('\n').filter((l) => l.includes('"msg":"reconciled"'));
const scrape = async (op: OperatorProcess) => (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
const metric = (text: string, name: string) =>
  text.split('\n').filter((l) => l.startsWith(name) && !l.startsWith('#')).reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
const registries = [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

describe('leader election', () => {
  let a: OperatorProcess;
  let b: OperatorProcess;

  it('lets exactly one of two processes reconcile and write; the standby keeps warm caches', async () => {
    a = await start();
    await a.waitForLog('became leader', 30_000);
    b = await start();
    const nss = await Promise.all(Array.from({ length: 40 }, (_, i) => s.namespace(`le-${i}`)));
    const scrapeDuring = scrape(a);
    const rc = await s.credential(`${s.id}-le`, { secretName: 'le', registries, namespaces: { include: [`${s.id}-le-*`] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === nss.length && r.status?.serviceAccounts?.patched === nss.length);
    expect(isLeader(a)).toBe(true);
    expect(isLeader(b)).toBe(false);
    expect(reconciledLines(a).length).toBeGreaterThan(0);
    expect(reconciledLines(b)).toEqual([]);

    const before = await scrapeDuring;
    const after = await scrape(a);
    expect(metric(after, 'regcred_reconcile_total')).toBeGreaterThan(metric(before, 'regcred_reconcile_total'));
    expect(metric(after, 'regcred_workqueue_queue_duration_seconds_count')).toBeGreaterThan(metric(before, 'regcred_workqueue_queue_duration_seconds_count'));
    expect(metric(after, 'regcred_writes_total')).toBeGreaterThanOrEqual(2 * nss.length);
    expect(metric(after, 'regcred_leader')).toBe(1);
    expect(after).toMatch(/regcred_api_requests_total\{verb="POST",resource="secrets",code="201"\} \d+/);
    expect(after).toMatch(/regcred_credential_ready\{credential="[^"]+"\} 1/);
    expect(after).toContain('regcred_process_open_fds');
    const standby = await scrape(b);
    expect(metric(standby, 'regcred_leader')).toBe(0);
    expect(metric(standby, 'regcred_reconcile_total')).toBe(0);
    expect(metric(standby, 'regcred_managed_secrets')).toBeGreaterThanOrEqual(nss.length);
  });

  it('hands over within 20 s when the leader is killed, and converges a change made meanwhile', async () => {
    await a.stop('SIGKILL');
    const killedAt = Date.now();
    const ns = await s.namespace('le-after-kill');
    await s.secretEventually(ns, 'le', () => true, 20_000);
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    expect(isLeader(b)).toBe(true);
  });

  it('hands over on SIGTERM without waiting for the lease to expire, and exits 0', async () => {
    const c = await start();
    expect(isLeader(c)).toBe(false);
    const stoppedAt = Date.now();
    const code = await b.stop('SIGTERM');
    expect(code).toBe(0);
    expect(b.logs()).toContain('"msg":"released the leader lease"');
    await c.waitForLog('became leader', 15_000);
    // The lease lasts 15 s: taking over well before that shows it was released, not expired.
    expect(Date.now() - stoppedAt).toBeLessThan(8_000);
    const ns = await s.namespace('le-after-term');
    await s.secretEventually(ns, 'le', () => true, 20_000);
  });

  it('stops a leader that can no longer renew: it exits before its lease can expire, and the standby takes over', async () => {
    // The leader of the previous test steps down first: from here on, a pair with its own Lease.
    for (const o of operators.filter((x) => !x.exited)) await o.stop('SIGTERM');
    const proxy = await FreezableProxy.start(JSON.parse(readFileSync(inject('kubeconfig'), 'utf8')).clusters[0].cluster.server);
    try {
      const viaProxy = JSON.parse(readFileSync(inject('kubeconfig'), 'utf8'));
      viaProxy.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
      const path = join(LOG_DIR, `${s.id}-via-proxy.kubeconfig`);
      writeFileSync(path, JSON.stringify(viaProxy));
      const timings = ['--leader-elect', '--leader-election-id', `${s.id}-short`, '--lease-duration', '8s', '--renew-deadline', '4s', '--retry-period', '1s'];
      const leader = await OperatorProcess.start({ credentialsNamespace: s.credentialsNamespace, kubeconfig: path, args: timings });
      operators.push(leader);
      await leader.waitForLog('became leader', 30_000);
      const standby = await start(timings);

      proxy.freeze();
      const frozenAt = Date.now();
      const exit = await new Promise<number | null>((r) => leader.child.once('exit', (code) => r(code)));
      // Out by the renew deadline (4 s) plus one retry, well before the 8 s lease could pass to another.
      expect(Date.now() - frozenAt).toBeLessThan(8_000);
      expect(exit).toBe(1);
      expect(leader.logs()).toContain('leader lease lost');
      await standby.waitForLog('became leader', 20_000);
      const ns = await s.namespace('le-after-loss');
      await s.secretEventually(ns, 'le', () => true, 20_000);
    } finally {
      await proxy.stop();
    }
  });
});

describe('readiness', () => {
  it('answers /readyz 503 until the caches have synced', async () => {
    const unreachable = JSON.parse(readFileSync(inject('kubeconfig'), 'utf8'));
    unreachable.clusters[0].cluster.server = 'https://127.0.0.1:9';
    const path = join(LOG_DIR, 'unreachable.kubeconfig');
    writeFileSync(path, JSON.stringify(unreachable));
    const op = await OperatorProcess.start({ credentialsNamespace: s.credentialsNamespace, kubeconfig: path, readyMessage: 'starting' });
    operators.push(op);
    await eventually('health port', async () => op.healthPort);
    const ready = await fetch(`http://127.0.0.1:${op.healthPort}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toContain('not synced');
    const live = await fetch(`http://127.0.0.1:${op.healthPort}/healthz`);
    expect(live.status).toBe(200);
    expect(await op.stop('SIGTERM')).toBe(0);

    const synced = operators.find((o) => !o.exited)!;
    expect((await fetch(`http://127.0.0.1:${synced.healthPort}/readyz`)).status).toBe(200);
  });
});
