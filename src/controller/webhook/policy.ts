// Pod injection without a webhook (--pod-injection=policy): one MutatingAdmissionPolicy and its
// binding per RegistryCredential that can render, on clusters that serve
// admissionregistration.k8s.io/v1 MutatingAdmissionPolicy (GA in Kubernetes 1.36). The API server
// evaluates the credential's namespace rules in CEL against the pod's namespace object and adds the
// same JSON patch the webhook would; no serving certificate, nothing to reach, nothing to time out.
//
// What the policy decides is what podInjection (../injection.ts) decides, with one exception: a
// policy cannot read the pod's ServiceAccount object, so a ServiceAccount *label selector* cannot be
// judged at admission. The policy covers the names part of spec.serviceAccounts ("*" or the names
// listed); ServiceAccounts selected by labels alone get the entry from the controller's
// ServiceAccount patch, which Kubernetes copies into pods created after it (the webhook, which
// reads its cache, also covers a pod created before the patch). Nor does the policy look at the
// ServiceAccount's own opt-out label: a ServiceAccount named by a credential gets the entry in a
// selected namespace even if it carries regcred.dev/ignore=true (the webhook, knowing the object,
// would leave it out).
import { isDeepStrictEqual } from 'node:util';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { COMPONENT_LABEL, IGNORE_LABEL, NAME_LABEL, NAME_VALUE } from '../../api/labels.ts';
import type { LabelSelector, ResolvedSpec } from '../../api/schema.ts';
import { RESOURCES, isNotFound, type KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { Informer } from '../../kube/informer.ts';
import type { KubeObject } from '../../kube/objects.ts';
import type { Caches } from '../caches.ts';
import { Runner, whenSynced } from './runner.ts';
import { injectionNamespaceSelector, NOT_MIRROR_POD_EXPRESSION } from './configuration.ts';

export const POLICY_COMPONENT = 'pod-injection-policy';
export const POLICY_SELECTOR = `${NAME_LABEL}=${NAME_VALUE},${COMPONENT_LABEL}=${POLICY_COMPONENT}`;
const MAX_NAME = 253;

export interface PolicyCredential {
  name: string;
  spec: ResolvedSpec;
}

export interface DesiredPolicyOptions {
  /** Namespaces no pod is ever patched in (the binding's namespaceSelector), as the webhook's. */
  excludedNamespaces: string[];
  /** Prefix of every object name: the policy and binding of credential C are named `${prefix}${C}`. */
  prefix: string;
}

interface NamedRule {
  name: string;
  expression: string;
}

export interface MutatingAdmissionPolicy extends KubeObject {
  apiVersion?: string;
  kind?: string;
  spec?: {
    matchConstraints: {
      resourceRules: { apiGroups: string[]; apiVersions: string[]; operations: string[]; resources: string[]; scope: string }[];
      matchPolicy: string;
      namespaceSelector: Record<string, never>;
      objectSelector: Record<string, never>;
    };
    matchConditions: NamedRule[];
    failurePolicy: string;
    reinvocationPolicy: string;
    mutations: { patchType: 'JSONPatch'; jsonPatch: { expression: string } }[];
  };
}

export interface MutatingAdmissionPolicyBinding extends KubeObject {
  apiVersion?: string;
  kind?: string;
  spec?: {
    policyName: string;
    matchResources: {
      namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
      objectSelector: Record<string, never>;
      matchPolicy: string;
    };
  };
}

/** A CEL string literal (CEL accepts JSON's escapes). */
export const celString = (s: string): string => JSON.stringify(s);

/** An RE2 pattern, anchored, for a shell-style glob: the same as selection.ts's globMatch. */
export function globRegex(pattern: string): string {
  const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return `^${body}$`;
}

const LABELS = 'namespaceObject.metadata.labels';
const hasLabel = (key: string) => `(has(${LABELS}) && ${celString(key)} in ${LABELS})`;
const labelIs = (key: string, value: string) => `(${hasLabel(key)} && ${LABELS}[${celString(key)}] == ${celString(value)})`;
const labelIn = (key: string, values: string[]) => `(${hasLabel(key)} && ${LABELS}[${celString(key)}] in [${values.map(celString).join(', ')}])`;
const nameMatchesAny = (globs: string[]) => `(${globs.map((g) => `namespaceObject.metadata.name.matches(${celString(globRegex(g))})`).join(' || ')})`;

/** CEL over `namespaceObject.metadata.labels` for a label selector; 'true' when it has no requirement. */
export function selectorExpression(selector: LabelSelector | undefined): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector?.matchLabels ?? {})) parts.push(labelIs(k, v));
  for (const req of selector?.matchExpressions ?? []) {
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        parts.push(labelIn(req.key, values));
        break;
      case 'NotIn':
        parts.push(`!${labelIn(req.key, values)}`);
        break;
      case 'Exists':
        parts.push(hasLabel(req.key));
        break;
      case 'DoesNotExist':
        parts.push(`!${hasLabel(req.key)}`);
        break;
    }
  }
  return parts.length ? parts.join(' && ') : 'true';
}

