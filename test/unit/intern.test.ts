// The string table the caches share repeated values through, and that leaning an object keeps every
// value it had (sharing a string never changes what the cache holds) without touching the input.
import { describe, expect, it } from 'vitest';
import { CREDENTIAL_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import { Interner } from '../../src/controller/intern.ts';
import { leanMetadata, leanServiceAccount } from '../../src/controller/lean.ts';

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

  it('keeps every imagePullSecrets entry of a ServiceAccount', () => {
    const sa = { metadata: { name: 'default', namespace: 'a' }, imagePullSecrets: [{ name: 'regcred' }, {}, { name: 'other' }] };
    expect(leanServiceAccount(sa)).toEqual(sa);
  });
});
