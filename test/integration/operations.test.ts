// Running it in production: leader election between two processes, SIGTERM handover, metrics that
// move during a fan-out, and readiness that waits for the caches.
import { spawn } from 'node:child_process';
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
const identityOf = (op: OperatorProcess) => {
  const line = op.logs().split('\n').find((l) => l.includes('"msg":"became leader"'));
  return line ? (JSON.parse(line) as { identity: string }).identity : undefined;
};
/** A short Lease of this file's own, for the pair that loses its connection (and for the readiness check). */
const shortLease = () => ['--leader-elect', '--leader-election-id', `${s.id}-short`, '--lease-duration', '8s', '--renew-deadline', '4s', '--retry-period', '1s'];

/** A kubeconfig like the run's admin one, but through `proxy`. */
function kubeconfigVia(proxy: FreezableProxy, name: string): string {
  const viaProxy = JSON.parse(readFileSync(inject('kubeconfig'), 'utf8'));
  viaProxy.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
  const path = join(LOG_DIR, `${s.id}-${name}.kubeconfig`);
  writeFileSync(path, JSON.stringify(viaProxy));
  return path;
}
const upstream = () => JSON.parse(readFileSync(inject('kubeconfig'), 'utf8')).clusters[0].cluster.server as string;

/** Every holder the Lease has, in order, from now on (kubectl get --watch misses no update). */
function watchLeaseHolders(name: string): { holders: string[]; stop: () => void } {
  const holders: string[] = [];
  const child = spawn(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), 'get', `lease/${name}`, '-n', s.credentialsNamespace, '--watch',
    '-o', 'jsonpath={"holder="}{.spec.holderIdentity}{"\\n"}'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let rest = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const lines = (rest + chunk.toString('utf8')).split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) if (l.startsWith('holder=')) holders.push(l.slice('holder='.length));
  });
  return { holders, stop: () => void child.kill() };
}

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
    // This file's credential by name: the operator sees every RegistryCredential of the control plane.
    expect(after).toContain(`regcred_credential_ready{credential="${rc.metadata.name}"} 1`);
    expect(after).toContain('process_open_fds');
    // The names controller-runtime operators export, so stock dashboards and alerts work.
    expect(metric(after, 'controller_runtime_reconcile_total{controller="registrycredential"')).toBeGreaterThan(0);
    expect(metric(after, 'workqueue_adds_total{name="registrycredential"')).toBeGreaterThan(0);
    expect(after).toMatch(/^rest_client_requests_total\{code="201",method="POST",host="[^"]+"\} \d+$/m);
    expect(after).toContain(`regcred_credential_condition{credential="${rc.metadata.name}",type="Ready",status="True"} 1`);
    expect(metric(after, `regcred_credential_last_sync_timestamp_seconds{credential="${rc.metadata.name}"}`)).toBeGreaterThan(Date.now() / 1000 - 600);
    const standby = await scrape(b);
    expect(metric(standby, 'regcred_leader')).toBe(0);
    expect(metric(standby, 'regcred_reconcile_total')).toBe(0);
    expect(metric(standby, 'regcred_managed_secrets')).toBeGreaterThanOrEqual(nss.length);
  });

  it('hands over once the lease expires when the leader is killed, and converges a change made meanwhile', async () => {
    await a.stop('SIGKILL');
    const ns = await s.namespace('le-after-kill');
    // The 15 s lease has to run out first; on two busy cores that plus a reconcile takes a while.
    await s.secretEventually(ns, 'le', () => true, 90_000);
    expect(isLeader(b)).toBe(true);
  });

  it('hands over on SIGTERM without waiting for the lease to expire, and exits 0', async () => {
    const c = await start();
    expect(isLeader(c)).toBe(false);
    const lease = watchLeaseHolders('regcred-operator-leader');
    try {
      await eventually('the Lease watch to start', async () => lease.holders.length > 0);
      const code = await b.stop('SIGTERM');
      expect(code).toBe(0);
      expect(b.logs()).toContain('"msg":"released the leader lease"');
      await c.waitForLog('became leader', 60_000);
      await eventually('the takeover on the Lease watch', async () => lease.holders.at(-1) === identityOf(c));
      // Released, not expired: the Lease went from b to no holder at all, and only then to c.
      expect(lease.holders.filter((h, i) => h !== lease.holders[i - 1])).toEqual([identityOf(b), '', identityOf(c)]);
    } finally {
      lease.stop();
    }
    const ns = await s.namespace('le-after-term');
    await s.secretEventually(ns, 'le', () => true, 60_000);
  });

  it('stops a leader that can no longer renew: it exits before its lease can expire, and the standby takes over', async () => {
    // The leader of the previous test steps down first: from here on, a pair with its own Lease.
    for (const o of operators.filter((x) => !x.exited)) await o.stop('SIGTERM');
    const proxy = await FreezableProxy.start(upstream());
    try {
      const path = kubeconfigVia(proxy, 'via-proxy');
      const leader = await OperatorProcess.start({ credentialsNamespace: s.credentialsNamespace, kubeconfig: path, args: shortLease() });
      operators.push(leader);
      await leader.waitForLog('became leader', 30_000);
      const standby = await start(shortLease());

      const exited = new Promise<number | null>((r) => leader.child.once('exit', (code) => r(code)));
      proxy.freeze();
      const exit = await exited;
      // Out by the renew deadline (4 s), before the 8 s lease could pass on: when the old leader is
      // gone the standby has not taken over yet. Order, not a stopwatch.
      expect(isLeader(standby)).toBe(false);
      expect(exit).toBe(1);
      expect(leader.logs()).toContain('leader lease lost');
      await standby.waitForLog('became leader', 60_000);
      const ns = await s.namespace('le-after-loss');
      await s.secretEventually(ns, 'le', () => true, 60_000);
    } finally {
      proxy.thaw();
      await proxy.stop();
    }
  });
});

describe('readiness', () => {
  it('answers /readyz 503 while the caches cannot sync, and 200 once they have, in the same process', async () => {
    // The API server is reachable only through a proxy that holds every byte back: the operator
    // starts, serves its probes, and cannot finish a single list until the proxy thaws.
    const proxy = await FreezableProxy.start(upstream());
    proxy.freeze();
    try {
      // The short Lease's holder (the standby of the test before) stays leader: this one only watches.
      const op = await OperatorProcess.start({ credentialsNamespace: s.credentialsNamespace, kubeconfig: kubeconfigVia(proxy, 'frozen'), args: shortLease(), readyMessage: 'starting' });
      operators.push(op);
      const probe = async (path: string) => {
        const res = await fetch(`http://127.0.0.1:${op.healthPort}${path}`);
        return { status: res.status, body: await res.text() };
      };
      await eventually('health port', async () => op.healthPort);
      const before = await probe('/readyz');
      expect(before.status).toBe(503);
      expect(before.body).toContain('not synced');
      expect((await probe('/healthz')).status).toBe(200);
      expect(op.logs()).not.toContain('"msg":"caches synced"');

      proxy.thaw();
      await op.waitForLog('caches synced', 90_000);
      const after = await eventually('/readyz 200', async () => {
        const r = await probe('/readyz');
        return r.status === 200 ? r : undefined;
      }, 30_000);
      expect(after.body).toBe('ok\n');
      expect(op.exited).toBe(false);
      expect(await op.stop('SIGTERM')).toBe(0);
    } finally {
      proxy.thaw();
      await proxy.stop();
    }
  });
});
