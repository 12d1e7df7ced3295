// --pod-injection=policy on the real control plane: the operator keeps a MutatingAdmissionPolicy and
// binding per RegistryCredential, and the API server adds the entry at admission with no webhook.
// One table of cases (selected namespace, opted out, excluded glob, label-selected namespace,
// ServiceAccount not named, entry already listed) is run through the API server and through the
// webhook's decision (podInjection) on the same namespace and ServiceAccount objects: the outcomes
// are equal. The policies go when their credential does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IGNORE_LABEL } from '../../src/api/labels.ts';
import { resolveSpec, type ResolvedSpec } from '../../src/api/schema.ts';
import { podInjection } from '../../src/controller/injection.ts';
import { POLICY_SELECTOR } from '../../src/controller/webhook/policy.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import type { KubeObject, Namespace, ServiceAccount } from '../../src/kube/objects.ts';
import { createNamespace, eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('mapol');
const PREFIX = `${s.id}-pol-`;
const A = `${s.id}-a`;
const B = `${s.id}-b`;
const OURS = ['regcred', 'pull-b'];
const REGISTRY = { server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } };
const SPEC_A = { secretName: 'regcred', registries: [REGISTRY], namespaces: { include: [`${s.id}-*`], exclude: ['kube-*', `${s.id}-skip-*`] } };
const SPEC_B = {
  secretName: 'pull-b',
  registries: [REGISTRY],
  namespaces: { include: [`${s.id}-*`], selector: { matchLabels: { team: 'blue' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }] } },
  serviceAccounts: { names: ['builder'] },
};

interface Pod { metadata: { name: string; namespace: string }; spec: { serviceAccountName?: string; imagePullSecrets?: Array<{ name: string }> } }

const podBody = (name: string, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'app', image: 'registry.acme.io/app:1' }], ...extra } });
const names = (p: Pod) => (p.spec.imagePullSecrets ?? []).map((e) => e.name);