/** selection.ts's namespaceSelected, in CEL: not terminating, not opted out, not excluded, included, labels matched. */
export function namespaceExpression(spec: ResolvedSpec): string {
  const parts = ['!has(namespaceObject.metadata.deletionTimestamp)', `!${labelIs(IGNORE_LABEL, 'true')}`];
  if (spec.namespaces.exclude.length) parts.push(`!${nameMatchesAny(spec.namespaces.exclude)}`);
  if (spec.namespaces.include) parts.push(spec.namespaces.include.length ? nameMatchesAny(spec.namespaces.include) : 'false');
  if (spec.namespaces.selector) parts.push(selectorExpression(spec.namespaces.selector));
  return parts.join(' && ');
}

/** podServiceAccountName, in CEL. */
export const SERVICE_ACCOUNT_NAME_EXPRESSION =
  "has(object.spec.serviceAccountName) && object.spec.serviceAccountName != '' ? object.spec.serviceAccountName : " +
  "(has(object.spec.serviceAccount) && object.spec.serviceAccount != '' ? object.spec.serviceAccount : 'default')";

/** The names part of the ServiceAccount selection (see the top of this file for label selectors). */
export function serviceAccountExpression(spec: ResolvedSpec): string {
  const { names } = spec.serviceAccounts;
  if (names.includes('*')) return 'true';
  if (!names.length) return 'false';
  return `(${SERVICE_ACCOUNT_NAME_EXPRESSION}) in [${names.map(celString).join(', ')}]`;
}

/** Adds `{name: secretName}`: the whole list when the pod has none, else at its end. */
export function patchExpression(secretName: string): string {
  const entry = `Object.spec.imagePullSecrets{name: ${celString(secretName)}}`;
  return `has(object.spec.imagePullSecrets) ? [JSONPatch{op: "add", path: "/spec/imagePullSecrets/-", value: ${entry}}] : [JSONPatch{op: "add", path: "/spec/imagePullSecrets", value: [${entry}]}]`;
}

/** The object name for a credential: `${prefix}${name}`, shortened with a hash when too long. */
export function policyName(prefix: string, credential: string): string {
  const full = `${prefix}${credential}`;
  if (full.length <= MAX_NAME) return full;
  const hash = createHash('sha256').update(credential).digest('hex').slice(0, 10);
  return `${full.slice(0, MAX_NAME - hash.length - 1).replace(/[-.]+$/, '')}-${hash}`;
}

/**
 * The policy and binding for one credential, with every field the API server would default set,
 * so that a live object equal to them compares equal.
 */
