// The shipped RBAC is the least that works: the operator, running as config/rbac's ServiceAccount
// (a real token from the TokenRequest API), passes the core scenario; with any single rule removed
// from its roles, the scenario fails.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { RESOURCES, type KubeClient } from '../../src/kube/client.ts';
import { eventually, kubectl } from '../support/cluster.ts';
import { writeServiceAccountKubeconfig } from '../support/identity.ts';
import { LOG_DIR, OperatorProcess } from '../support/operator.ts';
import { Scenario } from '../support/scenario.ts';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }
interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

const s = new Scenario('rbac');
// The operator's own namespace in this test: its ServiceAccount, Lease and source Secrets live here.
const home = s.credentialsNamespace;
const suffix = `-${s.id}`;
const objects: RbacObject[] = parseAllDocuments(kubectl('kustomize', 'config/rbac')).map((d) => d.toJS() as RbacObject);
const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');

const rbacPath = (o: RbacObject, name = o.metadata.name) => {
  const group = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: o.kind, namespaced: o.kind === 'Role' || o.kind === 'RoleBinding' };
  const plural = `${o.kind.toLowerCase()}s`;
  return { res: { ...group, plural }, ns: group.namespaced ? o.metadata.namespace : undefined, name };
};

/** The shipped objects, renamed and re-homed so this test's copy touches nothing else. */
function localized(o: RbacObject): RbacObject {
  const copy = structuredClone(o);
  const inDefault = copy.metadata.namespace === 'default';
  if (copy.kind !== 'ClusterRole' && copy.kind !== 'ClusterRoleBinding' && !inDefault) copy.metadata.namespace = home;
  if (copy.kind !== 'ServiceAccount') copy.metadata.name += suffix;
  if (copy.roleRef) copy.roleRef.name += suffix;
  for (const subject of copy.subjects ?? []) subject.namespace = home;
  return copy;
}

async function put(client: KubeClient, o: RbacObject): Promise<void> {
  const { res, ns, name } = rbacPath(o);
  const body = { metadata: o.metadata, ...(o.rules ? { rules: o.rules } : {}), ...(o.roleRef ? { roleRef: o.roleRef } : {}), ...(o.subjects ? { subjects: o.subjects } : {}) };
  const existing = await client.get<{ metadata: { resourceVersion: string } }>(res, ns, name).catch(() => undefined);
  if (existing) await client.replace(res, ns, name, { ...body, metadata: { ...o.metadata, resourceVersion: existing.metadata.resourceVersion } });
  else await client.create(res, ns, body);
}

let tokenKubeconfig = '';
let run = 0;

/** What the last run of the core scenario left to look at: the operator's log and its credentials' status. */
let lastRun: { logs: string; statuses: unknown[] } = { logs: '', statuses: [] };

/** Every string in a value, however deep. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (!value || typeof value !== 'object') return [];
  return Object.values(value).flatMap(strings);
}

/**
 * The API server's refusals (HTTP 403) the operator met in the last run: errors in its log that carry
 * status 403, and any "forbidden" message its RegistryCredentials' status reports.
 */
function refusals(): string[] {
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (!value || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    if (o.status === 403 && typeof o.message === 'string') found.push(o.message);
    for (const v of Object.values(o)) walk(v);
  };
  for (const line of lastRun.logs.split('\n')) {
    try {
      walk(JSON.parse(line));
    } catch {
      // not a JSON log line
    }
  }
  found.push(...lastRun.statuses.flatMap(strings).filter((m) => m.includes(' is forbidden: ')));
  return found;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
/** The API server's words for refusing this ServiceAccount one of the rule's verbs on one of its resources. */
const refusalOf = (rule: Rule) => new RegExp(
  `User "system:serviceaccount:${escape(home)}:regcred-operator" cannot (${rule.verbs.map(escape).join('|')}) ` +
  `resource "(${rule.resources.map(escape).join('|')})" in API group "(${rule.apiGroups.map(escape).join('|')})"`,
);

beforeAll(async () => {
  await s.client.create(RESOURCES.namespaces, undefined, { metadata: { name: home, labels: { 'regcred.dev/ignore': 'true' } } });
  for (const o of objects.map(localized)) {
    if (o.kind === 'ServiceAccount') await s.client.create(RESOURCES.serviceAccounts, home, { metadata: { name: o.metadata.name } });
    else await put(s.client, o);
  }
  mkdirSync(LOG_DIR, { recursive: true });
  tokenKubeconfig = await writeServiceAccountKubeconfig(s.client, inject('kubeconfig'), home, 'regcred-operator', join(LOG_DIR, `${s.id}.kubeconfig`));
});

afterAll(async () => {
  // These operators' logs are covered by the suite-wide secret check in global teardown.
  for (const o of roles.map(localized)) await put(s.client, o);
});

const registry = (secret: string) => [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: secret, key: 'password' } } }];

/**
 * Everything the operator does in production, as its own ServiceAccount: lead through a Lease,
 * fan out, patch ServiceAccounts, record Events, write status, rotate, de-select (delete), and
 * clean up after deletion under Retain (release the Secret).
 */
