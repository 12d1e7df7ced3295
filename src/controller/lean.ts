// What the caches keep of each object: only what the operator reads. managedFields and the
// last-applied annotation are often most of an object's size and are never read; the Secrets the
// operator manages are kept without their data (a digest of it is enough to see drift), and Secrets
// of a watched name that are not ours are kept as metadata alone.
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../api/labels.ts';
import type { ObjectMeta, OwnerReference, RegistryCredential } from '../api/schema.ts';
import type { ConfigMap, Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import type { Digest } from './digest.ts';
import { DOCKERCONFIGJSON_KEY } from './dockerconfig.ts';
import { Interner, RecordInterner, SHARED_VALUE_KEYS } from './intern.ts';
import { mayBeSource } from './sources.ts';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** Set by the API server on every namespace, to the namespace's own name. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Shared by every cache of the process: the same values repeat across kinds (a Secret's owner, a credential's name). */
const shared = new Interner();
/** Whole labels, annotations and lists that repeat across the Secrets and ServiceAccounts we write. */
const records = new RecordInterner();

/** Values of our own labels and annotations as one shared string each; the name label as the name itself. */
function leanValues(values: Record<string, string>, name: string): Record<string, string> {
  for (const key in values) {
    const v = values[key]!;
    if (SHARED_VALUE_KEYS.has(key)) values[key] = shared.of(v);
    else if (key === NAMESPACE_NAME_LABEL && v === name) values[key] = name;
  }
  return values;
}

const leanOwnerReference = (r: OwnerReference): OwnerReference => ({
  ...r,
  apiVersion: shared.of(r.apiVersion),
  kind: shared.of(r.kind),
  name: shared.of(r.name),
  uid: shared.of(r.uid),
});

export interface LeanOptions {
  /** Only a RegistryCredential's age is read (the older of two rivals keeps a Secret). */
  creationTimestamp?: boolean;
  /**
   * Labels, annotations and ownerReferences as copies shared with every equal one: for the kinds
   * whose objects we write alike in every namespace, never for those that differ in each.
   */
  shareRecords?: boolean;
}

export function leanMetadata(m: ObjectMeta, options: LeanOptions = {}): ObjectMeta {
  const out: ObjectMeta = { name: m.name };
  if (m.namespace !== undefined) out.namespace = m.namespace;
  if (m.uid !== undefined) out.uid = m.uid;
  if (m.generation !== undefined) out.generation = m.generation;
  if (m.resourceVersion !== undefined) out.resourceVersion = m.resourceVersion;
  if (options.creationTimestamp && m.creationTimestamp !== undefined) out.creationTimestamp = m.creationTimestamp;
  if (m.deletionTimestamp !== undefined) out.deletionTimestamp = m.deletionTimestamp;
  // `build` makes the lean copy of `raw`; shared, it is made only when no equal copy is kept.
  const share = <T extends object>(raw: T, build: (raw: T) => T): T => (options.shareRecords ? records.like(raw, build) : build(raw));
  if (m.labels) out.labels = share(m.labels, (labels) => leanValues({ ...labels }, m.name));
  if (m.annotations) {
    const annotations = share(m.annotations, ({ [LAST_APPLIED]: _dropped, ...rest }) => leanValues(rest, m.name));
    if (hasFields(annotations)) out.annotations = annotations;
  }
  if (m.finalizers?.length) out.finalizers = m.finalizers;
  if (m.ownerReferences?.length) out.ownerReferences = share(m.ownerReferences, (refs) => refs.map(leanOwnerReference));
  return out;
}

function hasFields(record: object): boolean {
  for (const _ in record) return true;
  return false;
}

export const leanCredential = (rc: RegistryCredential): RegistryCredential => ({
  apiVersion: rc.apiVersion,
  kind: rc.kind,
  metadata: leanMetadata(rc.metadata, { creationTimestamp: true }),
  spec: rc.spec,
  ...(rc.status ? { status: rc.status } : {}),
});

export const leanNamespace = (ns: Namespace): Namespace => ({
  metadata: leanMetadata(ns.metadata),
  ...(ns.status?.phase ? { status: records.of({ phase: ns.status.phase }) } : {}),
});

export const leanServiceAccount = (sa: ServiceAccount): ServiceAccount => ({
  metadata: leanMetadata(sa.metadata, { shareRecords: true }),
  ...(sa.imagePullSecrets ? { imagePullSecrets: records.like(sa.imagePullSecrets, (entries) => entries.map((e) => (e.name === undefined ? e : { ...e, name: shared.of(e.name) }))) } : {}),
});

/** A ConfigMap of the credentials namespace: where a CA bundle for validation may come from. */
export const leanConfigMap = (cm: ConfigMap): ConfigMap => ({
  metadata: leanMetadata(cm.metadata),
  ...(cm.data ? { data: cm.data } : {}),
});

/**
 * A Secret of the credentials namespace: the data of a source is what the operator renders; a
 * Secret that did not opt in, or of a type never read, is kept without it (every watch event
 * carries the whole object, so opting in later brings the data with it).
 */
export const leanSourceSecret = (s: Secret): Secret => ({
  metadata: leanMetadata(s.metadata),
  ...(s.type !== undefined ? { type: s.type } : {}),
  ...(s.data && mayBeSource(s) ? { data: s.data } : {}),
});

/**
 * What a Secret's data is kept as: the digest of the rendered bytes when it holds just those, which
 * is what the desired Secret's hash annotation says when they are the bytes wanted.
 */
export function dataHash(data: Record<string, string> | undefined, digest: Digest): string {
  const keys = Object.keys(data ?? {});
  if (keys.length !== 1 || keys[0] !== DOCKERCONFIGJSON_KEY) return `keys:${keys.sort().join(',')}`;
  return digest.of(Buffer.from(data![DOCKERCONFIGJSON_KEY]!, 'base64'));
}

/**
 * A Secret of a name we may write: ours (by label) as metadata, type, immutability and the digest
 * of its data; anyone else's as metadata alone. No data is kept, so no number of Secrets a tenant
 * makes grows the cache by their data.
 */
export const leanTargetSecret = (digest: Digest) => {
  // A credential writes the same bytes into every namespace, and each write comes back twice (its
  // response and its watch event): the digest of the bytes seen last serves them all, as one
  // string shared by every cached Secret.
  let last: { encoded: string; hash: string } | undefined;
  const hashOf = (data: Record<string, string> | undefined): string => {
    const encoded = data?.[DOCKERCONFIGJSON_KEY];
    const single = encoded !== undefined && Object.keys(data!).length === 1;
    if (single && encoded === last?.encoded) return last.hash;
    const hash = dataHash(data, digest);
    if (single) last = { encoded, hash };
    return hash;
  };
  return (s: Secret): Secret =>
    s.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
      ? {
          metadata: leanMetadata(s.metadata, { shareRecords: true }),
          ...(s.type !== undefined ? { type: shared.of(s.type) } : {}),
          ...(s.immutable !== undefined ? { immutable: s.immutable } : {}),
          dataHash: s.dataHash ?? hashOf(s.data),
        }
      : { metadata: leanMetadata(s.metadata), ...(s.type !== undefined ? { type: s.type } : {}) };
};
