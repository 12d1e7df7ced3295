import { describe, expect, it } from 'vitest';
import { SA_ENTRIES_ANNOTATION } from '../../src/api/labels.ts';
import { withEntry, withoutEntry, type EntryEdit } from '../../src/controller/apply.ts';
import type { ServiceAccount } from '../../src/kube/objects.ts';

function sa(entries?: Array<string | undefined>, annotation?: string): ServiceAccount {
  return {
    metadata: { name: 'default', namespace: 'team-a', ...(annotation !== undefined ? { annotations: { [SA_ENTRIES_ANNOTATION]: annotation, other: 'x' } } : {}) },
    ...(entries ? { imagePullSecrets: entries.map((n) => (n === undefined ? {} : { name: n })) } : {}),
  };
}

const list = (...names: Array<string | undefined>) => names.map((n) => (n === undefined ? {} : { name: n }));

describe('withEntry', () => {
  it.each<[string, ServiceAccount, EntryEdit | undefined]>([
    ['no imagePullSecrets', sa(), { imagePullSecrets: list('pull'), annotation: 'pull' }],
    ['an empty list', sa([]), { imagePullSecrets: list('pull'), annotation: 'pull' }],
    ['foreign entries kept in order, ours at the end', sa(['z', 'a', 'm']), { imagePullSecrets: list('z', 'a', 'm', 'pull'), annotation: 'pull' }],
    ['an entry without a name kept', sa([undefined, 'a']), { imagePullSecrets: list(undefined, 'a', 'pull'), annotation: 'pull' }],
    ['other entries of ours: annotation sorted', sa(['zz', 'aa'], 'zz,aa'), { imagePullSecrets: list('zz', 'aa', 'pull'), annotation: 'aa,pull,zz' }],
    ['annotation already names it but the entry is gone', sa(['a'], 'pull'), { imagePullSecrets: list('a', 'pull'), annotation: 'pull' }],
    ['annotation with duplicates and empty parts', sa([], 'b,,b,a,'), { imagePullSecrets: list('pull'), annotation: 'a,b,pull' }],
    ['already listed by us', sa(['a', 'pull'], 'pull'), undefined],
    ['already listed by someone else', sa(['pull', 'a']), undefined],
  ])('%s', (_name, account, expected) => {
    expect(withEntry(account, 'pull')).toEqual(expected);
  });

  it('never duplicates: adding twice gives one entry', () => {
    const account = sa(['a']);
    const first = withEntry(account, 'pull')!;
    const after: ServiceAccount = {
      metadata: { ...account.metadata, annotations: { [SA_ENTRIES_ANNOTATION]: first.annotation! } },
      imagePullSecrets: first.imagePullSecrets,
    };
    expect(withEntry(after, 'pull')).toBeUndefined();
    expect(first.imagePullSecrets.filter((e) => e.name === 'pull')).toHaveLength(1);
  });

  it('does not mutate the ServiceAccount', () => {
    const account = sa(['a'], 'x');
    const copy = structuredClone(account);
    withEntry(account, 'pull');
    expect(account).toEqual(copy);
  });
});

describe('withoutEntry', () => {
  it.each<[string, ServiceAccount, EntryEdit | undefined]>([
    ['ours: removed, others kept in order', sa(['z', 'pull', 'a'], 'pull'), { imagePullSecrets: list('z', 'a'), annotation: null }],
    ['ours among several of ours', sa(['pull', 'other'], 'other,pull'), { imagePullSecrets: list('other'), annotation: 'other' }],
    ['ours, the only entry', sa(['pull'], 'pull'), { imagePullSecrets: [], annotation: null }],
    ['annotation names it but the entry is gone', sa(['a'], 'b,pull'), { imagePullSecrets: list('a'), annotation: 'b' }],
    ['entry without a name kept', sa([undefined, 'pull'], 'pull'), { imagePullSecrets: list(undefined), annotation: null }],
    ['not ours: no annotation', sa(['pull', 'a']), undefined],
    ['not ours: annotation names other entries', sa(['pull', 'a'], 'a'), undefined],
    ['not ours: annotation is a longer name', sa(['pull'], 'pull-2'), undefined],
    ['not ours: empty annotation', sa(['pull'], ''), undefined],
    ['nothing at all', sa(), undefined],
  ])('%s', (_name, account, expected) => {
    expect(withoutEntry(account, 'pull')).toEqual(expected);
  });

  it('undoes withEntry exactly', () => {
    const account = sa(['x', 'y'], 'y');
    const added = withEntry(account, 'pull')!;
    const after: ServiceAccount = {
      metadata: { ...account.metadata, annotations: { [SA_ENTRIES_ANNOTATION]: added.annotation! } },
      imagePullSecrets: added.imagePullSecrets,
    };
    expect(withoutEntry(after, 'pull')).toEqual({ imagePullSecrets: list('x', 'y'), annotation: 'y' });
  });
});
