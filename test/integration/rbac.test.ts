// The shipped RBAC is the least that works: the operator, running as config/rbac's ServiceAccount
// (a real token from the TokenRequest API) under config/policy's admission policy, passes the core
// scenario; with any single rule removed from its roles, the scenario fails; and the API server
// refuses it everything else: Secrets of other names, Secrets outside the credentials namespace,
// writes that are not our labelled pull secrets, ServiceAccount changes beyond imagePullSecrets.
// The roles for people in config/rbac reach people through the built-in admin, edit and view
// ClusterRoles (kube-controller-manager aggregates them).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeClient, KubeError, RESOURCES } from '../../src/kube/client.ts';
import { eventually, kubectl } from '../support/cluster.ts';
import { writeServiceAccountKubeconfig } from '../support/identity.ts';
import { LOG_DIR, OperatorProcess } from '../support/operator.ts';
import { Scenario } from '../support/scenario.ts';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }
interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  rules?: Rule[];
  roleRef?: { apiGroup?: string; kind: string; name: string };
  subjects?: Array<{ apiGroup?: string; kind: string; name: string; namespace?: string }>;
}
interface PolicyObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: {
    policyName?: string;
    matchConditions?: Array<{ name: string; expression: string }>;
    variables?: Array<{ name: string; expression: string }>;
  };
}

const s = new Scenario('rbac');
// The operator's own namespace in this test: its ServiceAccount, Lease and source Secrets live here.
const home = s.credentialsNamespace;
const suffix = `-${s.id}`;
const AGGREGATE_TO = 'rbac.authorization.k8s.io/aggregate-to-';
const shipped: RbacObject[] = parseAllDocuments(kubectl('kustomize', 'config/rbac')).map((d) => d.toJS() as RbacObject);
const policies: PolicyObject[] = parseAllDocuments(kubectl('kustomize', 'config/policy')).map((d) => d.toJS() as PolicyObject);
/** regcred-admin, regcred-edit and regcred-view: for people, through the built-in roles; not the operator's. */
const forPeople = (o: RbacObject) => Object.keys(o.metadata.labels ?? {}).some((k) => k.startsWith(AGGREGATE_TO));
/** The review rights behind --metrics-secure: needed only to serve metrics (metrics-secure.test.ts). */
const forMetrics = (o: RbacObject) => o.metadata.name.includes('-metrics-');
const objects = shipped.filter((o) => !forPeople(o) && !forMetrics(o));
/** The Secret names this test's operator renders to: its --allowed-secret-names, resourceNames and policy. */
const ALLOWED = ['core', 'kept'];
/**
 * The pod webhook's rules (its MutatingWebhookConfiguration, the renewal of its TLS Secret): the
 * core scenario runs without the webhook, so they are not proven needed here; pod-webhook.test.ts
 * and packaging.test.ts run it, the latter as the shipped ServiceAccount under the shipped policy.
 */
const forWebhook = (rule: Rule) => rule.apiGroups.includes('admissionregistration.k8s.io') || !!rule.resourceNames?.some((n) => n.endsWith('-webhook-tls'));
const SHIPPED_ALLOWED = ['regcred'];
/**
 * ServiceAccount tokens for keyless cloud registry tokens: the core scenario renders passwords from
 * Secrets, so it is not proven needed here; cloud-ecr.test.ts uses the TokenRequest API.
 */
const forCloudTokens = (rule: Rule) => rule.resources.includes('serviceaccounts/token');
const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
const peopleRoles = shipped.filter(forPeople);

const rbacPath = (o: RbacObject, name = o.metadata.name) => {
  const group = { group: 'rbac.authorization.k8s.io', version: 'v1', kind: o.kind, namespaced: o.kind === 'Role' || o.kind === 'RoleBinding' };
  const plural = `${o.kind.toLowerCase()}s`;
  return { res: { ...group, plural }, ns: group.namespaced ? o.metadata.namespace : undefined, name };
};

