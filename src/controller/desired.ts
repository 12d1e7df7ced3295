// The desired state of one RegistryCredential and the plan to reach it: pure functions of the
// inputs read from caches, each answerable for a single namespace. The applier only carries out
// the plan.
import {
  CREDENTIAL_LABEL,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_UID_ANNOTATION,
  SA_ENTRIES_ANNOTATION,
} from '../api/labels.ts';
import { API_VERSION, GROUP, KIND, type OwnerReference, type ResolvedSpec } from '../api/schema.ts';
import { isTerminating, type Namespace, type Secret, type ServiceAccount } from '../kube/objects.ts';
import { DOCKERCONFIGJSON_KEY, type RenderedConfig } from './dockerconfig.ts';
import { namespaceSelected, serviceAccountSelected } from './selection.ts';

export const DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson';

/** What the desired state needs to know of a RegistryCredential. */
export interface CredentialView {
  name: string;
  uid: string;
  creationTimestamp: string;
  spec: ResolvedSpec;
}

/** True when the Secret carries our managed-by label, whichever RegistryCredential it names. */
export function ours(secret: Secret): boolean {
  return secret.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE;
}

/** The RegistryCredential our labels on a Secret name; a claim that ownedBy() checks. */
export function heldBy(secret: Secret): string | undefined {
  return ours(secret) ? secret.metadata.labels?.[CREDENTIAL_LABEL] : undefined;
}

/**
 * The UID of the RegistryCredential a Secret names as its owner: that of our controller
 * ownerReference, else (Retain) that of our owner annotation.
 */
export function ownerUid(secret: Secret): string | undefined {
  const ref = secret.metadata.ownerReferences?.find((r) => r.controller === true && isOurOwnerRef(r));
  return ref?.uid ?? secret.metadata.annotations?.[OWNER_UID_ANNOTATION];
}

/**
 * Whether the Secret is that RegistryCredential's: our labels name it and the owner mark carries
 * its UID. Labels alone anyone can copy; a Secret with our labels but not this is never updated,
 * deleted or counted.
 */
export function ownedBy(secret: Secret, credential: { name: string; uid: string }): boolean {
  return heldBy(secret) === credential.name && !!credential.uid && ownerUid(secret) === credential.uid;
}

/** The credential that validly holds a Secret, given the UIDs of the credentials that exist. */
export function validHolder(secret: Secret, uidOf: (credential: string) => string | undefined): string | undefined {
  const name = heldBy(secret);
  const uid = name === undefined ? undefined : uidOf(name);
  return name !== undefined && uid !== undefined && ownedBy(secret, { name, uid }) ? name : undefined;
}

