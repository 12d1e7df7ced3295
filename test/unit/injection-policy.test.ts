// --pod-injection=policy: the MutatingAdmissionPolicy and binding built for a credential (the
// namespace rules in CEL, the ServiceAccount names, the JSON patch), and InjectionPolicies keeping
// one pair per credential: created, restored, deleted when the credential goes, and never touching
// objects that are not ours. That the API server decides as podInjection does is shown on the real
// control plane (test/integration/injection-policy.test.ts).
import fc from 'fast-check';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resolveSpec, type ResolvedSpec } from '../../src/api/schema.ts';
import { globMatch } from '../../src/controller/selection.ts';
import {
  InjectionPolicies,
  celString,
  desiredInjectionPolicy,
  globRegex,
  namespaceExpression,
  policyDifferences,
  policyName,
  selectorExpression,
  serviceAccountExpression,
  type MutatingAdmissionPolicy,
  type MutatingAdmissionPolicyBinding,
} from '../../src/controller/webhook/policy.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import { FakeClient } from '../support/fake-client.ts';

const REGISTRY = { server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } };
const EXCLUDED = ['kube-system', 'kube-public', 'kube-node-lease', 'regcred-system'];
const OPTIONS = { excludedNamespaces: EXCLUDED, prefix: 'regcred-operator-' };

function credential(name: string, extra: Record<string, unknown> = {}): { name: string; spec: ResolvedSpec } {
  const r = resolveSpec(name, { registries: [REGISTRY], ...extra });
  if (!r.ok) throw new Error(r.message);
  return { name, spec: r.spec };
}