/**
 * The shipped objects, renamed and re-homed so this test's copy touches nothing else, with this
 * test's Secret names where the shipped ones say `regcred` (as a Helm value would set them).
 */
function localized(o: RbacObject): RbacObject {
  const copy = structuredClone(o);
  const inDefault = copy.metadata.namespace === 'default';
  if (copy.kind !== 'ClusterRole' && copy.kind !== 'ClusterRoleBinding' && !inDefault) copy.metadata.namespace = home;
  if (copy.kind !== 'ServiceAccount') copy.metadata.name += suffix;
  if (copy.roleRef) copy.roleRef.name += suffix;
  for (const subject of copy.subjects ?? []) subject.namespace = home;
  for (const rule of copy.rules ?? []) {
    if (rule.resources.includes('secrets') && rule.resourceNames && !forWebhook(rule)) {
      expect(rule.resourceNames).toEqual(SHIPPED_ALLOWED);
      rule.resourceNames = ALLOWED;
    }
  }
  return copy;
}

/** The shipped admission policy, for this test's ServiceAccount, names and credentials namespace. */
function localizedPolicy(o: PolicyObject): PolicyObject {
  const copy = structuredClone(o);
  copy.metadata.name += suffix;
  if (copy.spec.policyName) copy.spec.policyName += suffix;
  const replace = (from: string, to: string) => (e: { expression: string }) => {
    expect(e.expression).toContain(from);
    e.expression = e.expression.replace(from, to);
  };
  for (const c of copy.spec.matchConditions ?? []) replace('system:serviceaccount:regcred-system:regcred-operator', `system:serviceaccount:${home}:regcred-operator`)(c);
  for (const v of copy.spec.variables ?? []) {
    if (v.name === 'allowedNames') replace(JSON.stringify(SHIPPED_ALLOWED).replaceAll('"', "'"), JSON.stringify(ALLOWED).replaceAll('"', "'").replace(',', ', '))(v);
    if (v.name === 'credentialsNamespace') replace("'regcred-system'", `'${home}'`)(v);
  }
  return copy;
}

const policyPath = (o: PolicyObject) => ({
  res: { group: 'admissionregistration.k8s.io', version: 'v1', kind: o.kind, namespaced: false, plural: o.kind === 'ValidatingAdmissionPolicy' ? 'validatingadmissionpolicies' : 'validatingadmissionpolicybindings' },
  name: o.metadata.name,
});

async function put(client: KubeClient, o: RbacObject): Promise<void> {
  const { res, ns, name } = rbacPath(o);
  const body = { metadata: o.metadata, ...(o.rules ? { rules: o.rules } : {}), ...(o.roleRef ? { roleRef: o.roleRef } : {}), ...(o.subjects ? { subjects: o.subjects } : {}) };
  const existing = await client.get<{ metadata: { resourceVersion: string } }>(res, ns, name).catch(() => undefined);
  if (existing) await client.replace(res, ns, name, { ...body, metadata: { ...o.metadata, resourceVersion: existing.metadata.resourceVersion } });
  else await client.create(res, ns, body);
}

let tokenKubeconfig = '';
let asOperator: KubeClient;
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
  for (const o of policies.map(localizedPolicy)) {
    const { res, name } = policyPath(o);
    await s.client.delete(res, undefined, name).catch(() => undefined);
    await s.client.create(res, undefined, { metadata: o.metadata, spec: o.spec });
  }
  mkdirSync(LOG_DIR, { recursive: true });
  tokenKubeconfig = await writeServiceAccountKubeconfig(s.client, inject('kubeconfig'), home, 'regcred-operator', join(LOG_DIR, `${s.id}.kubeconfig`));
  asOperator = KubeClient.load(tokenKubeconfig);
  // The policy takes effect once the API server's informer has it: wait until it refuses.
  await eventually('the admission policy in force', async () => {
    const refused = await asOperator.create(RESOURCES.secrets, home, { metadata: { name: 'core' }, type: 'Opaque', data: {} }).then(
      () => false,
      (err: unknown) => err instanceof KubeError && err.status === 403,
    );
    if (!refused) await s.client.delete(RESOURCES.secrets, home, 'core').catch(() => undefined);
    return refused;
  }, 30_000);
});

