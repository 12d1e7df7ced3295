// The desired state of one RegistryCredential and the plan to reach it: pure functions of the
// inputs read from caches. The applier only carries out the plan.
import {
  CREDENTIAL_LABEL,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SA_ENTRIES_ANNOTATION,
} from '../api/labels.ts';
import { API_VERSION, KIND, type ResolvedSpec } from '../api/schema.ts';
import { isTerminating, type Namespace, type Secret, type ServiceAccount } from '../kube/objects.ts';
import type { RenderedConfig } from './dockerconfig.ts';
import { namespaceSelected, serviceAccountSelected } from './selection.ts';

export const DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson';

/** What the desired state needs to know of a RegistryCredential. */
export interface CredentialView {
  name: string;
  uid: string;
  creationTimestamp: string;
  spec: ResolvedSpec;
}

export interface DesiredInputs {
  credential: CredentialView;
  rendered: RenderedConfig;
  /** Every other RegistryCredential with a valid spec, to settle who owns a Secret name. */
  others: CredentialView[];
  namespaces: Namespace[];
  serviceAccountsIn(namespace: string): ServiceAccount[];
  /** Any Secret named spec.secretName in the namespace, whoever manages it. */
  existingSecret(namespace: string): Secret | undefined;
}

export interface NamespaceTarget {
  namespace: string;
  /** Absent when the namespace is blocked by a conflict. */
  secret?: Secret;
  conflict?: string;
  serviceAccounts: string[];
}

/** True when the Secret carries our labels for this RegistryCredential. */
export function managedBy(secret: Secret, credential: string): boolean {
  const l = secret.metadata.labels ?? {};
  return l[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && l[CREDENTIAL_LABEL] === credential;
}

/** The older RegistryCredential (creation time, then name) wins a contested Secret name. */
export function olderFirst(a: CredentialView, b: CredentialView): number {
  const ta = Date.parse(a.creationTimestamp);
  const tb = Date.parse(b.creationTimestamp);
  if (ta !== tb) return ta - tb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export function desiredSecret(credential: CredentialView, namespace: string, rendered: RenderedConfig): Secret {
  return {
    metadata: {
      name: credential.spec.secretName,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: credential.name },
      annotations: { [HASH_ANNOTATION]: rendered.hash },
      ownerReferences: [
        { apiVersion: API_VERSION, kind: KIND, name: credential.name, uid: credential.uid, controller: true, blockOwnerDeletion: false },
      ],
    },
    type: DOCKERCONFIGJSON,
    data: { '.dockerconfigjson': rendered.encoded },
  };
}

export function desiredState(inputs: DesiredInputs): NamespaceTarget[] {
  const { credential, rendered } = inputs;
  const secretName = credential.spec.secretName;
  const rivals = inputs.others.filter((o) => o.spec.secretName === secretName && o.name !== credential.name);
  const targets: NamespaceTarget[] = [];
  for (const ns of inputs.namespaces) {
    if (!namespaceSelected(credential.spec, ns)) continue;
    const name = ns.metadata.name;
    const serviceAccounts = inputs.serviceAccountsIn(name)
      .filter((sa) => serviceAccountSelected(credential.spec, sa))
      .map((sa) => sa.metadata.name)
      .sort();
    const winner = rivals.filter((r) => namespaceSelected(r.spec, ns) && olderFirst(r, credential) < 0).sort(olderFirst)[0];
    if (winner) {
      targets.push({ namespace: name, serviceAccounts: [], conflict: `Secret ${name}/${secretName} is claimed by the older RegistryCredential ${winner.name}` });
      continue;
    }
    const existing = inputs.existingSecret(name);
    if (existing && !managedBy(existing, credential.name)) {
      const owner = existing.metadata.labels?.[CREDENTIAL_LABEL];
      const by = existing.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE && owner ? `RegistryCredential ${owner}` : 'something other than regcred-operator';
      targets.push({ namespace: name, serviceAccounts: [], conflict: `Secret ${name}/${secretName} already exists and is managed by ${by}; it is left untouched` });
      continue;
    }
    targets.push({ namespace: name, secret: desiredSecret(credential, name, rendered), serviceAccounts });
  }
  return targets.sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
}

/** Entries we added to a ServiceAccount, from our annotation. */
export function ourEntries(sa: ServiceAccount): string[] {
  const v = sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION];
  return v ? v.split(',').filter(Boolean) : [];
}

