import { describe, expect, it } from 'vitest';
import {
  CREDENTIAL_LABEL,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SA_ENTRIES_ANNOTATION,
} from '../../src/api/labels.ts';
import { API_VERSION, KIND, resolveSpec, type ResolvedSpec } from '../../src/api/schema.ts';
import {
  DOCKERCONFIGJSON,
  desiredSecret,
  desiredState,
  entryRemovals,
  olderFirst,
  arbitrate,
  plan,
  secretDiffers,
  type CredentialView,
  type NamespaceInputs,
  type NamespaceTarget,
  type Observed,
} from '../../src/controller/desired.ts';
import { Digest } from '../../src/controller/digest.ts';
import { authEntry, renderDockerConfig } from '../../src/controller/dockerconfig.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';

const REGISTRY = { server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } };

function spec(extra: Record<string, unknown> = {}): ResolvedSpec {
  const r = resolveSpec('rc', { registries: [REGISTRY], secretName: 'pull', ...extra });
  if (!r.ok) throw new Error(r.message);
  return r.spec;
}

function credential(name: string, creationTimestamp = '2024-01-01T00:00:00Z', extra: Record<string, unknown> = {}): CredentialView {
  return { name, uid: `uid-${name}`, creationTimestamp, spec: spec(extra) };
}

const digest = Digest.random();
const rendered = renderDockerConfig([{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('u', 's3cret') } }], digest);
const renderedB = renderDockerConfig([{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('u', 'rotated') } }], digest);

function ns(name: string, labels?: Record<string, string>, terminating = false): Namespace {
  return {
    metadata: { name, ...(labels ? { labels } : {}), ...(terminating ? { deletionTimestamp: '2024-05-01T00:00:00Z' } : {}) },
    status: { phase: terminating ? 'Terminating' : 'Active' },
  };
}

function sa(namespace: string, name: string, entries: string[] = [], ours: string[] = [], labels?: Record<string, string>): ServiceAccount {
  return {
    metadata: {
      name,
      namespace,
      ...(labels ? { labels } : {}),
      ...(ours.length ? { annotations: { [SA_ENTRIES_ANNOTATION]: ours.join(',') } } : {}),
    },
    ...(entries.length ? { imagePullSecrets: entries.map((n) => ({ name: n })) } : {}),
  };
}

function foreignSecret(namespace: string, labels?: Record<string, string>): Secret {
  return { metadata: { name: 'pull', namespace, ...(labels ? { labels } : {}) }, type: 'Opaque', data: { x: 'eA==' } };
}

function inputs(over: Partial<NamespaceInputs> = {}, sas: Record<string, ServiceAccount[]> = {}, existing: Record<string, Secret> = {}): NamespaceInputs {
  return {
    credential: credential('rc'),
    rendered,
    rivals: [],
    serviceAccountsIn: (n: string) => sas[n] ?? [],
    existingSecret: (n: string) => existing[n],
    credentialUid: (n: string) => `uid-${n}`,
    ...over,
  };
}

const TWO = [ns('team-a'), ns('team-b')];

describe('desiredSecret', () => {
  it('is the exact dockerconfigjson Secret with our labels, hash and one controller ownerRef under Delete', () => {
    const c = credential('rc');
    expect(desiredSecret(c, 'team-a', rendered)).toEqual({
      metadata: {
        name: 'pull',
        namespace: 'team-a',
        labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: 'rc' },
        annotations: { [HASH_ANNOTATION]: rendered.hash },
        ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name: 'rc', uid: 'uid-rc', controller: true, blockOwnerDeletion: false }],
      },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': rendered.bytes.toString('base64') },
    });
    expect(MANAGED_BY_LABEL).toBe('app.kubernetes.io/managed-by');
    expect(MANAGED_BY_VALUE).toBe('regcred-operator');
    expect(CREDENTIAL_LABEL).toBe('regcred.dev/credential');
    expect(DOCKERCONFIGJSON).toBe('kubernetes.io/dockerconfigjson');
  });

  it('carries the rendered bytes, decodable back to the config', () => {
    const s = desiredSecret(credential('rc'), 'team-a', rendered);
    const decoded = Buffer.from(s.data!['.dockerconfigjson']!, 'base64');
    expect(decoded.equals(rendered.bytes)).toBe(true);
    expect(JSON.parse(decoded.toString('utf8')).auths['ghcr.io'].username).toBe('u');
  });
});