afterAll(async () => {
  // These operators' logs are covered by the suite-wide secret check in global teardown.
  for (const o of roles.map(localized)) await put(s.client, o);
  for (const o of policies.map(localizedPolicy).reverse()) {
    const { res, name } = policyPath(o);
    await s.client.delete(res, undefined, name).catch(() => undefined);
  }
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
    args: [
      '--leader-elect', '--leader-election-id', `lease-${n}`, '--retry-period', '1s', '--renew-deadline', '4s', '--lease-duration', '6s',
      '--allowed-secret-names', ALLOWED.join(','),
    ],
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
    for (const rule of [...roles, ...peopleRoles].flatMap((r) => r.rules ?? [])) {
      expect([...rule.verbs, ...rule.resources, ...rule.apiGroups]).not.toContain('*');
    }
  });

  it('is enough: the core scenario passes as the shipped ServiceAccount', async () => {
    await coreScenario(30_000);
    expect(refusals()).toEqual([]);
  });

  const variants = roles.flatMap((role) => (role.rules ?? []).flatMap((rule, i) => (forWebhook(rule) || forCloudTokens(rule) ? [] : [{ role, i, rule, label: `${role.kind} ${role.metadata.name}: ${rule.verbs.join(',')} on ${rule.resources.join(',')}` }])));
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