/** Creates a pod, trying again while the ServiceAccount admission plugin waits for the ServiceAccount. */
async function createPod(ns: string, name: string, extra?: Record<string, unknown>): Promise<Pod> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await s.client.request<Pod>('POST', `/api/v1/namespaces/${ns}/pods`, { body: podBody(name, extra) });
    } catch (err) {
      const waitingForServiceAccount = err instanceof KubeError && /serviceaccount|service account/i.test(err.message);
      if (!waitingForServiceAccount || attempt > 200) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const ourPolicies = async () => (await s.client.list<KubeObject>(RESOURCES.mutatingAdmissionPolicies, undefined, { labelSelector: POLICY_SELECTOR })).items.map((o) => o.metadata.name).filter((n) => n.startsWith(PREFIX)).sort();
const ourBindings = async () => (await s.client.list<KubeObject>(RESOURCES.mutatingAdmissionPolicyBindings, undefined, { labelSelector: POLICY_SELECTOR })).items.map((o) => o.metadata.name).filter((n) => n.startsWith(PREFIX)).sort();

function resolved(name: string, spec: unknown): { name: string; spec: ResolvedSpec } {
  const r = resolveSpec(name, spec);
  if (!r.ok) throw new Error(r.message);
  return { name, spec: r.spec };
}

async function serviceAccount(ns: string, name: string): Promise<void> {
  await s.client.create(RESOURCES.serviceAccounts, ns, { metadata: { name } });
}

beforeAll(async () => {
  await s.setup(['--pod-injection=policy', `--webhook-configuration-name=${s.id}-pol`, '--allowed-secret-names=regcred,pull-b']);
  await s.sourceSecret('pw', { password: s.password() });
  await s.credential(A, SPEC_A);
  await s.credential(B, SPEC_B);
  await eventually('both policies and bindings', async () => {
    const want = [`${PREFIX}${A}`, `${PREFIX}${B}`].sort();
    return JSON.stringify(await ourPolicies()) === JSON.stringify(want) && JSON.stringify(await ourBindings()) === JSON.stringify(want);
  }, 60_000);
  // The API server compiles a new policy shortly after it is stored: wait until both act. A pod
  // listing an entry of its own gets nothing from its ServiceAccount, so only the policy adds ours.
  const warmA = await s.namespace('warm-a');
  const warmB = await s.namespace('warm-b', { team: 'blue', tier: 'api' });
  await serviceAccount(warmB, 'builder');
  let i = 0;
  await eventually('policy A to act', async () => names(await createPod(warmA, `w${i++}`, { imagePullSecrets: [{ name: 'other' }] })).includes('regcred'), 60_000);
  await eventually('policy B to act', async () => names(await createPod(warmB, `w${i++}`, { serviceAccountName: 'builder', imagePullSecrets: [{ name: 'other' }] })).includes('pull-b'), 60_000);
}, 180_000);

afterAll(async () => {
  await s.teardown();
  // Whatever the operator left (it is stopped now): the control plane is shared by the suite.
  for (const name of await ourBindings().catch(() => [])) await s.client.delete(RESOURCES.mutatingAdmissionPolicyBindings, undefined, name).catch(() => undefined);
  for (const name of await ourPolicies().catch(() => [])) await s.client.delete(RESOURCES.mutatingAdmissionPolicies, undefined, name).catch(() => undefined);
});

interface Case {
  what: string;
  ns: string;
  pod?: Record<string, unknown>;
  expected: string[];
}

describe('pod injection by MutatingAdmissionPolicy', () => {
  it('gives the same results as the webhook for the same table of cases', async () => {
    const plain = await s.namespace('plain');
    const optedOut = await s.namespace('optout', { [IGNORE_LABEL]: 'true' });
    const skipped = await s.namespace('skip-1');
    const blue = await s.namespace('blue', { team: 'blue', tier: 'web' });
    const green = await s.namespace('green', { team: 'green', tier: 'web' });
    for (const ns of [plain, blue, green]) {
      await serviceAccount(ns, 'builder');
      await serviceAccount(ns, 'other');
    }
    const table: Case[] = [
      { what: 'selected namespace, default ServiceAccount', ns: plain, expected: ['regcred'] },
      { what: 'selected namespace, pod listing another entry', ns: plain, pod: { imagePullSecrets: [{ name: 'other' }] }, expected: ['regcred'] },
      { what: 'opted-out namespace', ns: optedOut, expected: [] },
      { what: 'opted-out namespace, pod listing another entry', ns: optedOut, pod: { imagePullSecrets: [{ name: 'other' }] }, expected: [] },
      { what: 'excluded glob', ns: skipped, pod: { imagePullSecrets: [{ name: 'other' }] }, expected: [] },
      { what: 'label-selected namespace, named ServiceAccount', ns: blue, pod: { serviceAccountName: 'builder', imagePullSecrets: [{ name: 'other' }] }, expected: ['pull-b'] },
      { what: 'label-selected namespace, default ServiceAccount', ns: blue, pod: { imagePullSecrets: [{ name: 'other' }] }, expected: ['regcred'] },
      { what: 'namespace labels not matched', ns: green, pod: { serviceAccountName: 'builder', imagePullSecrets: [{ name: 'other' }] }, expected: [] },
      { what: 'ServiceAccount not named', ns: plain, pod: { serviceAccountName: 'other', imagePullSecrets: [{ name: 'other' }] }, expected: [] },
      { what: 'ServiceAccount not named, no entries', ns: blue, pod: { serviceAccountName: 'other' }, expected: [] },
      { what: 'pod already listing the secret', ns: plain, pod: { imagePullSecrets: [{ name: 'regcred' }] }, expected: ['regcred'] },
      { what: 'pod already listing both', ns: blue, pod: { serviceAccountName: 'builder', imagePullSecrets: [{ name: 'pull-b' }, { name: 'regcred' }] }, expected: ['pull-b', 'regcred'] },
    ];
    const credentials = [resolved(A, SPEC_A), resolved(B, SPEC_B)];

    const results = [];
    for (const [i, c] of table.entries()) {
      const created = await createPod(c.ns, `case-${i}`, c.pod);
      const actual = names(created);
      // The webhook's decision on the same objects, as the webhook would see the pod.
      const namespace = await s.client.get<Namespace>(RESOURCES.namespaces, undefined, c.ns);
      const saName = created.spec.serviceAccountName ?? 'default';
      const sa = await s.client.get<ServiceAccount>(RESOURCES.serviceAccounts, c.ns, saName);
      const requested = ((c.pod?.imagePullSecrets as Array<{ name: string }> | undefined) ?? []);
      const decision = podInjection({
        pod: { metadata: { name: `case-${i}`, namespace: c.ns }, spec: { serviceAccountName: saName, imagePullSecrets: requested } },
        namespace,
        serviceAccount: sa,
        credentials,
      });
      // A pod listing no entry of its own gets its ServiceAccount's (the controller patches only
      // ServiceAccounts the same credentials select): ours on it count as the webhook's too.
      const fromServiceAccount = requested.length ? [] : (sa.imagePullSecrets ?? []).map((e) => e.name ?? '');
      const webhook = [...new Set([...requested.map((e) => e.name), ...fromServiceAccount, ...decision.added])].filter((n) => OURS.includes(n)).sort();
      const policy = actual.filter((n) => OURS.includes(n)).sort();
      results.push({ what: c.what, policy, webhook, expected: c.expected, duplicates: actual.length - new Set(actual).size });
    }
    expect(results).toEqual(results.map((r) => ({ ...r, policy: r.expected, webhook: r.expected, duplicates: 0 })));
  });

  it('a namespace and a pod created back to back: the pod has our entry, 20 times in a row', async () => {
    const missing: string[] = [];
    for (let i = 0; i < 20; i++) {
      const ns = `${s.id}-race-${i}`;
      await createNamespace(s.client, ns);
      if (!names(await createPod(ns, 'app')).includes('regcred')) missing.push(ns);
    }
    expect(missing).toEqual([]);
  }, 120_000);

  it('restores a policy someone changes, and deletes the pair when its credential goes', async () => {
    const name = `${PREFIX}${B}`;
    const live = await s.client.get<KubeObject & { spec: { failurePolicy: string } }>(RESOURCES.mutatingAdmissionPolicies, undefined, name);
    await s.client.replace(RESOURCES.mutatingAdmissionPolicies, undefined, name, { ...live, spec: { ...live.spec, failurePolicy: 'Fail' } });
    await eventually('the policy restored', async () => (await s.client.get<{ spec: { failurePolicy: string } }>(RESOURCES.mutatingAdmissionPolicies, undefined, name)).spec.failurePolicy === 'Ignore');
    await s.client.delete(RESOURCES.registryCredentials, undefined, B);
    await eventually('the pair of the deleted credential gone', async () => {
      const [policies, bindings] = [await ourPolicies(), await ourBindings()];
      return JSON.stringify(policies) === JSON.stringify([`${PREFIX}${A}`]) && JSON.stringify(bindings) === JSON.stringify([`${PREFIX}${A}`]);
    }, 60_000);
  });
});