describe('olderFirst', () => {
  it.each<[string, CredentialView, CredentialView, number]>([
    ['older timestamp first', credential('z', '2024-01-01T00:00:00Z'), credential('a', '2024-01-02T00:00:00Z'), -1],
    ['younger timestamp last', credential('a', '2024-01-02T00:00:00Z'), credential('z', '2024-01-01T00:00:00Z'), 1],
    ['same timestamp: name decides', credential('a'), credential('b'), -1],
    ['same timestamp: name decides, reversed', credential('b'), credential('a'), 1],
    ['same timestamp and name', credential('a'), credential('a'), 0],
  ])('%s', (_name, a, b, sign) => {
    expect(Math.sign(olderFirst(a, b))).toBe(sign);
  });
});

describe('desiredSecret under Retain', () => {
  it('carries no ownerReference, so no garbage collector can take a Secret the policy keeps', () => {
    const c = credential('rc', undefined, { deletionPolicy: 'Retain' });
    expect(desiredSecret(c, 'team-a', rendered).metadata.ownerReferences).toEqual([]);
  });
});

describe('desiredState', () => {
  it('gives each matched namespace the desired Secret and its selected ServiceAccounts, sorted', () => {
    const targets = desiredState(
      inputs(
        { credential: credential('rc', undefined, { serviceAccounts: { names: ['default', 'builder'] } }) },
        {
          'team-a': [sa('team-a', 'default'), sa('team-a', 'builder'), sa('team-a', 'other')],
          'team-b': [sa('team-b', 'default'), sa('team-b', 'builder', [], [], { 'regcred.dev/ignore': 'true' })],
        },
      ),
      [ns('team-b'), ns('kube-system'), ns('team-a'), ns('gone', undefined, true)],
    );
    expect(targets).toEqual([
      { namespace: 'team-a', secret: desiredSecret(credential('rc'), 'team-a', rendered), serviceAccounts: ['builder', 'default'] },
      { namespace: 'team-b', secret: desiredSecret(credential('rc'), 'team-b', rendered), serviceAccounts: ['default'] },
    ]);
  });

  it('returns nothing when no namespace matches', () => {
    expect(desiredState(inputs(), [ns('kube-system'), ns('x', undefined, true)])).toEqual([]);
  });

  it('targets a namespace whose Secret is already ours and carries it as the one in place', () => {
    const have = desiredSecret(credential('rc'), 'team-a', renderedB);
    const targets = desiredState(inputs({}, {}, { 'team-a': have }), [ns('team-a')]);
    expect(targets).toEqual([{ namespace: 'team-a', secret: desiredSecret(credential('rc'), 'team-a', rendered), existing: have, serviceAccounts: [] }]);
  });

  it.each<[string, Secret]>([
    ['an unmanaged Secret', foreignSecret('team-a')],
    ['a Secret of another tool', foreignSecret('team-a', { [MANAGED_BY_LABEL]: 'helm', [CREDENTIAL_LABEL]: 'rc' })],
  ])('reports a conflict for %s and leaves the namespace alone', (_name, existing) => {
    const targets = desiredState(inputs({}, { 'team-a': [sa('team-a', 'default')] }, { 'team-a': existing }), TWO);
    expect(targets).toEqual([
      { namespace: 'team-a', serviceAccounts: [], conflict: 'Secret team-a/pull already exists and is not managed by regcred-operator; it is left untouched' },
      { namespace: 'team-b', secret: desiredSecret(credential('rc'), 'team-b', rendered), serviceAccounts: [] },
    ]);
  });

  describe('credentials that share a secretName', () => {
    const older = credential('zeta', '2024-01-01T00:00:00Z');
    const younger = credential('alpha', '2024-02-01T00:00:00Z');
    const heldByYounger = desiredSecret(younger, 'team-a', rendered);
    const heldByOlder = desiredSecret(older, 'team-a', rendered);

    it('gives a namespace nobody holds to the older, and the younger a conflict naming it', () => {
      expect(desiredState(inputs({ credential: younger, rivals: [older] }), [ns('team-a')])).toEqual([
        { namespace: 'team-a', serviceAccounts: [], conflict: 'Secret team-a/pull is held by RegistryCredential zeta, which also selects this namespace' },
      ]);
      expect(desiredState(inputs({ credential: older, rivals: [younger] }), [ns('team-a')])).toEqual([
        { namespace: 'team-a', secret: desiredSecret(older, 'team-a', rendered), contestedBy: ['alpha'], serviceAccounts: [] },
      ]);
    });

    it('lets the current holder keep a namespace even when an older rival appears (no needless handover)', () => {
      const forYounger = desiredState(inputs({ credential: younger, rivals: [older] }, {}, { 'team-a': heldByYounger }), [ns('team-a')]);
      expect(forYounger[0]!.secret).toEqual(desiredSecret(younger, 'team-a', rendered));
      expect(forYounger[0]!.contestedBy).toEqual(['zeta']);
      const forOlder = desiredState(inputs({ credential: older, rivals: [younger] }, {}, { 'team-a': heldByYounger }), [ns('team-a')]);
      expect(forOlder[0]!.conflict).toBe('Secret team-a/pull is held by RegistryCredential alpha, which also selects this namespace');
    });

    it('takes over in place a Secret whose holder is no longer a contender (cannot render, deleted, deselected)', () => {
      // The reconciler passes only rivals that can render and are not being deleted: the older
      // holder is simply absent from `rivals` here.
      const targets = desiredState(inputs({ credential: younger, rivals: [] }, {}, { 'team-a': heldByOlder }), [ns('team-a')]);
      expect(targets).toEqual([{ namespace: 'team-a', secret: desiredSecret(younger, 'team-a', rendered), existing: heldByOlder, serviceAccounts: [] }]);
    });

    it('breaks a timestamp tie by name', () => {
      const a = credential('a-rc');
      const b = credential('b-rc');
      expect(desiredState(inputs({ credential: b, rivals: [a] }), [ns('team-a')])[0]!.conflict).toBe(
        'Secret team-a/pull is held by RegistryCredential a-rc, which also selects this namespace',
      );
      expect(desiredState(inputs({ credential: a, rivals: [b] }), [ns('team-a')])[0]!.secret).toEqual(desiredSecret(a, 'team-a', rendered));
    });

    it('is not blocked by a rival that does not select the namespace', () => {
      const narrow = credential('zeta', '2024-01-01T00:00:00Z', { namespaces: { include: ['team-b'] } });
      expect(desiredState(inputs({ credential: younger, rivals: [narrow] }), TWO)).toEqual([
        { namespace: 'team-a', secret: desiredSecret(younger, 'team-a', rendered), serviceAccounts: [] },
        { namespace: 'team-b', serviceAccounts: [], conflict: 'Secret team-b/pull is held by RegistryCredential zeta, which also selects this namespace' },
      ]);
    });
  });
});

