// The string table the caches share repeated values through, and that leaning an object keeps every
// value it had (sharing a string never changes what the cache holds) without touching the input.
import { describe, expect, it, vi } from 'vitest';
import { CREDENTIAL_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import { Interner, RecordInterner } from '../../src/controller/intern.ts';
import { leanCredential, leanMetadata, leanNamespace, leanServiceAccount } from '../../src/controller/lean.ts';

describe('Interner', () => {
  it('keeps one entry per distinct string and hands back an equal string', () => {
    const table = new Interner(10);
    const a = ['hash-', 'one'].join('');
    expect(table.of(a)).toBe('hash-one');
    expect(table.of(['hash', '-one'].join(''))).toBe('hash-one');
    expect(table.size).toBe(1);
    table.of('hash-two');
    expect(table.size).toBe(2);
  });

  it('starts again when full, so strings that stop repeating are not kept for ever', () => {
    const table = new Interner(3);
    for (const s of ['a', 'b', 'c']) table.of(s);
    expect(table.size).toBe(3);
    expect(table.of('d')).toBe('d');
    expect(table.size).toBe(1);
    expect(table.of('a')).toBe('a');
    expect(table.size).toBe(2);
  });
});

describe('RecordInterner', () => {
  it('hands every equal record the first one, frozen, and a different record its own', () => {
    const table = new RecordInterner(10);
    const first = table.of({ a: '1', b: '2' });
    expect(table.of({ a: '1', b: '2' })).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(table.of({ a: '1', b: '3' })).not.toBe(first);
    expect(table.of({ a: '1', b: '3' })).toEqual({ a: '1', b: '3' });
    expect(table.size).toBe(2);
  });

  it('freezes a shared list and each of its items', () => {
    const table = new RecordInterner(10);
    const list = table.of([{ name: 'regcred' }, { name: 'other' }]);
    expect(table.of([{ name: 'regcred' }, { name: 'other' }])).toBe(list);
    expect(Object.isFrozen(list) && list.every((item) => Object.isFrozen(item))).toBe(true);
    expect(() => (list as Array<{ name: string }>).push({ name: 'x' })).toThrow(TypeError);
  });

  it('hands a record equal to a recent one that copy without building another', () => {
    const table = new RecordInterner(10);
    const labels = table.of({ a: '1', b: '2' });
    const refs = table.of([{ name: 'x', controller: true }]);
    const build = vi.fn(() => ({ a: '1', b: '2' }));
    expect(table.like({ b: '2', a: '1' }, build)).toBe(labels);
    expect(table.like([{ controller: true, name: 'x' }], () => [])).toBe(refs);
    expect(build).not.toHaveBeenCalled();
  });

  it('tells records apart by every field: a missing, extra or different one, or another list length', () => {
    const table = new RecordInterner(10);
    const kept = table.of({ a: '1', b: '2' });
    const list = table.of([{ name: 'x' }]);
    for (const other of [{ a: '1' }, { a: '1', b: '2', c: '3' }, { a: '1', b: '3' }, { a: '1', c: '2' }]) {
      const shared = table.like(other, () => ({ ...other }));
      expect(shared).not.toBe(kept);
      expect(shared).toEqual(other);
    }
    for (const other of [[{ name: 'x' }, { name: 'y' }], [{ name: 'y' }], [{ name: 'x', extra: 'z' }], []]) {
      const shared = table.like(other, () => structuredClone(other));
      expect(shared).not.toBe(list);
      expect(shared).toEqual(other);
    }
    expect(table.like({ 0: { name: 'x' } }, () => ({ 0: { name: 'x' } }))).not.toBe(list);
  });

  it('finds a record that is no longer among the recent ones by its key, and keeps what build made frozen', () => {
    const table = new RecordInterner(100);
    const first = table.of({ k: 'first' });
    for (let i = 0; i < 20; i++) table.of({ k: `other-${i}` });
    expect(table.like({ k: 'first' }, () => ({ k: 'first' }))).toBe(first);
    const built = table.like({ k: 'new' }, () => ({ k: 'new' }));
    expect(Object.isFrozen(built)).toBe(true);
  });

  it('starts again when full', () => {
    const table = new RecordInterner(2);
    table.of({ a: '1' });
    table.of({ a: '2' });
    table.of({ a: '3' });
    expect(table.size).toBe(1);
  });
});

describe('lean metadata with shared values', () => {
  const meta = {
    name: 'team-a',
    namespace: 'team-a',
    labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: 'cred', 'kubernetes.io/metadata.name': 'team-a', other: 'x' },
    annotations: { [HASH_ANNOTATION]: 'hmac-sha256:abc', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
    ownerReferences: [{ apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', name: 'cred', uid: 'u-1', controller: true, blockOwnerDeletion: false }],
  };

  it('keeps every label, annotation and owner reference value as it was', () => {
    expect(leanMetadata(meta)).toEqual({
      name: 'team-a',
      namespace: 'team-a',
      labels: meta.labels,
      annotations: { [HASH_ANNOTATION]: 'hmac-sha256:abc' },
      ownerReferences: meta.ownerReferences,
    });
  });

  it('leaves the object it was given untouched', () => {
    const input = structuredClone(meta);
    leanMetadata(input);
    expect(input).toEqual(meta);
  });

  it('keeps a name label that differs from the name as it is', () => {
    const lean = leanMetadata({ name: 'team-a', labels: { 'kubernetes.io/metadata.name': 'team-b' } });
    expect(lean.labels).toEqual({ 'kubernetes.io/metadata.name': 'team-b' });
  });

  it('shares the labels, annotations and owner references of objects written alike, only when asked', () => {
    const again = () => structuredClone({ ...meta, namespace: 'team-b' });
    const one = leanMetadata(again(), { shareRecords: true });
    const other = leanMetadata(again(), { shareRecords: true });
    expect(other.labels).toBe(one.labels);
    expect(other.annotations).toBe(one.annotations);
    expect(other.ownerReferences).toBe(one.ownerReferences);
    expect(other).toEqual(leanMetadata(again()));
    expect(leanMetadata(again()).labels).not.toBe(leanMetadata(again()).labels);
  });

  it('keeps creationTimestamp of a RegistryCredential only: no other age is read', () => {
    const created = { ...meta, creationTimestamp: '2026-01-01T00:00:00Z' };
    expect(leanMetadata(created).creationTimestamp).toBeUndefined();
    expect(leanNamespace({ metadata: created }).metadata.creationTimestamp).toBeUndefined();
    expect(leanCredential({ apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: created, spec: {} } as never).metadata.creationTimestamp).toBe('2026-01-01T00:00:00Z');
  });

  it('ServiceAccounts with the same entries share one frozen list', () => {
    const sa = (ns: string) => leanServiceAccount({ metadata: { name: 'default', namespace: ns }, imagePullSecrets: [{ name: 'regcred' }] });
    expect(sa('a').imagePullSecrets).toBe(sa('b').imagePullSecrets);
    expect(Object.isFrozen(sa('a').imagePullSecrets)).toBe(true);
  });

  it('keeps every imagePullSecrets entry of a ServiceAccount', () => {
    const sa = { metadata: { name: 'default', namespace: 'a' }, imagePullSecrets: [{ name: 'regcred' }, {}, { name: 'other' }] };
    expect(leanServiceAccount(sa)).toEqual(sa);
  });
});
