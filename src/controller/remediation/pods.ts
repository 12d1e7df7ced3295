// Which pods pod remediation may evict: pure functions over the lean pod shape the remediator's
// cache keeps. A pod qualifies only when evicting it can help (its controller recreates it, and the
// ServiceAccount admission plugin then copies the entry we added) and nothing else is at stake.
import type { ObjectMeta } from '../../api/schema.ts';
import { hasEntry, ourEntries } from '../desired.ts';
import type { LocalObjectReference, ServiceAccount } from '../../kube/objects.ts';

/** The waiting reasons of a container whose image pull failed. */
export const PULL_FAILURE_REASONS: ReadonlySet<string> = new Set(['ErrImagePull', 'ImagePullBackOff']);

interface ContainerStatus {
  state?: { waiting?: { reason?: string } };
}

/** A pod as the remediator keeps it: only what podsToEvict reads. */
export interface Pod {
  metadata: ObjectMeta;
  spec?: { serviceAccountName?: string; imagePullSecrets?: LocalObjectReference[] };
  status?: { phase?: string; containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] };
}

export function serviceAccountOf(pod: Pod): string {
  return pod.spec?.serviceAccountName || 'default';
}

export function pullFailing(pod: Pod): boolean {
  const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
  return statuses.some((c) => PULL_FAILURE_REASONS.has(c.state?.waiting?.reason ?? ''));
}

export function controlled(pod: Pod): boolean {
  return (pod.metadata.ownerReferences ?? []).some((r) => r.controller === true);
}

/** The entries of the ServiceAccount we manage and that it holds: the only ones worth evicting for. */
export function managedEntries(sa: ServiceAccount): string[] {
  return ourEntries(sa).filter((name) => hasEntry(sa, name));
}

/**
 * The pods to evict so that their controller recreates them with `secretName`: controller-owned,
 * using that ServiceAccount, lacking the entry, waiting on an image pull, and not being deleted.
 * Nothing when the ServiceAccount does not hold an entry of that name that we manage.
 */
export function podsToEvict(pods: Pod[], serviceAccount: ServiceAccount, secretName: string): Pod[] {
  if (!managedEntries(serviceAccount).includes(secretName)) return [];
  const ns = serviceAccount.metadata.namespace;
  return pods.filter(
    (p) =>
      p.metadata.namespace === ns &&
      serviceAccountOf(p) === serviceAccount.metadata.name &&
      !p.metadata.deletionTimestamp &&
      controlled(p) &&
      !(p.spec?.imagePullSecrets ?? []).some((e) => e.name === secretName) &&
      pullFailing(p),
  );
}

/**
 * What the cache keeps of a pod: the metadata, ServiceAccount, pull secrets and waiting reasons.
 * A pod that can never qualify as it stands (no controller, no failing pull) is not kept at all:
 * its next change brings it back if that changes.
 */
export function leanPod(pod: Pod): Pod | undefined {
  if (!controlled(pod) || !pullFailing(pod)) return undefined;
  const m = pod.metadata;
  const metadata: ObjectMeta = { name: m.name };
  if (m.namespace !== undefined) metadata.namespace = m.namespace;
  if (m.uid !== undefined) metadata.uid = m.uid;
  if (m.resourceVersion !== undefined) metadata.resourceVersion = m.resourceVersion;
  if (m.deletionTimestamp !== undefined) metadata.deletionTimestamp = m.deletionTimestamp;
  if (m.ownerReferences?.length) metadata.ownerReferences = m.ownerReferences.map((r) => ({ apiVersion: r.apiVersion, kind: r.kind, name: r.name, uid: r.uid, ...(r.controller !== undefined ? { controller: r.controller } : {}) }));
  const waiting = (cs: ContainerStatus[] | undefined) =>
    (cs ?? []).filter((c) => c.state?.waiting?.reason).map((c) => ({ state: { waiting: { reason: c.state!.waiting!.reason! } } }));
  const containerStatuses = waiting(pod.status?.containerStatuses);
  const initContainerStatuses = waiting(pod.status?.initContainerStatuses);
  return {
    metadata,
    spec: {
      ...(pod.spec?.serviceAccountName ? { serviceAccountName: pod.spec.serviceAccountName } : {}),
      ...(pod.spec?.imagePullSecrets?.length ? { imagePullSecrets: pod.spec.imagePullSecrets.map((e) => ({ name: e.name })) } : {}),
    },
    status: {
      ...(containerStatuses.length ? { containerStatuses } : {}),
      ...(initContainerStatuses.length ? { initContainerStatuses } : {}),
    },
  };
}
