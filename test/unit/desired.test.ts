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
  plan,
  secretDiffers,
  type CredentialView,
  type DesiredInputs,
  type NamespaceTarget,
  type Observed,
} from '../../src/controller/desired.ts';
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

const rendered = renderDockerConfig([{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('u', 's3cret') } }]);
const renderedB = renderDockerConfig([{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('u', 'rotated') } }]);

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

function inputs(over: Partial<DesiredInputs> = {}, sas: Record<string, ServiceAccount[]> = {}, existing: Record<string, Secret> = {}): DesiredInputs {
  return {
    credential: credential('rc'),
    rendered,
    others: [],
    namespaces: [ns('team-a'), ns('team-b')],
    serviceAccountsIn: (n) => sas[n] ?? [],
    existingSecret: (n) => existing[n],
    ...over,
  };
}

describe('desiredSecret', () => {
  it('is the exact dockerconfigjson Secret with our labels, hash and one controller ownerRef', () => {
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

describe('desiredState', () => {
  it('gives each matched namespace the desired Secret and its selected ServiceAccounts, sorted', () => {
    const targets = desiredState(
      inputs(
        {
          credential: credential('rc', undefined, { serviceAccounts: { names: ['default', 'builder'] } }),
          namespaces: [ns('team-b'), ns('kube-system'), ns('team-a'), ns('gone', undefined, true)],
        },
        {
          'team-a': [sa('team-a', 'default'), sa('team-a', 'builder'), sa('team-a', 'other')],
          'team-b': [sa('team-b', 'default'), sa('team-b', 'builder', [], [], { 'regcred.dev/ignore': 'true' })],
        },
      ),
    );
    expect(targets).toEqual([
      { namespace: 'team-a', secret: desiredSecret(credential('rc'), 'team-a', rendered), serviceAccounts: ['builder', 'default'] },
      { namespace: 'team-b', secret: desiredSecret(credential('rc'), 'team-b', rendered), serviceAccounts: ['default'] },
    ]);
  });

  it('returns nothing when no namespace matches', () => {
    expect(desiredState(inputs({ namespaces: [ns('kube-system'), ns('x', undefined, true)] }))).toEqual([]);
  });

  it('targets a namespace whose Secret is already ours', () => {
    const ours = desiredSecret(credential('rc'), 'team-a', renderedB);
    const targets = desiredState(inputs({ namespaces: [ns('team-a')] }, {}, { 'team-a': ours }));
    expect(targets).toEqual([{ namespace: 'team-a', secret: desiredSecret(credential('rc'), 'team-a', rendered), serviceAccounts: [] }]);
  });

  it.each<[string, Secret, string]>([
    [
      'an unmanaged Secret',
      foreignSecret('team-a'),
      'Secret team-a/pull already exists and is managed by something other than regcred-operator; it is left untouched',
    ],
    [
      'a Secret of another tool',
      foreignSecret('team-a', { [MANAGED_BY_LABEL]: 'helm', [CREDENTIAL_LABEL]: 'rc' }),
      'Secret team-a/pull already exists and is managed by something other than regcred-operator; it is left untouched',
    ],
    [
      'a Secret managed by another credential',
      foreignSecret('team-a', { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: 'other-rc' }),
      'Secret team-a/pull already exists and is managed by RegistryCredential other-rc; it is left untouched',
    ],
  ])('reports a conflict for %s and leaves the namespace without a Secret', (_name, existing, message) => {
    const targets = desiredState(inputs({}, { 'team-a': [sa('team-a', 'default')] }, { 'team-a': existing }));
    expect(targets).toEqual([
      { namespace: 'team-a', serviceAccounts: [], conflict: message },
      { namespace: 'team-b', secret: desiredSecret(credential('rc'), 'team-b', rendered), serviceAccounts: [] },
    ]);
  });

  describe('competing credentials with the same secretName', () => {
    const older = credential('zeta', '2024-01-01T00:00:00Z');
    const younger = credential('alpha', '2024-02-01T00:00:00Z');

    it('lets the older one win and gives the younger a conflict naming the winner', () => {
      const forYounger = desiredState(inputs({ credential: younger, others: [older], namespaces: [ns('team-a')] }));
      expect(forYounger).toEqual([
        { namespace: 'team-a', serviceAccounts: [], conflict: 'Secret team-a/pull is claimed by the older RegistryCredential zeta' },
      ]);
      const forOlder = desiredState(inputs({ credential: older, others: [younger], namespaces: [ns('team-a')] }));
      expect(forOlder).toEqual([{ namespace: 'team-a', secret: desiredSecret(older, 'team-a', rendered), serviceAccounts: [] }]);
    });

    it('breaks a timestamp tie by name', () => {
      const a = credential('a-rc');
      const b = credential('b-rc');
      expect(desiredState(inputs({ credential: b, others: [a], namespaces: [ns('team-a')] }))[0]!.conflict).toBe(
        'Secret team-a/pull is claimed by the older RegistryCredential a-rc',
      );
      expect(desiredState(inputs({ credential: a, others: [b], namespaces: [ns('team-a')] }))[0]!.secret).toBeDefined();
    });

    it('names the oldest of several winners', () => {
      const oldest = credential('middle', '2023-01-01T00:00:00Z');
      const targets = desiredState(inputs({ credential: younger, others: [older, oldest], namespaces: [ns('team-a')] }));
      expect(targets[0]!.conflict).toBe('Secret team-a/pull is claimed by the older RegistryCredential middle');
    });

    it('is not blocked by a competitor that does not select the namespace', () => {
      const narrow = credential('zeta', '2024-01-01T00:00:00Z', { namespaces: { include: ['team-b'] } });
      const targets = desiredState(inputs({ credential: younger, others: [narrow] }));
      expect(targets).toEqual([
        { namespace: 'team-a', secret: desiredSecret(younger, 'team-a', rendered), serviceAccounts: [] },
        { namespace: 'team-b', serviceAccounts: [], conflict: 'Secret team-b/pull is claimed by the older RegistryCredential zeta' },
      ]);
    });

    it('is not blocked by an older credential with another secretName', () => {
      const other = credential('zeta', '2024-01-01T00:00:00Z', { secretName: 'other' });
      const targets = desiredState(inputs({ credential: younger, others: [other], namespaces: [ns('team-a')] }));
      expect(targets[0]!.secret).toBeDefined();
      expect(targets[0]!.conflict).toBeUndefined();
    });

    it('ignores an entry for itself among the others', () => {
      const self = credential('alpha', '2023-01-01T00:00:00Z');
      const targets = desiredState(inputs({ credential: younger, others: [self], namespaces: [ns('team-a')] }));
      expect(targets[0]!.secret).toBeDefined();
    });
  });
});

function observed(managed: Secret[], sas: Record<string, ServiceAccount[]> = {}, namespaces: Namespace[] = [ns('team-a'), ns('team-b')]): Observed {
  return {
    managedSecrets: managed,
    serviceAccountsIn: (n) => sas[n] ?? [],
    namespace: (n) => namespaces.find((x) => x.metadata.name === n),
  };
}

function target(namespace: string, serviceAccounts: string[] = [], r = rendered): NamespaceTarget {
  return { namespace, secret: desiredSecret(credential('rc'), namespace, r), serviceAccounts };
}

const EMPTY = { removals: [], writes: [], deletions: [] };

describe('plan', () => {
  it('creates a Secret that does not exist', () => {
    const t = target('team-a');
    expect(plan([t], observed([]), 'Delete')).toEqual({
      removals: [],
      writes: [{ kind: 'createSecret', namespace: 'team-a', secret: t.secret }],
      deletions: [],
    });
  });

  it('writes nothing when the Secret is identical', () => {
    const t = target('team-a');
    expect(plan([t], observed([structuredClone(t.secret!)]), 'Delete')).toEqual(EMPTY);
  });

  it('writes nothing when the Secret only carries extra metadata of others', () => {
    const t = target('team-a');
    const have = structuredClone(t.secret!);
    have.metadata.labels!['extra'] = 'x';
    have.metadata.annotations!['kubectl.kubernetes.io/last-applied-configuration'] = '{}';
    have.metadata.resourceVersion = '42';
    have.metadata.uid = 'secret-uid';
    have.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'Other', name: 'o', uid: 'o-uid' });
    expect(plan([t], observed([have]), 'Delete')).toEqual(EMPTY);
  });

  it.each<[string, (s: Secret) => void]>([
    ['data changed', (s) => (s.data!['.dockerconfigjson'] = renderedB.bytes.toString('base64'))],
    ['label missing', (s) => delete s.metadata.labels![MANAGED_BY_LABEL]],
    ['hash annotation changed', (s) => (s.metadata.annotations![HASH_ANNOTATION] = renderedB.hash)],
    ['owner reference missing', (s) => (s.metadata.ownerReferences = [])],
  ])('updates the Secret when %s', (_name, mutate) => {
    const t = target('team-a');
    const have = structuredClone(t.secret!);
    mutate(have);
    expect(plan([t], observed([have]), 'Delete')).toEqual({
      removals: [],
      writes: [{ kind: 'updateSecret', namespace: 'team-a', secret: t.secret, observed: have }],
      deletions: [],
    });
  });

  it('adds an entry only to selected ServiceAccounts that lack it', () => {
    const t = target('team-a', ['default', 'builder', 'ci']);
    const sas = {
      'team-a': [
        sa('team-a', 'default'),
        sa('team-a', 'builder', ['pull'], ['pull']),
        sa('team-a', 'ci', ['pull']),
        sa('team-a', 'unselected'),
      ],
    };
    expect(plan([t], observed([structuredClone(t.secret!)], sas), 'Delete')).toEqual({
      removals: [],
      writes: [{ kind: 'addEntry', namespace: 'team-a', serviceAccount: 'default', secretName: 'pull' }],
      deletions: [],
    });
  });

  it('removes our entry from a ServiceAccount no longer selected, under Delete only', () => {
    const t = target('team-a', ['default']);
    const sas = { 'team-a': [sa('team-a', 'default', ['pull'], ['pull']), sa('team-a', 'builder', ['other', 'pull'], ['pull'])] };
    const managed = [structuredClone(t.secret!)];
    expect(plan([t], observed(managed, sas), 'Delete')).toEqual({
      removals: [{ kind: 'removeEntry', namespace: 'team-a', serviceAccount: 'builder', secretName: 'pull' }],
      writes: [],
      deletions: [],
    });
    expect(plan([t], observed(managed, sas), 'Retain')).toEqual(EMPTY);
  });

  it.each<[string, ServiceAccount]>([
    ['an entry someone else added', sa('team-a', 'builder', ['pull'])],
    ['an entry our annotation lists for another Secret name', sa('team-a', 'builder', ['pull'], ['other'])],
    ['an entry our annotation lists but that is already gone', sa('team-a', 'builder', ['x'], ['pull'])],
  ])('never removes %s', (_name, account) => {
    const t = target('team-a', []);
    expect(plan([t], observed([structuredClone(t.secret!)], { 'team-a': [account] }), 'Delete')).toEqual(EMPTY);
  });

  it('touches no ServiceAccount and no Secret of a namespace in conflict', () => {
    const conflict: NamespaceTarget = { namespace: 'team-a', serviceAccounts: [], conflict: 'taken' };
    const sas = { 'team-a': [sa('team-a', 'default')] };
    expect(plan([conflict], observed([], sas), 'Delete')).toEqual(EMPTY);
  });

  it('removes our entries and deletes a stale managed Secret under Delete', () => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    const sas = {
      'team-b': [sa('team-b', 'default', ['pull'], ['pull']), sa('team-b', 'foreign', ['pull']), sa('team-b', 'bare')],
    };
    expect(plan([], observed([stale], sas), 'Delete')).toEqual({
      removals: [{ kind: 'removeEntry', namespace: 'team-b', serviceAccount: 'default', secretName: 'pull' }],
      writes: [],
      deletions: [{ kind: 'deleteSecret', namespace: 'team-b', observed: stale }],
    });
  });

  it('leaves a stale managed Secret and its entries alone under Retain', () => {
    const stale = desiredSecret(credential('rc'), 'team-b', rendered);
    const sas = { 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan([], observed([stale], sas), 'Retain')).toEqual(EMPTY);
  });

  it('deletes the Secret of an old secretName next to the new one', () => {
    const t = target('team-a', ['default']);
    const old: Secret = { ...structuredClone(t.secret!), metadata: { ...structuredClone(t.secret!.metadata), name: 'old-pull' } };
    const sas = { 'team-a': [sa('team-a', 'default', ['old-pull'], ['old-pull'])] };
    expect(plan([t], observed([old], sas), 'Delete')).toEqual({
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
    expect(plan([], observed([stale], sas, namespaces), 'Delete')).toEqual(EMPTY);
  });

  it('plans nothing at all for a desired state already in place', () => {
    const targets = desiredState(inputs({}, { 'team-a': [sa('team-a', 'default', ['pull'], ['pull'])], 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] }));
    const managed = targets.map((t) => structuredClone(t.secret!));
    const sas = { 'team-a': [sa('team-a', 'default', ['pull'], ['pull'])], 'team-b': [sa('team-b', 'default', ['pull'], ['pull'])] };
    expect(plan(targets, observed(managed, sas), 'Delete')).toEqual(EMPTY);
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
  ])('%s → %s', (_name, mutate, expected) => {
    const have = structuredClone(want);
    mutate(have);
    expect(secretDiffers(have, want)).toBe(expected);
  });
});