export function desiredInjectionPolicy(credential: PolicyCredential, options: DesiredPolicyOptions): {
  policy: MutatingAdmissionPolicy & Required<Pick<MutatingAdmissionPolicy, 'spec' | 'apiVersion' | 'kind'>>;
  binding: MutatingAdmissionPolicyBinding & Required<Pick<MutatingAdmissionPolicyBinding, 'spec' | 'apiVersion' | 'kind'>>;
} {
  const name = policyName(options.prefix, credential.name);
  const labels = { [NAME_LABEL]: NAME_VALUE, [COMPONENT_LABEL]: POLICY_COMPONENT };
  const { spec } = credential;
  const listed = `has(object.spec.imagePullSecrets) && object.spec.imagePullSecrets.exists(s, has(s.name) && s.name == ${celString(spec.secretName)})`;
  return {
    policy: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicy',
      metadata: { name, labels: { ...labels } },
      spec: {
        matchConstraints: {
          resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: '*' }],
          matchPolicy: 'Equivalent',
          namespaceSelector: {},
          objectSelector: {},
        },
        matchConditions: [
          { name: 'not-mirror-pod', expression: NOT_MIRROR_POD_EXPRESSION },
          { name: 'service-account-selected', expression: serviceAccountExpression(spec) },
          { name: 'not-listed', expression: `!(${listed})` },
        ],
        failurePolicy: 'Ignore',
        reinvocationPolicy: 'IfNeeded',
        // matchConditions do not see namespaceObject: the namespace rules guard the patch itself.
        mutations: [{ patchType: 'JSONPatch', jsonPatch: { expression: `${namespaceExpression(spec)} ? (${patchExpression(spec.secretName)}) : []` } }],
      },
    },
    binding: {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingAdmissionPolicyBinding',
      metadata: { name, labels: { ...labels } },
      spec: {
        policyName: name,
        matchResources: {
          namespaceSelector: injectionNamespaceSelector(options.excludedNamespaces),
          objectSelector: {},
          matchPolicy: 'Equivalent',
        },
      },
    },
  };
}

/** Owned fields of `live` that differ from `desired`: our labels and the spec, compared whole. */
export function policyDifferences(desired: { metadata: { labels?: Record<string, string> }; spec: object }, live: { metadata: { labels?: Record<string, string> }; spec?: object }): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) if (live.metadata.labels?.[k] !== v) out.push(`metadata.labels[${k}]`);
  for (const [k, v] of Object.entries(desired.spec)) {
    if (!isDeepStrictEqual(v, (live.spec as Record<string, unknown> | undefined)?.[k])) out.push(`spec.${k}`);
  }
  return out;
}

export interface InjectionPoliciesOptions extends DesiredPolicyOptions {
  /** Only for tests: how long to wait before the first pass after sync(). */
  debounceMs?: number;
}

/**
 * Keeps one policy and binding per renderable credential, leader only. sync() gives the credentials
 * (the operator calls it whenever credentials or sources change); informers on our own objects
 * (by label) put back anything changed or deleted by someone else. Only objects carrying our labels
 * and our name prefix are ever deleted.
 */
export class InjectionPolicies {
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly options: InjectionPoliciesOptions;
  private readonly policies: Informer<MutatingAdmissionPolicy>;
  private readonly bindings: Informer<MutatingAdmissionPolicyBinding>;
  private readonly runner: Runner;
  private desired: (() => PolicyCredential[]) | undefined;
  private leading = false;
  private stopped = false;

  constructor(client: KubeClient, log: Logger, options: InjectionPoliciesOptions) {
    this.client = client;
    this.log = log;
    this.options = { ...options, excludedNamespaces: [...options.excludedNamespaces] };
    const again = () => {
      if (this.leading) this.runner.schedule(0);
    };
    this.policies = new Informer<MutatingAdmissionPolicy>(client, RESOURCES.mutatingAdmissionPolicies, log, { labelSelector: POLICY_SELECTOR }).on(again);
    this.bindings = new Informer<MutatingAdmissionPolicyBinding>(client, RESOURCES.mutatingAdmissionPolicyBindings, log, { labelSelector: POLICY_SELECTOR }).on(again);
    this.runner = new Runner(
      () => this.reconcile(),
      (err, retryInMs) => this.log.warn({ error: describe(err), retryInMs }, 'policy: could not reconcile the MutatingAdmissionPolicies; retrying'),
    );
  }

