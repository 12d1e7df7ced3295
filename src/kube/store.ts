// The objects an informer holds, by namespace and name. Caches of 10,000 namespaces hold one object
// per namespace of most kinds (the `default` ServiceAccount, the one Secret of a watched name), and
// a Map per namespace costs more heap than the object it holds: a namespace of one object keeps the
// object itself, and only a second object of the same namespace makes it a Map. No "namespace/name"
// key string is kept per object either.
import type { KubeObject } from './objects.ts';

type Slot<T> = T | Map<string, T>;

export class ObjectStore<T extends KubeObject> {
  /** Cluster-scoped objects by name. */
  private readonly cluster = new Map<string, T>();
  private readonly namespaced = new Map<string, Slot<T>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(namespace: string | undefined, name: string): T | undefined {
    if (!namespace) return this.cluster.get(name);
    const slot = this.namespaced.get(namespace);
    if (slot instanceof Map) return slot.get(name);
    return slot?.metadata.name === name ? slot : undefined;
  }

  /** Adds the object, or replaces the one of the same namespace and name. */
  set(obj: T): void {
    const { namespace, name } = obj.metadata;
    if (!namespace) {
      if (!this.cluster.has(name)) this.count++;
      this.cluster.set(name, obj);
      return;
    }
    const slot = this.namespaced.get(namespace);
    if (slot === undefined) {
      this.namespaced.set(namespace, obj);
      this.count++;
    } else if (slot instanceof Map) {
      if (!slot.has(name)) this.count++;
      slot.set(name, obj);
    } else if (slot.metadata.name === name) {
      this.namespaced.set(namespace, obj);
    } else {
      this.namespaced.set(namespace, new Map([[slot.metadata.name, slot], [name, obj]]));
      this.count++;
    }
  }

  /** Removes the object of that namespace and name; the one removed, if there was one. */
  delete(namespace: string | undefined, name: string): T | undefined {
    const held = this.get(namespace, name);
    if (!held) return undefined;
    this.count--;
    if (!namespace) {
      this.cluster.delete(name);
      return held;
    }
    const slot = this.namespaced.get(namespace)!;
    if (!(slot instanceof Map)) this.namespaced.delete(namespace);
    else {
      slot.delete(name);
      // Back to the object itself once one is left, so a namespace's peak never stays a Map.
      if (slot.size === 1) this.namespaced.set(namespace, slot.values().next().value!);
    }
    return held;
  }

  inNamespace(namespace: string): T[] {
    const slot = this.namespaced.get(namespace);
    if (slot === undefined) return [];
    return slot instanceof Map ? [...slot.values()] : [slot];
  }

  *values(): IterableIterator<T> {
    yield* this.cluster.values();
    for (const slot of this.namespaced.values()) {
      if (slot instanceof Map) yield* slot.values();
      else yield slot;
    }
  }
}
