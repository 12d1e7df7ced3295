// What the pod admission webhook adds to a new pod: the pull secrets of every RegistryCredential
// that selects the pod's namespace and ServiceAccount, when the pod does not list them already.
// Kubernetes copies a ServiceAccount's imagePullSecrets into a pod only at admission, so a pod
// created before the controller patched its ServiceAccount would otherwise never get our entry.
// A pure function of what the operator's caches hold: the webhook calls it and sends the patch.
import type { ResolvedSpec } from '../api/schema.ts';
import type { Namespace, ServiceAccount } from '../kube/objects.ts';
import { namespaceSelected, serviceAccountSelected } from './selection.ts';

/** The kubelet's annotation on a static pod's mirror: the API server refuses any change to it. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/** The parts of a Pod the decision reads. */
export interface PodLike {
  metadata?: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string> };
  spec?: { serviceAccountName?: string; serviceAccount?: string; imagePullSecrets?: Array<{ name?: string }> };
}

export interface InjectionInputs {
  pod: PodLike;
  /** The pod's namespace, from the operator's cache; undefined = not known. */
  namespace: Namespace | undefined;
  /** The pod's ServiceAccount (see podServiceAccountName), from the operator's cache; undefined = not known. */
  serviceAccount: ServiceAccount | undefined;
  /** RegistryCredentials that can render (valid spec, allowed secretName, sources readable, not being deleted). */
  credentials: Array<{ name: string; spec: ResolvedSpec }>;
}

export type JsonPatchOp = { op: 'add'; path: string; value: unknown };

export type SkipReason = 'MirrorPod' | 'NamespaceUnknown' | 'NotSelected' | 'AlreadyPresent' | 'ServiceAccountUnknown';

export interface InjectionDecision {
  /** RFC 6902 operations for the AdmissionResponse; empty when nothing is added. */
  patch: JsonPatchOp[];
  /** The secret names the patch adds, sorted. */
  added: string[];
  /** Why nothing is added; absent whenever the patch adds something. */
  skipped?: SkipReason;
}

/** The ServiceAccount a pod runs as: spec.serviceAccountName, else the deprecated spec.serviceAccount, else "default". */
export function podServiceAccountName(pod: PodLike): string {
  return pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
}

type Match = 'selected' | 'notSelected' | 'unknown';

/**
 * Whether a credential selects the pod's ServiceAccount. Known, the object is judged as the
 * controller judges it (opt-out label, deletion). Unknown, a selection by name ("*" or the name
 * listed) still holds; only a label selector needs the object.
 */
function serviceAccountMatch(spec: ResolvedSpec, name: string, sa: ServiceAccount | undefined): Match {
  if (sa) return serviceAccountSelected(spec, sa) ? 'selected' : 'notSelected';
  const { names, selector } = spec.serviceAccounts;
  if (names.includes('*') || names.includes(name)) return 'selected';
  return selector !== undefined ? 'unknown' : 'notSelected';
}

/**
 * The patch for a pod being created. Nothing is added to a mirror pod, nor in a namespace the
 * cache does not know. When nothing is added, `skipped` says why: ServiceAccountUnknown when a
 * credential with a label selector could not be judged (an entry may be missing), else
 * AlreadyPresent when some credential selects the pod, else NotSelected.
 */
export function podInjection(inputs: InjectionInputs): InjectionDecision {
  const { pod, namespace } = inputs;
  if (pod.metadata?.annotations?.[MIRROR_POD_ANNOTATION] !== undefined) return skip('MirrorPod');
  // A namespace object for another namespace than the pod's says nothing about the pod's.
  if (!namespace || (pod.metadata?.namespace && pod.metadata.namespace !== namespace.metadata.name)) {
    return skip('NamespaceUnknown');
  }

  const saName = podServiceAccountName(pod);
  const sa = inputs.serviceAccount?.metadata.name === saName ? inputs.serviceAccount : undefined;
  const wanted = new Set<string>();
  let unknown = false;
  for (const credential of inputs.credentials) {
    if (!namespaceSelected(credential.spec, namespace)) continue;
    const match = serviceAccountMatch(credential.spec, saName, sa);
    if (match === 'selected') wanted.add(credential.spec.secretName);
    else if (match === 'unknown') unknown = true;
  }

  const existing = pod.spec?.imagePullSecrets ?? [];
  const present = new Set(existing.map((e) => e.name));
  const added = [...wanted].filter((name) => !present.has(name)).sort();
  if (added.length === 0) return skip(unknown ? 'ServiceAccountUnknown' : wanted.size ? 'AlreadyPresent' : 'NotSelected');

  const entries = added.map((name) => ({ name }));
  let patch: JsonPatchOp[];
  if (!pod.spec) patch = [{ op: 'add', path: '/spec', value: { imagePullSecrets: entries } }];
  else if (existing.length === 0) patch = [{ op: 'add', path: '/spec/imagePullSecrets', value: entries }];
  else patch = entries.map((value) => ({ op: 'add', path: '/spec/imagePullSecrets/-', value }));
  return { patch, added };
}

function skip(skipped: SkipReason): InjectionDecision {
  return { patch: [], added: [], skipped };
}