describe('desiredInjectionPolicy', () => {
  it('builds a policy for pod CREATE and a binding, labelled ours, named after the credential', () => {
    const { policy, binding } = desiredInjectionPolicy(credential('acme', { secretName: 'regcred' }), OPTIONS);
    expect(policy.apiVersion).toBe('admissionregistration.k8s.io/v1');
    expect(policy.kind).toBe('MutatingAdmissionPolicy');
    expect(binding.kind).toBe('MutatingAdmissionPolicyBinding');
    const labels = { 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'pod-injection-policy' };
    expect(policy.metadata).toEqual({ name: 'regcred-operator-acme', labels });
    expect(binding.metadata).toEqual({ name: 'regcred-operator-acme', labels });
    expect(policy.spec.matchConstraints).toEqual({
      resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: '*' }],
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
    });
    expect(policy.spec.failurePolicy).toBe('Ignore');
    expect(policy.spec.reinvocationPolicy).toBe('IfNeeded');
    expect(policy.spec.matchConditions.map((c) => c.name)).toEqual(['not-mirror-pod', 'service-account-selected', 'not-listed']);
    expect(policy.spec.matchConditions[0]!.expression).toContain("'kubernetes.io/config.mirror' in object.metadata.annotations");
    expect(policy.spec.matchConditions[2]!.expression).toBe('!(has(object.spec.imagePullSecrets) && object.spec.imagePullSecrets.exists(s, has(s.name) && s.name == "regcred"))');
    expect(binding.spec).toEqual({
      policyName: 'regcred-operator-acme',
      matchResources: {
        namespaceSelector: {
          matchExpressions: [
            { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: EXCLUDED },
            { key: 'regcred.dev/ignore', operator: 'NotIn', values: ['true'] },
          ],
        },
        objectSelector: {},
        matchPolicy: 'Equivalent',
      },
    });
  });

  it('patches with the whole list when the pod has none, else appends; only in a selected namespace', () => {
    const { policy } = desiredInjectionPolicy(credential('acme', { secretName: 'regcred' }), OPTIONS);
    const expression = policy.spec.mutations[0]!.jsonPatch.expression;
    expect(policy.spec.mutations[0]!.patchType).toBe('JSONPatch');
    const entry = 'Object.spec.imagePullSecrets{name: "regcred"}';
    expect(expression).toBe(
      `${namespaceExpression(credential('acme').spec)} ? (has(object.spec.imagePullSecrets) ? ` +
        `[JSONPatch{op: "add", path: "/spec/imagePullSecrets/-", value: ${entry}}] : ` +
        `[JSONPatch{op: "add", path: "/spec/imagePullSecrets", value: [${entry}]}]) : []`,
    );
  });

  it('expresses the namespace rules: terminating, opted out, exclude, include, labels', () => {
    const defaults = namespaceExpression(credential('a').spec);
    expect(defaults).toBe(
      '!has(namespaceObject.metadata.deletionTimestamp) && ' +
        '!((has(namespaceObject.metadata.labels) && "regcred.dev/ignore" in namespaceObject.metadata.labels) && namespaceObject.metadata.labels["regcred.dev/ignore"] == "true") && ' +
        '!(namespaceObject.metadata.name.matches("^kube-system$") || namespaceObject.metadata.name.matches("^kube-public$") || namespaceObject.metadata.name.matches("^kube-node-lease$"))',
    );
    const full = namespaceExpression(credential('a', { namespaces: { include: ['team-*'], exclude: [], selector: { matchLabels: { env: 'prod' } } } }).spec);
    expect(full).toContain('namespaceObject.metadata.name.matches("^team-.*$")');
    expect(full).not.toContain('kube-system');
    expect(full).toContain('namespaceObject.metadata.labels["env"] == "prod"');
    expect(namespaceExpression(credential('a', { namespaces: { include: [] } }).spec)).toMatch(/&& false$/);
  });

  it('turns every selector operator into CEL over the namespace labels', () => {
    expect(selectorExpression(undefined)).toBe('true');
    expect(selectorExpression({})).toBe('true');
    const has = (k: string) => `(has(namespaceObject.metadata.labels) && "${k}" in namespaceObject.metadata.labels)`;
    expect(selectorExpression({
      matchLabels: { a: '1' },
      matchExpressions: [
        { key: 'b', operator: 'In', values: ['x', 'y'] },
        { key: 'c', operator: 'NotIn', values: ['z'] },
        { key: 'd', operator: 'Exists' },
        { key: 'e', operator: 'DoesNotExist' },
      ],
    })).toBe([
      `(${has('a')} && namespaceObject.metadata.labels["a"] == "1")`,
      `(${has('b')} && namespaceObject.metadata.labels["b"] in ["x", "y"])`,
      `!(${has('c')} && namespaceObject.metadata.labels["c"] in ["z"])`,
      has('d'),
      `!${has('e')}`,
    ].join(' && '));
  });

  it('selects ServiceAccounts by name; "*" is every one; a label selector alone selects none at admission', () => {
    expect(serviceAccountExpression(credential('a').spec)).toMatch(/\) in \["default"\]$/);
    expect(serviceAccountExpression(credential('a', { serviceAccounts: { names: ['*'] } }).spec)).toBe('true');
    expect(serviceAccountExpression(credential('a', { serviceAccounts: { names: ['x', 'y'] } }).spec)).toMatch(/\) in \["x", "y"\]$/);
    // The policy cannot read the ServiceAccount object: the controller's ServiceAccount patch covers selectors.
    expect(serviceAccountExpression(credential('a', { serviceAccounts: { names: [], selector: { matchLabels: { x: 'y' } } } }).spec)).toBe('false');
    expect(serviceAccountExpression(credential('a', { serviceAccounts: { selector: { matchLabels: { x: 'y' } } } }).spec)).toMatch(/\) in \["default"\]$/);
  });

  it('quotes strings safely for CEL', () => {
    expect(celString('it\'s "x"\\')).toBe('"it\'s \\"x\\"\\\\"');
  });

  it('makes the same glob regexes as globMatch', () => {
    const chars = fc.constantFrom('a', 'b', '-', '.', '*', '?', '+', '(', '[', '$', '^', '\\', '|');
    fc.assert(fc.property(fc.string({ unit: chars, minLength: 1, maxLength: 6 }), fc.string({ unit: chars, maxLength: 8 }), (pattern, name) => {
      expect(new RegExp(globRegex(pattern)).test(name)).toBe(globMatch(pattern, name));
    }), { numRuns: 2000 });
  });

  it('keeps object names within 253 characters', () => {
    const long = 'x'.repeat(250);
    const name = policyName('regcred-operator-', long);
    expect(name.length).toBeLessThanOrEqual(253);
    expect(name).not.toBe(policyName('regcred-operator-', `${long}y`));
    expect(policyName('p-', 'acme')).toBe('p-acme');
  });

  it('compares only our labels and the spec', () => {
    const { policy } = desiredInjectionPolicy(credential('acme'), OPTIONS);
    const live = structuredClone(policy) as MutatingAdmissionPolicy;
    live.metadata.labels = { ...live.metadata.labels, other: 'x' };
    live.metadata.annotations = { a: 'b' };
    expect(policyDifferences(policy, live)).toEqual([]);
    live.spec!.failurePolicy = 'Fail';
    expect(policyDifferences(policy, live)).toEqual(['spec.failurePolicy']);
  });
});

