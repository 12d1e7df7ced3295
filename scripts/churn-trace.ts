// make churn-trace: where a new namespace's time goes. The bench's new-namespace scenario (N
// namespaces managed, new ones at a steady rate) on a control plane whose kube-apiserver writes an
// audit log, so each request's arrival and answer at the server sit next to what the bench's
// observer saw. Prints the entry latency's quantiles, how many creates kube-apiserver held (its
// NamespaceLifecycle admission holds a create 50 ms when its namespace cache lags), and the
// timelines of the slowest namespaces, in ms from their `default` ServiceAccount's ADDED event.
//
//   node scripts/churn-trace.ts [N=1000] [NEW=600] [RATE=10] [SLOWEST=10]
//
// The operator's flags come from BENCH_OPERATOR_ARGS (e.g. --log-level=debug, whose write lines
// then join the timelines). The audit log, the operator's log and the timelines stay in
// .cluster/churn-trace/.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RESOURCES } from '../src/kube/client.ts';
import { BASE, createCredential, createNamespaces, garbageCollectorKnowsCredentials, MANAGED, namespaceNames, SECRET_NAME, setSourcePassword, startControlPlane } from './bench/cluster.ts';
import { Observer } from './bench/observer.ts';
import { OperatorProcess } from './bench/operator-process.ts';
import { quantile, sleep } from './bench/stats.ts';

const [n = 1000, count = 600, rate = 10, slowest = 10] = process.argv.slice(2).map(Number);
const DIR = resolve('.cluster/churn-trace');
const TIMEOUT_MS = 600_000;
/** A create that took this long at the server was held by admission (it waits 50 ms). */
const HELD_MS = 45;

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "patch", "update", "delete"]
    resources:
      - group: ""
        resources: ["namespaces", "serviceaccounts", "secrets", "events"]
      - group: "regcred.dev"
        resources: ["registrycredentials", "registrycredentials/status"]
  - level: None