describe('what the operator\'s identity is refused', () => {
  const pullSecret = (name: string, labels?: Record<string, string>) => ({
    metadata: { name, ...(labels ? { labels } : {}) },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from('{"auths":{}}').toString('base64') },
  });
  const ours = { 'app.kubernetes.io/managed-by': 'regcred-operator', 'regcred.dev/credential': `${s.id}-x` };
  /** The API server's refusal (403) of the request, with its message. */
  const refusal = (p: Promise<unknown>) => p.then(
    () => 'allowed',
    (err: unknown) => (err instanceof KubeError && err.status === 403 ? err.message : `failed otherwise: ${String(err)}`),
  );
  const byRbac = /is forbidden: User "system:serviceaccount:.*:regcred-operator" cannot/;
  const byPolicy = (what: RegExp) => new RegExp(`denied request: ${what.source}`);
  let ns = '';

  beforeAll(async () => {
    ns = await s.namespace('refused');
    await s.client.create(RESOURCES.secrets, ns, { metadata: { name: 'other' }, type: 'Opaque', data: {} });
    // A tenant's own Secret of an allowed name, without our labels.
    await s.client.create(RESOURCES.secrets, ns, pullSecret('kept'));
    await s.saEventually(ns, 'default', () => true);
  });

  it('reads no Secret of another name, lists none across namespaces, and reads Secrets only in the credentials namespace', async () => {
    expect(await refusal(asOperator.get(RESOURCES.secrets, ns, 'other'))).toMatch(byRbac);
    expect(await refusal(asOperator.list(RESOURCES.secrets))).toMatch(byRbac);
    expect(await refusal(asOperator.list(RESOURCES.secrets, ns))).toMatch(byRbac);
    expect(await refusal(asOperator.list(RESOURCES.secrets, undefined, { fieldSelector: 'metadata.name=other' }))).toMatch(byRbac);
    // What it may do: Secrets of its names anywhere, every Secret of the credentials namespace.
    expect((await asOperator.list<unknown>(RESOURCES.secrets, undefined, { fieldSelector: 'metadata.name=kept' })).items.length).toBeGreaterThan(0);
    expect(await refusal(asOperator.list(RESOURCES.secrets, home))).toBe('allowed');
  });

  it('creates only labelled pull secrets of an allowed name', async () => {
    const onlyPullSecrets = byPolicy(/regcred-operator may write only kubernetes.io\/dockerconfigjson Secrets of an allowed name/);
    expect(await refusal(asOperator.create(RESOURCES.secrets, ns, { metadata: { name: 'core', labels: ours }, type: 'Opaque', data: {} }))).toMatch(onlyPullSecrets);
    expect(await refusal(asOperator.create(RESOURCES.secrets, ns, pullSecret('core')))).toMatch(onlyPullSecrets);
    expect(await refusal(asOperator.create(RESOURCES.secrets, ns, pullSecret('not-allowed', ours)))).toMatch(onlyPullSecrets);
    expect(await refusal(asOperator.create(RESOURCES.secrets, ns, pullSecret('core', ours)))).toBe('allowed');
    expect(await refusal(asOperator.delete(RESOURCES.secrets, ns, 'core'))).toBe('allowed');
  });

  it('neither takes over nor deletes a Secret of an allowed name that lacks our label', async () => {
    const onlyOurs = byPolicy(/regcred-operator may update or delete only Secrets that carry its label/);
    const tenants = await s.client.get<{ metadata: { resourceVersion: string } }>(RESOURCES.secrets, ns, 'kept');
    expect(await refusal(asOperator.patch(RESOURCES.secrets, ns, 'kept', { metadata: { labels: ours } }))).toMatch(onlyOurs);
    expect(await refusal(asOperator.delete(RESOURCES.secrets, ns, 'kept'))).toMatch(onlyOurs);
    expect((await s.client.get<{ metadata: { resourceVersion: string } }>(RESOURCES.secrets, ns, 'kept')).metadata.resourceVersion).toBe(tenants.metadata.resourceVersion);
  });

  it('changes a ServiceAccount only in imagePullSecrets of an allowed name and its own annotation', async () => {
    const onlyEntries = byPolicy(/regcred-operator may change a ServiceAccount only in imagePullSecrets entries of an allowed name/);
    const sa = (patch: unknown) => refusal(asOperator.patch(RESOURCES.serviceAccounts, ns, 'default', patch, 'merge'));
    await s.client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: [{ name: 'theirs' }], metadata: { annotations: { team: 'a' } } }, 'merge');
    expect(await sa({ metadata: { annotations: { team: 'b' } } })).toMatch(onlyEntries);
    expect(await sa({ metadata: { annotations: { extra: 'x' } } })).toMatch(onlyEntries);
    expect(await sa({ metadata: { labels: { extra: 'x' } } })).toMatch(onlyEntries);
    expect(await sa({ secrets: [{ name: 'other' }] })).toMatch(onlyEntries);
    expect(await sa({ imagePullSecrets: [] })).toMatch(onlyEntries);
    expect(await sa({ imagePullSecrets: [{ name: 'theirs' }, { name: 'other' }] })).toMatch(onlyEntries);
    expect(await sa({ imagePullSecrets: [{ name: 'theirs' }, { name: 'core' }], metadata: { annotations: { 'regcred.dev/managed-pull-secrets': 'core' } } })).toBe('allowed');
    expect(await sa({ imagePullSecrets: [{ name: 'theirs' }], metadata: { annotations: { 'regcred.dev/managed-pull-secrets': null } } })).toBe('allowed');
  });
});