/** The older RegistryCredential (creation time, then name) sorts first. */
export function olderFirst(a: CredentialView, b: CredentialView): number {
  const ta = Date.parse(a.creationTimestamp);
  const tb = Date.parse(b.creationTimestamp);
  if (ta !== tb) return ta - tb;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

export type Arbitration =
  | { holder: string; contenders: string[] }
  | { foreign: string };

/**
 * Who should hold the Secret of one name in one namespace. `contenders` are the RegistryCredentials
 * that want it there and can render it (valid spec, readable sources, not being deleted); one that
 * cannot render never wins and so never forces another out. The current holder keeps it, so a
 * working Secret never moves because a rival appeared or came back; a namespace nobody holds goes
 * to the oldest contender. A Secret of that name that is not ours blocks every contender.
 */
export function arbitrate(existing: Secret | undefined, contenders: CredentialView[], uidOf: (credential: string) => string | undefined): Arbitration | undefined {
  const current = existing ? validHolder(existing, uidOf) : undefined;
  if (existing && !current) {
    return { foreign: ours(existing) ? 'unowned' : 'something other than regcred-operator' };
  }
  if (contenders.length === 0) return undefined;
  const sorted = [...contenders].sort(olderFirst);
  const holder = sorted.find((c) => c.name === current) ?? sorted[0]!;
  return { holder: holder.name, contenders: sorted.map((c) => c.name).filter((n) => n !== holder.name) };
}

/**
 * Why a namespace's Secret is not this credential's to write: a rival's, someone else's, or one
 * with our labels that no existing RegistryCredential owns (a copy, or one a Retain policy left).
 */
export function conflictMessage(namespace: string, secretName: string, holder?: string, unowned = false): string {
  if (holder) return `Secret ${namespace}/${secretName} is held by RegistryCredential ${holder}, which also selects this namespace`;
  if (unowned) {
    return `Secret ${namespace}/${secretName} carries regcred-operator's labels but no owner reference to an existing RegistryCredential; it is left untouched`;
  }
  return `Secret ${namespace}/${secretName} already exists and is not managed by regcred-operator; it is left untouched`;
}

export interface NamespaceInputs {
  credential: CredentialView;
  rendered: RenderedConfig;
  /** Every other RegistryCredential with the same secretName that can render and is not being deleted. */
  rivals: CredentialView[];
  serviceAccountsIn(namespace: string): ServiceAccount[];
  /** The Secret named spec.secretName in the namespace, whoever manages it. */
  existingSecret(namespace: string): Secret | undefined;
  /** The UID of an existing RegistryCredential of that name (being deleted or not). */
  credentialUid(name: string): string | undefined;
  /** The operator's credentials namespace: selected only when named exactly (see selection.ts). */
  credentialsNamespace?: string;
}

export interface NamespaceTarget {
  namespace: string;
  /** Absent when another holds the Secret or it is not ours. */
  secret?: Secret;
  /** The Secret in place, when it is ours (ours or a former holder's). */
  existing?: Secret;
  conflict?: string;
  /** Rivals that want this namespace too while this credential holds it. */
  contestedBy?: string[];
  serviceAccounts: string[];
}

export function ownerReference(credential: Pick<CredentialView, 'name' | 'uid'>): OwnerReference {
  return { apiVersion: API_VERSION, kind: KIND, name: credential.name, uid: credential.uid, controller: true, blockOwnerDeletion: false };
}

/**
 * Under Delete the Secret is owned by its RegistryCredential, so garbage collection backs up our
 * own cleanup. Under Retain it carries no ownerReference: the policy says it outlives the
 * credential, and a garbage collector (foreground deletion, CRD removal, an absent operator) must
 * never be able to take it; the owner annotation names the credential's UID instead.
 */
export function desiredSecret(credential: CredentialView, namespace: string, rendered: RenderedConfig): Secret {
  return {
    metadata: {
      name: credential.spec.secretName,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: credential.name },
      annotations: {
        [HASH_ANNOTATION]: rendered.hash,
        ...(credential.spec.deletionPolicy === 'Retain' ? { [OWNER_UID_ANNOTATION]: credential.uid } : {}),
      },
      ownerReferences: credential.spec.deletionPolicy === 'Delete' ? [ownerReference(credential)] : [],
    },
    type: DOCKERCONFIGJSON,
    data: { [DOCKERCONFIGJSON_KEY]: rendered.encoded },
  };
}

/** The desired state in one namespace; undefined when the credential does not select it. */
export function desiredInNamespace(inputs: NamespaceInputs, ns: Namespace): NamespaceTarget | undefined {
  const { credential } = inputs;
  if (!namespaceSelected(credential.spec, ns, inputs.credentialsNamespace)) return undefined;
  const name = ns.metadata.name;
  const secretName = credential.spec.secretName;
  const existing = inputs.existingSecret(name);
  const contenders = [credential, ...inputs.rivals.filter((r) => namespaceSelected(r.spec, ns, inputs.credentialsNamespace))];
  const decision = arbitrate(existing, contenders, inputs.credentialUid)!;
  if ('foreign' in decision) return { namespace: name, serviceAccounts: [], conflict: conflictMessage(name, secretName, undefined, decision.foreign === 'unowned') };
  if (decision.holder !== credential.name) return { namespace: name, serviceAccounts: [], conflict: conflictMessage(name, secretName, decision.holder) };
  const serviceAccounts = inputs.serviceAccountsIn(name)
    .filter((sa) => serviceAccountSelected(credential.spec, sa))
    .map((sa) => sa.metadata.name)
    .sort();
  return {
    namespace: name,
    secret: desiredSecret(credential, name, inputs.rendered),
    ...(existing ? { existing } : {}),
    ...(decision.contenders.length ? { contestedBy: decision.contenders } : {}),
    serviceAccounts,
  };
}