  /**
   * The credentials that can render now, or a function giving them when the pass runs; their
   * policies are made true soon after (debounced: a burst of calls makes one pass).
   */
  sync(credentials: PolicyCredential[] | (() => PolicyCredential[])): void {
    if (typeof credentials === 'function') this.desired = credentials;
    else {
      const copy = credentials.map((c) => ({ name: c.name, spec: c.spec }));
      this.desired = () => copy;
    }
    if (this.leading) this.runner.schedule(this.options.debounceMs ?? 200);
  }

  /** Calls sync() on every change of a credential or a source Secret, from the operator's caches. */
  follow(caches: Caches): void {
    const provider = () => caches.renderableCredentials();
    caches.credentials.on(() => this.sync(provider));
    caches.sourceSecrets.on(() => this.sync(provider));
    this.sync(provider);
  }

  /** Leader only: watches our objects and keeps them true (until stop()). */
  lead(): void {
    if (this.stopped || this.leading) return;
    this.leading = true;
    this.policies.start();
    this.bindings.start();
    this.runner.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.leading = false;
    this.runner.stop();
    this.policies.stop();
    this.bindings.stop();
  }

  private owned(o: KubeObject): boolean {
    return o.metadata.name.startsWith(this.options.prefix) && o.metadata.labels?.[NAME_LABEL] === NAME_VALUE && o.metadata.labels[COMPONENT_LABEL] === POLICY_COMPONENT;
  }

  private async reconcile(): Promise<number | undefined> {
    if (!this.leading) return undefined;
    // Before the first sync() nothing is known to be wanted (deleting would remove every policy);
    // sync() schedules the pass that follows.
    if (!this.desired) return undefined;
    if (!(await whenSynced([this.policies, this.bindings], () => this.leading))) return undefined;
    const wanted = new Set<string>();
    for (const credential of this.desired()) {
      const { policy, binding } = desiredInjectionPolicy(credential, this.options);
      wanted.add(policy.metadata.name);
      // The policy first: a binding to a policy that does not exist yet does nothing.
      await this.ensure(RESOURCES.mutatingAdmissionPolicies, this.policies, policy, credential.name);
      await this.ensure(RESOURCES.mutatingAdmissionPolicyBindings, this.bindings, binding, credential.name);
    }
    // Bindings before policies, so no binding is ever left pointing at nothing.
    for (const [resource, informer] of [[RESOURCES.mutatingAdmissionPolicyBindings, this.bindings], [RESOURCES.mutatingAdmissionPolicies, this.policies]] as const) {
      for (const live of (informer as Informer<KubeObject>).list()) {
        if (wanted.has(live.metadata.name) || !this.owned(live)) continue;
        try {
          await this.client.delete(resource, undefined, live.metadata.name, live.metadata.uid ? { uid: live.metadata.uid } : undefined);
          this.log.info({ [resource.kind]: live.metadata.name }, 'policy: deleted');
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        (informer as Informer<KubeObject>).forget(undefined, live.metadata.name);
      }
    }
    return undefined;
  }

  private async ensure<T extends MutatingAdmissionPolicy | MutatingAdmissionPolicyBinding>(
    resource: typeof RESOURCES.mutatingAdmissionPolicies | typeof RESOURCES.mutatingAdmissionPolicyBindings,
    informer: Informer<T>,
    desired: T & { spec: object },
    credential: string,
  ): Promise<void> {
    const name = desired.metadata.name;
    const live = informer.get(undefined, name);
    if (!live) {
      // A conflict (someone made it meanwhile) is thrown: the runner retries once the informer has it.
      informer.observe(await this.client.create<T>(resource, undefined, desired));
      this.log.info({ [resource.kind]: name, credential }, 'policy: created');
      return;
    }
    const differences = policyDifferences(desired, live);
    if (!differences.length) return;
    const body = { ...live, metadata: { ...live.metadata, labels: { ...live.metadata.labels, ...desired.metadata.labels } }, spec: desired.spec };
    const replaced = await this.client.replace<T>(resource, undefined, name, body);
    informer.observe(replaced);
    this.log.info({ [resource.kind]: name, credential, restored: differences }, 'policy: updated');
    const still = policyDifferences(desired, replaced);
    if (still.length) this.log.warn({ [resource.kind]: name, fields: still }, 'policy: the API server keeps these fields different from what the operator writes');
  }
}