describe('arbitrate', () => {
  const a = credential('a', '2024-01-01T00:00:00Z');
  const b = credential('b', '2024-02-01T00:00:00Z');
  const c = credential('c', '2024-03-01T00:00:00Z');
  const retained = credential('r', '2024-04-01T00:00:00Z', { deletionPolicy: 'Retain' });
  const secretOf = (x: CredentialView) => desiredSecret(x, 'ns', rendered);
  const unmarked = (x: Secret): Secret => ({ ...x, metadata: { ...x.metadata, ownerReferences: [] } });

  it.each<[string, Secret | undefined, CredentialView[], ReturnType<typeof arbitrate>]>([
    ['nobody holds it: the oldest contender', undefined, [c, b, a], { holder: 'a', contenders: ['b', 'c'] }],
    ['the holder is a contender: it keeps it', secretOf(c), [a, b, c], { holder: 'c', contenders: ['a', 'b'] }],
    ['the holder is not a contender: the oldest takes it over', secretOf(c), [b, a], { holder: 'a', contenders: ['b'] }],
    ['no contender at all', secretOf(a), [], undefined],
    ['a Secret that is not ours blocks everyone', foreignSecret('ns'), [a], { foreign: 'something other than regcred-operator' }],
    ['our labels without an owner mark block everyone', unmarked(secretOf(a)), [a], { foreign: 'unowned' }],
    ['an owner mark of another UID (a copy, or a credential made again) blocks everyone', { ...secretOf(a), metadata: { ...secretOf(a).metadata, ownerReferences: [{ ...secretOf(a).metadata.ownerReferences![0]!, uid: 'uid-old' }] } }, [a], { foreign: 'unowned' }],
    ['a Retain Secret is owned through its annotation', secretOf(retained), [a, retained], { holder: 'r', contenders: ['a'] }],
  ])('%s', (_name, existing, contenders, expected) => {
    expect(arbitrate(existing, contenders, (n) => `uid-${n}`)).toEqual(expected);
  });

  it('a holder that no longer exists holds nothing', () => {
    expect(arbitrate(secretOf(c), [a], () => undefined)).toEqual({ foreign: 'unowned' });
  });
});