async function coreScenario(stepTimeoutMs: number): Promise<void> {
  const n = ++run;
  const source = `src-${n}`;
  lastRun = { logs: '', statuses: [] };
  const ns = await s.namespace(`r${n}`, { rbac: s.id });
  await s.sourceSecret(source, { password: s.password() });
  const op = await OperatorProcess.start({
    credentialsNamespace: home,
    kubeconfig: tokenKubeconfig,
    args: ['--leader-elect', '--leader-election-id', `lease-${n}`, '--retry-period', '1s', '--renew-deadline', '4s', '--lease-duration', '6s'],
    readyMessage: 'starting',
  });
  const wait = <T>(what: string, check: () => Promise<T | undefined | false>) => eventually(what, check, stepTimeoutMs);
  const keep = `${s.id}-keep-${n}`;
  const main = `${s.id}-main-${n}`;
  try {
    await op.waitForLog('became leader', stepTimeoutMs);
    await s.credential(main, { secretName: 'core', registries: registry(source), namespaces: { selector: { matchLabels: { rbac: s.id } }, include: [ns] } });
    await s.credential(keep, { secretName: 'kept', registries: registry(source), namespaces: { include: [ns] }, deletionPolicy: 'Retain' });
    for (const name of [main, keep]) {
      await wait(`${name} ready`, async () => {
        const rc = await s.getCredential(name);
        return rc.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && rc.status.serviceAccounts?.patched === 1;
      });
    }
    await wait('ServiceAccount entries', async () => {
      const entries = s.entriesOf(await s.getServiceAccount(ns));
      return entries.includes('core') && entries.includes('kept');
    });
    await wait('a Synced Event', async () =>
      (await s.client.list<{ reason: string; regarding: { name: string } }>(RESOURCES.events, 'default')).items.some((e) => e.regarding.name === main && e.reason === 'Synced'));

    const before = (await s.getSecret(ns, 'core')).data?.['.dockerconfigjson'];
    await s.updateSourceSecret(source, { password: s.password() });
    await wait('rotation', async () => (await s.getSecret(ns, 'core')).data?.['.dockerconfigjson'] !== before);

    await s.client.patch(RESOURCES.namespaces, undefined, ns, { metadata: { labels: { rbac: null } } });
    await wait('de-selection', () => s.getSecret(ns, 'core').then(() => false, () => true));

    await s.client.delete(RESOURCES.registryCredentials, undefined, keep);
    await wait('Retain cleanup', async () => {
      const gone = await s.getCredential(keep).then(() => false, () => true);
      return gone && (await s.getSecret(ns, 'kept')).metadata.ownerReferences === undefined;
    });
    await wait('the Lease renewed', async () => {
      const lease = await s.client.get<{ spec: { renewTime?: string; acquireTime?: string } }>(RESOURCES.leases, home, `lease-${n}`);
      return lease.spec.renewTime !== lease.spec.acquireTime;
    });
    if (op.exited) throw new Error('the operator exited');
  } finally {
    await op.stop('SIGKILL');
    const statuses: unknown[] = [];
    for (const name of [main, keep]) statuses.push(await s.getCredential(name).then((rc) => rc.status, () => undefined));
    lastRun = { logs: op.logs(), statuses };
    // A broken run can leave finalizers the operator could not remove.
    for (const name of [main, keep]) {
      await s.client.patch(RESOURCES.registryCredentials, undefined, name, { metadata: { finalizers: null } }).catch(() => undefined);
      await s.client.delete(RESOURCES.registryCredentials, undefined, name).catch(() => undefined);
    }
  }
}

describe('least-privilege RBAC', () => {
  it('ships no wildcard verbs, resources or API groups', () => {
    for (const rule of roles.flatMap((r) => r.rules ?? [])) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups]).not.toContain('*');
    }
  });

  it('is enough: the core scenario passes as the shipped ServiceAccount', async () => {
    await coreScenario(30_000);
    expect(refusals()).toEqual([]);
  });

  const variants = roles.flatMap((role) => (role.rules ?? []).map((rule, i) => ({ role, i, rule, label: `${role.kind} ${role.metadata.name}: ${rule.verbs.join(',')} on ${rule.resources.join(',')}` })));
  it.each(variants)('is needed: without "$label" the scenario fails on the API server refusing it', async ({ role, i, rule }) => {
    const broken = localized(role);
    broken.rules = broken.rules!.filter((_, j) => j !== i);
    await put(s.client, broken);
    try {
      const failure = await coreScenario(12_000).then(() => undefined, (err: unknown) => err);
      expect(failure, 'the core scenario passed without the rule').toBeInstanceOf(Error);
      // Not just any failure (a step timing out proves nothing by itself): the API server said 403
      // to this ServiceAccount for a verb and resource of exactly the removed rule.
      const all = refusals();
      expect(all.filter((m) => refusalOf(rule).test(m)), `403s seen: ${JSON.stringify(all)}; failure: ${String(failure)}`).not.toEqual([]);
    } finally {
      await put(s.client, localized(role));
    }
  });
});
