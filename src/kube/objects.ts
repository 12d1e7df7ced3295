// The shapes of the Kubernetes objects the operator reads, as plain wire JSON.
import type { ObjectMeta } from '../api/schema.ts';

export interface KubeObject {
  metadata: ObjectMeta;
}

export interface Namespace extends KubeObject {
  status?: { phase?: string };
}

export interface LocalObjectReference {
  name?: string;
}

export interface ServiceAccount extends KubeObject {
  imagePullSecrets?: LocalObjectReference[];
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  immutable?: boolean;
  /**
   * Only in a cache that keeps no data: the hash of what `data` held, so a change to the bytes is
   * still seen. Never sent to the API server.
   */
  dataHash?: string;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}

/** "namespace/name", or the name of a cluster-scoped object. */
export function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

export function objectKey(o: KubeObject): string {
  return keyOf(o.metadata.namespace, o.metadata.name);
}

export function isTerminating(o: KubeObject & { status?: { phase?: string } }): boolean {
  return !!o.metadata.deletionTimestamp || o.status?.phase === 'Terminating';
}