export function desiredState(inputs: NamespaceInputs, namespaces: Namespace[]): NamespaceTarget[] {
  return namespaces
    .map((ns) => desiredInNamespace(inputs, ns))
    .filter((t): t is NamespaceTarget => t !== undefined)
    .sort((a, b) => (a.namespace < b.namespace ? -1 : 1));
}

/** Entries we added to a ServiceAccount, from our annotation. */
export function ourEntries(sa: ServiceAccount): string[] {
  const v = sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION];
  return v ? v.split(',').filter(Boolean) : [];
}

export function hasEntry(sa: ServiceAccount, secretName: string): boolean {
  return (sa.imagePullSecrets ?? []).some((e) => e.name === secretName);
}

const isOurOwnerRef = (r: OwnerReference) => r.kind === KIND && r.apiVersion.startsWith(`${GROUP}/`);

/** Owner references after a write: everyone else's kept, ours exactly as desired. */
export function mergedOwnerReferences(observed: Secret, desired: Secret): OwnerReference[] {
  return [...(observed.metadata.ownerReferences ?? []).filter((r) => !isOurOwnerRef(r)), ...(desired.metadata.ownerReferences ?? [])];
}

/** Whether a Secret in place differs from the desired one in anything we own. */
export function secretDiffers(observed: Secret, desired: Secret): boolean {
  if (needsReplacement(observed, desired)) return true;
  if (observed.data === undefined && observed.dataHash !== undefined) {
    // A cache that keeps no data keeps its hash, comparable with the desired Secret's hash annotation.
    if (observed.dataHash !== desired.metadata.annotations?.[HASH_ANNOTATION]) return true;
  } else {
    const wantData = desired.data ?? {};
    const haveData = observed.data ?? {};
    if (Object.keys(haveData).length !== Object.keys(wantData).length) return true;
    for (const [k, v] of Object.entries(wantData)) if (haveData[k] !== v) return true;
  }
  for (const [k, v] of Object.entries(desired.metadata.labels ?? {})) if (observed.metadata.labels?.[k] !== v) return true;
  for (const [k, v] of Object.entries(desired.metadata.annotations ?? {})) if (observed.metadata.annotations?.[k] !== v) return true;
  const key = (refs: OwnerReference[]) => refs.filter(isOurOwnerRef).map((r) => `${r.uid}/${r.controller === true}`).sort().join(',');
  return key(observed.metadata.ownerReferences ?? []) !== key(desired.metadata.ownerReferences ?? []);
}

/** type and immutability cannot be changed in place: such a Secret is deleted and created again. */
export function needsReplacement(observed: Secret, desired: Secret): boolean {
  return observed.type !== desired.type || observed.immutable === true;
}

export type Action =
  | { kind: 'createSecret'; namespace: string; secret: Secret }
  | { kind: 'updateSecret'; namespace: string; secret: Secret; observed: Secret }
  | { kind: 'deleteSecret'; namespace: string; observed: Secret }
  | { kind: 'releaseSecret'; namespace: string; observed: Secret; ownerUid: string }
  | { kind: 'addEntry'; namespace: string; serviceAccount: string; secretName: string }
  | { kind: 'removeEntry'; namespace: string; serviceAccount: string; secretName: string };

export interface Observed {
  /** Secrets this RegistryCredential owns: our labels name it and the owner mark carries its UID. */
  managedSecrets: Secret[];
  serviceAccountsIn(namespace: string): ServiceAccount[];
  /** Every ServiceAccount whose annotation says we added an entry named secretName. */
  annotatedServiceAccounts(secretName: string): ServiceAccount[];
  namespace(name: string): Namespace | undefined;
  /** The Secret of that name in the namespace, whoever manages it. */
  existingSecret(namespace: string, name: string): Secret | undefined;
  /** A rival that can render wants this namespace: leave our Secret for it to take over in place. */
  handedOver(namespace: string): boolean;
}