`;

interface AuditEvent {
  verb: string;
  userAgent?: string;
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
  stageTimestamp: string;
}

interface Request {
  at: number;
  done: number;
  who: 'operator' | 'controller-manager' | 'bench';
  what: string;
  code: number | undefined;
}

const log = (line: string) => console.error(`${new Date().toISOString().slice(11, 23)} ${line}`);
const epoch = (perf: number) => performance.timeOrigin + perf;

mkdirSync(DIR, { recursive: true });
const policy = join(DIR, 'audit-policy.yaml');
const auditLog = join(DIR, 'audit.log');
const operatorLog = join(DIR, 'operator.log');
writeFileSync(policy, AUDIT_POLICY);
writeFileSync(auditLog, '');
writeFileSync(operatorLog, '');

const { cp, admin } = await startControlPlane(log, {
  apiServerArgs: [`--audit-policy-file=${policy}`, `--audit-log-path=${auditLog}`, '--audit-log-format=json', '--audit-log-mode=batch', '--audit-log-batch-max-wait=1s'],
});
let op: OperatorProcess | undefined;
let observer: Observer | undefined;
try {
  await setSourcePassword(admin, 'trace');
  observer = await Observer.start(cp.kubeconfigPath, SECRET_NAME);
  observer.expectPassword('trace');
  const base = namespaceNames('bench', n);
  await Promise.all([createNamespaces(admin, observer, base, { ...MANAGED, ...BASE }, TIMEOUT_MS), garbageCollectorKnowsCredentials(admin)]);
  const extraArgs = (process.env.BENCH_OPERATOR_ARGS ?? '').split(' ').filter(Boolean);
  op = await OperatorProcess.start({ kubeconfig: cp.kubeconfigPath, logFile: operatorLog, extraArgs });
  await op.waitReady(TIMEOUT_MS);
  await createCredential(admin, 'bench-fanout', MANAGED);
  await observer.waitConverged(base, TIMEOUT_MS);
  log(`${n} namespaces converged; ${count} new ones at ${rate}/s`);

  const names = namespaceNames('churn', count);
  const postedAt = new Map<string, number>();
  const start = performance.now() + 100;
  await Promise.all(names.map(async (name, i) => {
    await sleep(Math.max(0, start + (i * 1000) / rate - performance.now()));
    postedAt.set(name, performance.now());
    await admin.create(RESOURCES.namespaces, undefined, { metadata: { name, labels: { ...MANAGED, 'bench-set': 'churn' } } });
  }));
  await observer.waitConverged(names, TIMEOUT_MS);
  // The audit batch is flushed within a second.
  await sleep(2000);

  const requests = auditRequests(auditLog);
  const rows = names.map((ns) => {
    const v = observer!.view(ns)!;
    return { ns, posted: epoch(postedAt.get(ns)!), saAdded: epoch(v.saAddedAt!), entry: epoch(v.entryAt!), secretAdded: epoch(v.secretAddedAt!) };
  });
  writeFileSync(join(DIR, 'timelines.json'), JSON.stringify(rows.map((r) => ({ ...r, requests: requests.get(r.ns) ?? [] }))));

  const latency = rows.map((r) => r.entry - r.saAdded);
  const q = (p: number) => quantile([...latency], p).toFixed(1);
  console.log(`\nSA ADDED → entry over ${rows.length} new namespaces: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms`);
  const inNew = names.flatMap((ns) => requests.get(ns) ?? []);
  for (const who of ['operator', 'controller-manager'] as const) {
    const creates = inNew.filter((r) => r.who === who && r.what.startsWith('create ') && r.code === 201);
    const held = creates.filter((r) => r.done - r.at >= HELD_MS).length;
    console.log(`${who}: ${held} of ${creates.length} creates in new namespaces took ≥ ${HELD_MS} ms at kube-apiserver`);
  }
  const writes = operatorWrites(operatorLog);
  for (const r of rows.toSorted((a, b) => b.entry - b.saAdded - (a.entry - a.saAdded)).slice(0, slowest)) {
    const t = (at: number) => (at - r.saAdded).toFixed(1).padStart(7);
    console.log(`\n${r.ns}: entry after ${(r.entry - r.saAdded).toFixed(1)} ms (times in ms from SA ADDED)`);
    const lines: Array<[number, string]> = [
      [r.posted, `${t(r.posted)}          bench: namespace POST sent`],
      [r.saAdded, `${t(r.saAdded)}          observer: ServiceAccount ADDED`],
      [r.secretAdded, `${t(r.secretAdded)}          observer: Secret ADDED`],
      [r.entry, `${t(r.entry)}          observer: entry in the ServiceAccount`],
      ...(requests.get(r.ns) ?? []).map((q): [number, string] => [q.at, `${t(q.at)} → ${t(q.done)}  kube-apiserver: ${q.who} ${q.what} → ${q.code}`]),
      ...(writes.get(r.ns) ?? []).map((w): [number, string] => [w.at, `${t(w.at)}          operator: answer to ${w.what}`]),
    ];
    for (const [, line] of lines.sort((a, b) => a[0] - b[0])) console.log(`  ${line}`);
  }
  console.log(`\naudit log, operator log and timelines: ${DIR}`);
} finally {
  await op?.stop();
  await observer?.stop();
  await cp.stop();
}

/** Write requests by namespace, from the audit log. */
function auditRequests(path: string): Map<string, Request[]> {
  const byNamespace = new Map<string, Request[]>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line) as AuditEvent;
    const ref = e.objectRef ?? {};
    const ns = ref.namespace ?? (ref.resource === 'namespaces' ? ref.name : undefined);
    if (!ns) continue;
    const ua = e.userAgent ?? '';
    const who = ua.includes('controller-manager') ? 'controller-manager' : ua.startsWith('regcred-operator') ? 'operator' : 'bench';
    const request = {
      at: Date.parse(e.requestReceivedTimestamp) + subMillisecond(e.requestReceivedTimestamp),
      done: Date.parse(e.stageTimestamp) + subMillisecond(e.stageTimestamp),
      who,
      what: `${e.verb} ${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''} ${ref.name ?? ''}`.trim(),
      code: e.responseStatus?.code,
    } satisfies Request;
    append(byNamespace, ns, request);
  }
  return byNamespace;
}

/** Date.parse keeps milliseconds; the audit log has microseconds. */
function subMillisecond(timestamp: string): number {
  const fraction = /\.(\d+)Z$/.exec(timestamp)?.[1] ?? '';
  return Number(`0.${fraction.slice(3) || '0'}`);
}

/** The operator's debug write lines (answers received), by namespace. */
function operatorWrites(path: string): Map<string, Array<{ at: number; what: string }>> {
  const byNamespace = new Map<string, Array<{ at: number; what: string }>>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const l = JSON.parse(line) as { msg?: string; ts?: string; namespace?: string; verb?: string; kind?: string };
    if ((l.msg !== 'write' && l.msg !== 'write failed') || !l.namespace || !l.ts) continue;
    append(byNamespace, l.namespace, { at: Date.parse(l.ts), what: `${l.verb} ${l.kind}${l.msg === 'write failed' ? ' (failed)' : ''}` });
  }
  return byNamespace;
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