export function hasEntry(sa: ServiceAccount, secretName: string): boolean {
  return (sa.imagePullSecrets ?? []).some((e) => e.name === secretName);
}

/** Whether a managed Secret differs from the desired one in anything we own. */
export function secretDiffers(observed: Secret, desired: Secret): boolean {
  if (observed.type !== desired.type || observed.immutable) return true;
  const wantData = desired.data ?? {};
  const haveData = observed.data ?? {};
  if (Object.keys(haveData).length !== Object.keys(wantData).length) return true;
  for (const [k, v] of Object.entries(wantData)) if (haveData[k] !== v) return true;
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) if (observed.metadata.labels?.[k] !== v) return true;
  for (const [k, v] of Object.entries(desired.metadata.annotations ?? {})) if (observed.metadata.annotations?.[k] !== v) return true;
  const want = desired.metadata.ownerReferences?.[0];
  return !(observed.metadata.ownerReferences ?? []).some((r) => r.uid === want?.uid && r.controller === true);
}

export type Action =
  | { kind: 'createSecret'; namespace: string; secret: Secret }
  | { kind: 'updateSecret'; namespace: string; secret: Secret; observed: Secret }
  | { kind: 'deleteSecret'; namespace: string; observed: Secret }
  | { kind: 'addEntry'; namespace: string; serviceAccount: string; secretName: string }
  | { kind: 'removeEntry'; namespace: string; serviceAccount: string; secretName: string };

export interface Observed {
  /** Secrets labelled as this RegistryCredential's. */
  managedSecrets: Secret[];
  serviceAccountsIn(namespace: string): ServiceAccount[];
  namespace(name: string): Namespace | undefined;
}

export interface Plan {
  /** Run first: entries removed before their Secret goes, so no ServiceAccount points at nothing. */
  removals: Action[];
  writes: Action[];
  /** Run last. */
  deletions: Action[];
}

/**
 * Diffs the desired targets against what exists. With deletionPolicy Retain, nothing we made is
 * removed when it stops being desired.
 */
export function plan(targets: NamespaceTarget[], observed: Observed, policy: ResolvedSpec['deletionPolicy']): Plan {
  const result: Plan = { removals: [], writes: [], deletions: [] };
  const managed = new Map(observed.managedSecrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const wanted = new Set<string>();

  for (const t of targets) {
    if (!t.secret) continue;
    const key = `${t.namespace}/${t.secret.metadata.name}`;
    wanted.add(key);
    const existing = managed.get(key);
    if (!existing) result.writes.push({ kind: 'createSecret', namespace: t.namespace, secret: t.secret });
    else if (secretDiffers(existing, t.secret)) result.writes.push({ kind: 'updateSecret', namespace: t.namespace, secret: t.secret, observed: existing });
    const selected = new Set(t.serviceAccounts);
    for (const sa of observed.serviceAccountsIn(t.namespace)) {
      const name = t.secret.metadata.name;
      if (selected.has(sa.metadata.name)) {
        if (!hasEntry(sa, name)) result.writes.push({ kind: 'addEntry', namespace: t.namespace, serviceAccount: sa.metadata.name, secretName: name });
      } else if (policy === 'Delete' && ourEntries(sa).includes(name) && hasEntry(sa, name)) {
        result.removals.push({ kind: 'removeEntry', namespace: t.namespace, serviceAccount: sa.metadata.name, secretName: name });
      }
    }
  }

  if (policy === 'Delete') {
    for (const [key, secret] of managed) {
      if (wanted.has(key)) continue;
      const namespace = secret.metadata.namespace!;
      const ns = observed.namespace(namespace);
      // The namespace controller is already deleting everything in a terminating namespace.
      if (!ns || isTerminating(ns)) continue;
      result.removals.push(...entryRemovals(observed.serviceAccountsIn(namespace), namespace, secret.metadata.name));
      result.deletions.push({ kind: 'deleteSecret', namespace, observed: secret });
    }
  }
  return result;
}

/** Removal of our entry for `secretName` from every ServiceAccount that lists it as ours. */
export function entryRemovals(serviceAccounts: ServiceAccount[], namespace: string, secretName: string): Action[] {
  return serviceAccounts
    .filter((sa) => ourEntries(sa).includes(secretName) && hasEntry(sa, secretName))
    .map((sa) => ({ kind: 'removeEntry' as const, namespace, serviceAccount: sa.metadata.name, secretName }));
}
