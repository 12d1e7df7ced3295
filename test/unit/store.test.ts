// The informer's store: a namespace of one object holds the object itself, a second makes it a Map,
// and every lookup, count and listing is the same either way.
import { describe, expect, it } from 'vitest';
import type { KubeObject } from '../../src/kube/objects.ts';
import { ObjectStore } from '../../src/kube/store.ts';

const obj = (namespace: string | undefined, name: string, rv = '1'): KubeObject => ({ metadata: { name, ...(namespace ? { namespace } : {}), resourceVersion: rv } });
const names = (list: Iterable<KubeObject>) => [...list].map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`).sort();

describe('ObjectStore', () => {
  it('finds, replaces and counts objects of one namespace, one or several', () => {
    const store = new ObjectStore<KubeObject>();
    store.set(obj('a', 'default'));
    expect(store.get('a', 'default')?.metadata.resourceVersion).toBe('1');
    expect(store.get('a', 'other')).toBeUndefined();
    store.set(obj('a', 'default', '2'));
    expect(store.size).toBe(1);
    expect(store.get('a', 'default')?.metadata.resourceVersion).toBe('2');
    store.set(obj('a', 'builder'));
    store.set(obj('a', 'deployer'));
    expect(store.size).toBe(3);
    expect(store.get('a', 'default')?.metadata.resourceVersion).toBe('2');
    expect(names(store.inNamespace('a'))).toEqual(['a/builder', 'a/default', 'a/deployer']);
    store.set(obj('a', 'builder', '5'));
    expect(store.size).toBe(3);
    expect(store.get('a', 'builder')?.metadata.resourceVersion).toBe('5');
  });

  it('removes objects down to none, and the namespace with the last one', () => {
    const store = new ObjectStore<KubeObject>();
    store.set(obj('a', 'x'));
    store.set(obj('a', 'y'));
    expect(store.delete('a', 'missing')).toBeUndefined();
    expect(store.delete('a', 'x')?.metadata.name).toBe('x');
    expect(store.size).toBe(1);
    expect(names(store.inNamespace('a'))).toEqual(['a/y']);
    expect(store.get('a', 'y')).toBeDefined();
    // Once back to one object, a second is added again as before.
    store.set(obj('a', 'z'));
    expect(names(store.values())).toEqual(['a/y', 'a/z']);
    store.delete('a', 'y');
    store.delete('a', 'z');
    expect(store.size).toBe(0);
    expect(store.inNamespace('a')).toEqual([]);
    expect([...store.values()]).toEqual([]);
  });

  it('keeps cluster-scoped objects by name, apart from namespaced ones of the same name', () => {
    const store = new ObjectStore<KubeObject>();
    store.set(obj(undefined, 'team-a'));
    store.set(obj('team-a', 'team-a'));
    expect(store.size).toBe(2);
    expect(store.get(undefined, 'team-a')?.metadata.namespace).toBeUndefined();
    expect(store.get('team-a', 'team-a')?.metadata.namespace).toBe('team-a');
    expect(names(store.values())).toEqual(['/team-a', 'team-a/team-a']);
    expect(store.delete(undefined, 'team-a')).toBeDefined();
    expect(store.delete(undefined, 'team-a')).toBeUndefined();
    expect(store.size).toBe(1);
  });
});