function observed(
  managed: Secret[],
  sas: Record<string, ServiceAccount[]> = {},
  namespaces: Namespace[] = TWO,
  extra: Partial<Observed> = {},
): Observed {
  return {
    managedSecrets: managed,
    serviceAccountsIn: (n) => sas[n] ?? [],
    annotatedServiceAccounts: (name) => Object.values(sas).flat().filter((x) => (x.metadata.annotations?.[SA_ENTRIES_ANNOTATION] ?? '').split(',').includes(name)),
    namespace: (n) => namespaces.find((x) => x.metadata.name === n),
    existingSecret: (n, name) => managed.find((x) => x.metadata.namespace === n && x.metadata.name === name),
    handedOver: () => false,
    ...extra,
  };
}

function target(namespace: string, serviceAccounts: string[] = [], existing?: Secret): NamespaceTarget {
  return { namespace, secret: desiredSecret(credential('rc'), namespace, rendered), ...(existing ? { existing } : {}), serviceAccounts };
}

const EMPTY = { removals: [], writes: [], deletions: [], handovers: [] };
const inPlace = (namespace: string) => desiredSecret(credential('rc'), namespace, rendered);

describe('plan', () => {
  it('creates a Secret that does not exist', () => {
    const t = target('team-a');
    expect(plan([t], observed([]), 'pull', 'Delete')).toEqual({ ...EMPTY, writes: [{ kind: 'createSecret', namespace: 'team-a', secret: t.secret }] });
  });

  it('writes nothing when the Secret is identical', () => {
    const have = inPlace('team-a');
    expect(plan([target('team-a', [], have)], observed([have]), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it('writes nothing when the Secret only carries extra metadata of others', () => {
    const have = inPlace('team-a');
    have.metadata.labels!['extra'] = 'x';
    have.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = '{}';
    have.metadata.resourceVersion = '42';
    have.metadata.uid = 'secret-uid';
    have.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'Other', name: 'o', uid: 'o-uid' });
    expect(plan([target('team-a', [], have)], observed([have]), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it.each<[string, (s: Secret) => void]>([
    ['data changed', (s) => (s.data!['.dockerconfigjson'] = renderedB.bytes.toString('base64'))],
    ['label missing', (s) => delete s.metadata.labels![MANAGED_BY_LABEL]],
    ['hash annotation changed', (s) => (s.metadata.annotations![HASH_ANNOTATION] = renderedB.hash)],
    ['owner reference missing', (s) => (s.metadata.ownerReferences = [])],
    ['held by another credential (a takeover in one write)', (s) => (s.metadata.labels![CREDENTIAL_LABEL] = 'former')],
  ])('updates the Secret when %s', (_name, mutate) => {
    const have = inPlace('team-a');
    mutate(have);
    const t = target('team-a', [], have);
    expect(plan([t], observed([have]), 'pull', 'Delete')).toEqual({ ...EMPTY, writes: [{ kind: 'updateSecret', namespace: 'team-a', secret: t.secret, observed: have }] });
  });

  it('adds an entry only to selected ServiceAccounts that lack it', () => {
    const have = inPlace('team-a');
    const sas = {
      'team-a': [sa('team-a', 'default'), sa('team-a', 'builder', ['pull'], ['pull']), sa('team-a', 'ci', ['pull']), sa('team-a', 'unselected')],
    };
    expect(plan([target('team-a', ['default', 'builder', 'ci'], have)], observed([have], sas), 'pull', 'Delete')).toEqual({
      ...EMPTY,
      writes: [{ kind: 'addEntry', namespace: 'team-a', serviceAccount: 'default', secretName: 'pull' }],
    });
  });

  it('removes our entry from a ServiceAccount no longer selected, under Delete only', () => {
    const have = inPlace('team-a');
    const sas = { 'team-a': [sa('team-a', 'default', ['pull'], ['pull']), sa('team-a', 'builder', ['other', 'pull'], ['pull'])] };
    const t = target('team-a', ['default'], have);
    expect(plan([t], observed([have], sas), 'pull', 'Delete')).toEqual({
      ...EMPTY,
      removals: [{ kind: 'removeEntry', namespace: 'team-a', serviceAccount: 'builder', secretName: 'pull' }],
    });
    expect(plan([t], observed([have], sas), 'pull', 'Retain')).toEqual(EMPTY);
  });

  it.each<[string, ServiceAccount]>([
    ['an entry someone else added', sa('team-a', 'builder', ['pull'])],
    ['an entry our annotation lists for another Secret name', sa('team-a', 'builder', ['pull'], ['other'])],
    ['an entry our annotation lists but that is already gone', sa('team-a', 'builder', ['x'], ['pull'])],
  ])('never removes %s', (_name, account) => {
    const have = inPlace('team-a');
    expect(plan([target('team-a', [], have)], observed([have], { 'team-a': [account] }), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it('touches no ServiceAccount and no Secret of a namespace in conflict', () => {
    const conflict: NamespaceTarget = { namespace: 'team-a', serviceAccounts: [], conflict: 'taken' };
    expect(plan([conflict], observed([], { 'team-a': [sa('team-a', 'default')] }), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it('removes our entries, then deletes a stale managed Secret under Delete', () => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull']), sa('team-b', 'foreign', ['pull']), sa('team-b', 'bare')] };
    expect(plan([], observed([stale], sas), 'pull', 'Delete')).toEqual({
      ...EMPTY,
      removals: [{ kind: 'removeEntry', namespace: 'team-b', serviceAccount: 'default', secretName: 'pull' }],
      deletions: [{ kind: 'deleteSecret', namespace: 'team-b', observed: stale }],
    });
  });

  it('removes an entry our annotation records even when its Secret is already gone (nothing dangles)', () => {
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan([], observed([], sas), 'pull', 'Delete')).toEqual({
      ...EMPTY,
      removals: [{ kind: 'removeEntry', namespace: 'team-b', serviceAccount: 'default', secretName: 'pull' }],
    });
  });

  it('keeps an annotated entry that serves a rival\'s Secret of the same name', () => {
    const rivals = desiredSecret(credential('other'), 'team-b', rendered);
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan([], observed([], sas, TWO, { existingSecret: (n, name) => (n === 'team-b' && name === 'pull' ? rivals : undefined) }), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it('leaves a stale Secret that a rival wants for it to take over: no deletion, no entry removed', () => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan([], observed([stale], sas, TWO, { handedOver: (n) => n === 'team-b' }), 'pull', 'Delete')).toEqual({ ...EMPTY, handovers: ['team-b'] });
  });

  it('leaves a stale managed Secret and its entries alone under Retain', () => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    expect(plan([], observed([stale], { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] }), 'pull', 'Retain')).toEqual(EMPTY);
  });

  it('deletes the Secret of an old secretName next to the new one', () => {
    const t = target('team-a', ['default']);
    const old = inPlace('team-a');
    old.metadata.name = 'old-pull';
    const sas = { 'team-a': [sa('team-a', 'default', ['old-pull'], ['old-pull'])] };
    expect(plan([t], observed([old], sas), 'pull', 'Delete')).toEqual({
      ...EMPTY,
      removals: [{ kind: 'removeEntry', namespace: 'team-a', serviceAccount: 'default', secretName: 'old-pull' }],
      writes: [
        { kind: 'createSecret', namespace: 'team-a', secret: t.secret },
        { kind: 'addEntry', namespace: 'team-a', serviceAccount: 'default', secretName: 'pull' },
      ],
      deletions: [{ kind: 'deleteSecret', namespace: 'team-a', observed: old }],
    });
  });

  it.each<[string, Namespace[]]>([
    ['terminating by deletionTimestamp', [{ metadata: { name: 'team-b', deletionTimestamp: '2024-05-01T00:00:00Z' } }]],
    ['terminating by phase', [{ metadata: { name: 'team-b' }, status: { phase: 'Terminating' } }]],
    ['already gone', []],
  ])('does nothing in a namespace %s', (_name, namespaces) => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan([], observed([stale], sas, namespaces), 'pull', 'Delete')).toEqual(EMPTY);
  });

  it('plans nothing at all for a desired state already in place', () => {
    const sas = { 'team-a': [sa('team-a', 'default', ['pull'], ['pull'])], 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    const existing = { 'team-a': inPlace('team-a'), 'team-b': inPlace('team-b') };
    const targets = desiredState(inputs({}, sas, existing), TWO);
    expect(plan(targets, observed(Object.values(existing), sas), 'pull', 'Delete')).toEqual(EMPTY);
  });
});

describe('entryRemovals', () => {
  it('removes only entries our annotation lists and the ServiceAccount still has', () => {
    const accounts = [
      sa('ns', 'ours', ['a', 'pull', 'b'], ['pull']),
      sa('ns', 'ours-among-many', ['pull'], ['other', 'pull']),
      sa('ns', 'foreign', ['pull']),
      sa('ns', 'annotation-only', [], ['pull']),
      sa('ns', 'other-name', ['other'], ['other']),
      sa('ns', 'nothing'),
    ];
    expect(entryRemovals(accounts, 'ns', 'pull')).toEqual([
      { kind: 'removeEntry', namespace: 'ns', serviceAccount: 'ours', secretName: 'pull' },
      { kind: 'removeEntry', namespace: 'ns', serviceAccount: 'ours-among-many', secretName: 'pull' },
    ]);
  });

  it('returns nothing for no ServiceAccounts', () => {
    expect(entryRemovals([], 'ns', 'pull')).toEqual([]);
  });
});

describe('secretDiffers', () => {
  const want = desiredSecret(credential('rc'), 'team-a', rendered);

  it.each<[string, (s: Secret) => void, boolean]>([
    ['identical', () => {}, false],
    ['extra label', (s) => (s.metadata.labels!['x'] = 'y'), false],
    ['extra annotation', (s) => (s.metadata.annotations!['x'] = 'y'), false],
    ['extra non-controller ownerRef', (s) => s.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'X', name: 'x', uid: 'x' }), false],
    ['blockOwnerDeletion differs', (s) => (s.metadata.ownerReferences![0]!.blockOwnerDeletion = true), false],
    ['type differs', (s) => (s.type = 'Opaque'), true],
    ['type missing', (s) => delete s.type, true],
    ['immutable', (s) => (s.immutable = true), true],
    ['data value differs', (s) => (s.data!['.dockerconfigjson'] = 'e30='), true],
    ['data key missing', (s) => (s.data = {}), true],
    ['data absent', (s) => delete s.data, true],
    ['extra data key', (s) => (s.data!['extra'] = 'eA=='), true],
    ['managed-by label differs', (s) => (s.metadata.labels![MANAGED_BY_LABEL] = 'helm'), true],
    ['credential label differs', (s) => (s.metadata.labels![CREDENTIAL_LABEL] = 'other'), true],
    ['labels absent', (s) => delete s.metadata.labels, true],
    ['hash annotation differs', (s) => (s.metadata.annotations![HASH_ANNOTATION] = 'sha256:0'), true],
    ['annotations absent', (s) => delete s.metadata.annotations, true],
    ['ownerRefs absent', (s) => delete s.metadata.ownerReferences, true],
    ['ownerRef to another uid', (s) => (s.metadata.ownerReferences![0]!.uid = 'uid-other'), true],
    ['ownerRef not controller', (s) => (s.metadata.ownerReferences![0]!.controller = false), true],
    ['a second ownerRef of ours', (s) => s.metadata.ownerReferences!.push({ apiVersion: API_VERSION, kind: KIND, name: 'x', uid: 'x' }), true],
  ])('%s → %s', (_name, mutate, expected) => {
    const have = structuredClone(want);
    mutate(have);
    expect(secretDiffers(have, want)).toBe(expected);
  });
});