const MAP = RESOURCES.mutatingAdmissionPolicies;
const MAPB = RESOURCES.mutatingAdmissionPolicyBindings;
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await flush();
    await vi.advanceTimersByTimeAsync(300);
  }
}

describe('InjectionPolicies', () => {
  let fake: FakeClient;
  const instances: InjectionPolicies[] = [];
  const make = () => {
    const p = new InjectionPolicies(fake.client, pino({ level: 'silent' }), OPTIONS);
    instances.push(p);
    return p;
  };

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    fake = new FakeClient();
  });
  afterEach(() => {
    for (const p of instances.splice(0)) p.stop();
    vi.useRealTimers();
  });

  it('writes nothing before the first sync(), then creates a policy and binding per credential', async () => {
    const p = make();
    p.lead();
    await settle();
    expect(fake.writes()).toEqual([]);
    p.sync([credential('a'), credential('b', { secretName: 'regcred' })]);
    await settle();
    expect(fake.object<MutatingAdmissionPolicy>(MAP, undefined, 'regcred-operator-a')?.spec).toEqual(desiredInjectionPolicy(credential('a'), OPTIONS).policy.spec);
    expect(fake.object<MutatingAdmissionPolicyBinding>(MAPB, undefined, 'regcred-operator-b')?.spec?.policyName).toBe('regcred-operator-b');
  });

  it('writes the moment both watches have synced, however long their first lists take', async () => {
    fake.failNext({ verb: 'list', resource: 'mutatingadmissionpolicybindings' }, 500);
    const p = make();
    p.sync([credential('a')]);
    p.lead();
    // The bindings' watch lists again after its first backoff (0.4 to 0.6 s); a second has not passed.
    for (let i = 0; i < 7; i++) {
      await flush();
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(fake.writes().map((c) => `${c.verb} ${c.resource}`)).toEqual(['create mutatingadmissionpolicies', 'create mutatingadmissionpolicybindings']);
  });

  it('puts back a changed policy and a deleted binding', async () => {
    const p = make();
    p.lead();
    p.sync([credential('a')]);
    await settle();
    const live = fake.object<MutatingAdmissionPolicy>(MAP, undefined, 'regcred-operator-a')!;
    await fake.client.replace(MAP, undefined, 'regcred-operator-a', { ...live, spec: { ...live.spec, failurePolicy: 'Fail' } });
    await fake.client.delete(MAPB, undefined, 'regcred-operator-a');
    await settle();
    expect(fake.object<MutatingAdmissionPolicy>(MAP, undefined, 'regcred-operator-a')?.spec?.failurePolicy).toBe('Ignore');
    expect(fake.object(MAPB, undefined, 'regcred-operator-a')).toBeDefined();
  });

  it('deletes the pair of a credential that is gone, and leaves objects that are not ours', async () => {
    const foreign = desiredInjectionPolicy(credential('z'), { ...OPTIONS, prefix: 'someone-else-' });
    fake.seed(MAP, foreign.policy, { metadata: { name: 'regcred-operator-unlabelled' } });
    const p = make();
    p.lead();
    p.sync([credential('a'), credential('b')]);
    await settle();
    p.sync([credential('a')]);
    await settle();
    expect(fake.object(MAP, undefined, 'regcred-operator-a')).toBeDefined();
    expect(fake.object(MAP, undefined, 'regcred-operator-b')).toBeUndefined();
    expect(fake.object(MAPB, undefined, 'regcred-operator-b')).toBeUndefined();
    expect(fake.object(MAP, undefined, 'someone-else-z')).toBeDefined();
    expect(fake.object(MAP, undefined, 'regcred-operator-unlabelled')).toBeDefined();
  });
});