export interface Plan {
  /** Run first: entries removed before their Secret goes, so no ServiceAccount points at nothing. */
  removals: Action[];
  writes: Action[];
  /** Run last, each only if every removal in its namespace succeeded. */
  deletions: Action[];
  /** Namespaces whose Secret waits for a rival to take it over. */
  handovers: string[];
}

/**
 * Diffs the desired targets against what exists. `secretName` and `policy` are the credential's;
 * with `targets` empty and policy Delete this is the full cleanup run when the credential goes.
 * With Retain, nothing we made is removed when it stops being desired.
 */
export function plan(targets: NamespaceTarget[], observed: Observed, secretName: string, policy: ResolvedSpec['deletionPolicy']): Plan {
  const result: Plan = { removals: [], writes: [], deletions: [], handovers: [] };
  const wanted = new Set<string>();

  for (const t of targets) {
    if (!t.secret) continue;
    wanted.add(t.namespace);
    const existing = t.existing;
    if (!existing) result.writes.push({ kind: 'createSecret', namespace: t.namespace, secret: t.secret });
    else if (secretDiffers(existing, t.secret)) result.writes.push({ kind: 'updateSecret', namespace: t.namespace, secret: t.secret, observed: existing });
    const selected = new Set(t.serviceAccounts);
    for (const sa of observed.serviceAccountsIn(t.namespace)) {
      if (selected.has(sa.metadata.name)) {
        if (!hasEntry(sa, secretName)) result.writes.push({ kind: 'addEntry', namespace: t.namespace, serviceAccount: sa.metadata.name, secretName });
      } else if (policy === 'Delete' && ourEntries(sa).includes(secretName) && hasEntry(sa, secretName)) {
        result.removals.push({ kind: 'removeEntry', namespace: t.namespace, serviceAccount: sa.metadata.name, secretName });
      }
    }
  }
  if (policy === 'Retain') return result;

  // Our Secrets that are no longer wanted, under their old name too.
  const stale = new Set<string>();
  for (const secret of observed.managedSecrets) {
    const namespace = secret.metadata.namespace!;
    if (wanted.has(namespace) && secret.metadata.name === secretName) continue;
    const ns = observed.namespace(namespace);
    // The namespace controller is already deleting everything in a terminating namespace.
    if (!ns || isTerminating(ns)) continue;
    if (secret.metadata.name === secretName && observed.handedOver(namespace)) {
      result.handovers.push(namespace);
      continue;
    }
    stale.add(namespace);
    result.removals.push(...entryRemovals(observed.serviceAccountsIn(namespace), namespace, secret.metadata.name));
    result.deletions.push({ kind: 'deleteSecret', namespace, observed: secret });
  }
  // Entries our annotation records where no Secret of that name is wanted or held by anyone of
  // ours: whatever we added must not dangle, even when its Secret is already gone.
  for (const sa of observed.annotatedServiceAccounts(secretName)) {
    const namespace = sa.metadata.namespace!;
    if (wanted.has(namespace) || stale.has(namespace) || !hasEntry(sa, secretName)) continue;
    const ns = observed.namespace(namespace);
    if (!ns || isTerminating(ns)) continue;
    // A Secret of that name still in place (a rival's, or one we do not manage) is what the entry
    // serves now: removing the entry would break pulls.
    if (observed.existingSecret(namespace, secretName) || observed.handedOver(namespace)) continue;
    result.removals.push({ kind: 'removeEntry', namespace, serviceAccount: sa.metadata.name, secretName });
  }
  return result;
}

/** Removal of our entry for `secretName` from every ServiceAccount that lists it as ours. */
export function entryRemovals(serviceAccounts: ServiceAccount[], namespace: string, secretName: string): Action[] {
  return serviceAccounts
    .filter((sa) => ourEntries(sa).includes(secretName) && hasEntry(sa, secretName))
    .map((sa) => ({ kind: 'removeEntry' as const, namespace, serviceAccount: sa.metadata.name, secretName }));
}