describe('roles for people, through the built-in admin, edit and view', () => {
  // Renamed copies of regcred-admin, regcred-edit and regcred-view, with their aggregation labels,
  // and people bound to the built-in roles: cluster-wide, since RegistryCredentials are
  // cluster-scoped, and, for contrast, one bound to edit in a single namespace.
  const copies = peopleRoles.map(localized);
  const person = (who: string) => `${who}-${s.id}`;
  const bindings: RbacObject[] = [
    ...['view', 'edit'].map((role) => ({
      kind: 'ClusterRoleBinding',
      metadata: { name: `${s.id}-${role}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: person(role) }],
    })),
    {
      kind: 'RoleBinding',
      metadata: { name: `${s.id}-namespace-edit`, namespace: home },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: person('namespace-edit') }],
    },
  ];
  const credential = `${s.id}-people`;
  const source = 'people-src';

  /** kubectl as a person (impersonated by the admin): what it printed, or the API server's refusal. */
  function kubectlAs(who: string, ...args: string[]): { out?: string; refused?: string } {
    try {
      return { out: kubectl(`--as=${person(who)}`, ...args) };
    } catch (err) {
      const stderr = String((err as { stderr?: unknown }).stderr ?? err);
      if (stderr.includes('(Forbidden)')) return { refused: stderr };
      throw err;
    }
  }

  // Built-in roles also hold rules without apiGroups or resources (nonResourceURLs).
  const ruleKey = (r: Partial<Rule>) => JSON.stringify([r.apiGroups, r.resources, r.verbs].map((list) => [...(list ?? [])].sort()));

  beforeAll(async () => {
    for (const o of [...copies, ...bindings]) await put(s.client, o);
    await s.sourceSecret(source, { password: s.password() });
    // kube-controller-manager copies the rules of every role labelled aggregate-to-<role> into <role>.
    for (const copy of copies) {
      const [label] = Object.keys(copy.metadata.labels ?? {}).filter((k) => k.startsWith(AGGREGATE_TO));
      const builtin = label!.slice(AGGREGATE_TO.length);
      await eventually(`the rules of ${copy.metadata.name} in the built-in ${builtin}`, async () => {
        const have = new Set(((await s.client.get<RbacObject>(rbacPath(copy, builtin).res, undefined, builtin)).rules ?? []).map(ruleKey));
        return copy.rules!.every((r) => have.has(ruleKey(r)));
      }, 90_000);
    }
  }, 180_000);

  afterAll(async () => {
    await s.client.delete(RESOURCES.registryCredentials, undefined, credential).catch(() => undefined);
    for (const o of [...bindings, ...copies]) {
      const { res, ns, name } = rbacPath(o);
      await s.client.delete(res, ns, name).catch(() => undefined);
    }
  });

  it('edit, bound cluster-wide, creates a RegistryCredential; bound in one namespace it cannot', () => {
    const file = join(LOG_DIR, `${credential}.json`);
    writeFileSync(file, JSON.stringify({
      apiVersion: 'regcred.dev/v1alpha1',
      kind: 'RegistryCredential',
      metadata: { name: credential },
      spec: { secretName: 'people', namespaces: { include: [`${s.id}-none`] }, registries: registry(source) },
    }));
    expect(kubectlAs('namespace-edit', 'create', '-f', file)).toEqual({ refused: expect.stringMatching(/cannot create resource "registrycredentials" in API group "regcred.dev" at the cluster scope/) });
    expect(kubectlAs('edit', 'create', '-f', file, '-o', 'name')).toEqual({ out: `registrycredential.regcred.dev/${credential}\n` });
  });

  it('view lists RegistryCredentials and reads their status, and cannot write them or read a Secret', () => {
    const named = `registrycredential.regcred.dev/${credential}\n`;
    expect(kubectlAs('view', 'get', 'registrycredentials.regcred.dev', '-o', 'name')).toEqual({ out: expect.stringContaining(named) });
    expect(kubectlAs('view', 'get', 'registrycredentials.regcred.dev', credential, '--subresource=status', '-o', 'name')).toEqual({ out: named });
    expect(kubectlAs('view', 'delete', 'registrycredentials.regcred.dev', credential)).toEqual({ refused: expect.stringMatching(/cannot delete resource "registrycredentials"/) });
    expect(kubectlAs('view', 'get', 'secret', source, '-n', home)).toEqual({ refused: expect.stringMatching(/cannot get resource "secrets" in API group "" in the namespace/) });
    expect(kubectlAs('view', 'get', 'secrets', '--all-namespaces')).toEqual({ refused: expect.stringMatching(/cannot list resource "secrets"/) });
  });

  it('edit deletes the RegistryCredential it created', () => {
    expect(kubectlAs('edit', 'delete', 'registrycredentials.regcred.dev', credential)).toEqual({ out: expect.stringContaining('deleted') });
  });
});
