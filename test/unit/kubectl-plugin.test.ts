// kubectl-regcred's pure parts: why a namespace has or lacks a Secret, the status table, argument
// parsing and shell completion.
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CREDENTIAL_LABEL, IGNORE_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, OWNER_UID_ANNOTATION, SA_ENTRIES_ANNOTATION } from '../../src/api/labels.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { parseInvocation, parseDuration, UsageError, type Command } from '../../src/cli/args.ts';
import { completionRequest, connectionFromWords, formatCompletions } from '../../src/cli/completion.ts';
import { explainNamespace, renderExplanation, type ExplainInput, type NamespaceRule } from '../../src/cli/explain.ts';
import { age, formatTable, toYaml } from '../../src/cli/format.ts';
import { formatStatusTable, renderStatus, statusRow } from '../../src/cli/status.ts';

const REGISTRY = { server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } };
const UID = 'uid-pull';

function credential(spec: Record<string, unknown> = {}, extra: Partial<RegistryCredential> = {}, name = 'pull'): RegistryCredential {
  return { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', metadata: { name, uid: name === 'pull' ? UID : `uid-${name}` }, spec: { registries: [REGISTRY], secretName: 'regcred', ...spec } as RegistryCredential['spec'], ...extra };
}

function namespace(name: string, labels: Record<string, string> = {}, terminating = false): Namespace {
  return { metadata: { name, labels, ...(terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}) }, ...(terminating ? { status: { phase: 'Terminating' } } : {}) };
}

function serviceAccount(name: string, opts: { labels?: Record<string, string>; entries?: string[]; ours?: string[] } = {}): ServiceAccount {
  return {
    metadata: { name, namespace: 'team-a', ...(opts.labels ? { labels: opts.labels } : {}), ...(opts.ours ? { annotations: { [SA_ENTRIES_ANNOTATION]: opts.ours.join(',') } } : {}) },
    ...(opts.entries ? { imagePullSecrets: opts.entries.map((n) => ({ name: n })) } : {}),
  };
}

const ownerRef = (name: string, uid: string) => ({ apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', name, uid, controller: true });
const managedLabels = (credentialName: string) => ({ [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: credentialName });

const SECRETS = {
  oursDelete: { metadata: { name: 'regcred', namespace: 'team-a', labels: managedLabels('pull'), ownerReferences: [ownerRef('pull', UID)] } },
  oursRetain: { metadata: { name: 'regcred', namespace: 'team-a', labels: managedLabels('pull'), annotations: { [OWNER_UID_ANNOTATION]: UID } } },
  rival: { metadata: { name: 'regcred', namespace: 'team-a', labels: managedLabels('other'), ownerReferences: [ownerRef('other', 'uid-other')] } },
  // Our labels copied, owner mark of a credential of that name that no longer exists.
  unowned: { metadata: { name: 'regcred', namespace: 'team-a', labels: managedLabels('pull'), ownerReferences: [ownerRef('pull', 'uid-deleted')] } },
  foreign: { metadata: { name: 'regcred', namespace: 'team-a', labels: { [MANAGED_BY_LABEL]: 'helm' } } },
} satisfies Record<string, Secret>;

function input(overrides: Partial<ExplainInput> = {}): ExplainInput {
  const uids: Record<string, string> = { pull: UID, other: 'uid-other' };
  return {
    credential: credential({ namespaces: { include: ['team-*', 'regcred-system'] } }),
    namespaceName: overrides.namespace?.metadata.name ?? 'team-a',
    namespace: namespace('team-a', { tier: 'gold' }),
    credentialsNamespace: 'regcred-system',
    secret: undefined,
    serviceAccounts: [serviceAccount('default')],
    credentialUid: (n) => uids[n],
    ...overrides,
  };
}

describe('explainNamespace: the rule that decided', () => {
  const rules: Array<[string, Partial<ExplainInput>, NamespaceRule, boolean]> = [
    ['every rule passes', {}, { rule: 'selected' }, true],
    ['no rules at all select every namespace', { credential: credential() }, { rule: 'selected' }, true],
    ['the namespace does not exist', { namespace: undefined, namespaceName: 'gone' }, { rule: 'namespaceMissing' }, false],
    ['an invalid spec selects nothing', { credential: credential({ registries: [] }) }, { rule: 'invalidSpec', message: expect.stringContaining('spec.registries') as unknown as string }, false],
    ['a terminating namespace', { namespace: namespace('team-a', { tier: 'gold' }, true) }, { rule: 'terminating' }, false],
    ['the opt-out label', { namespace: namespace('team-a', { [IGNORE_LABEL]: 'true' }) }, { rule: 'optOut', label: `${IGNORE_LABEL}=true` }, false],
    ['an exclude glob', { credential: credential({ namespaces: { exclude: ['team-*'] } }) }, { rule: 'excluded', glob: 'team-*' }, false],
    ['the default exclude list', { namespace: namespace('kube-system'), credential: credential() }, { rule: 'excluded', glob: 'kube-system' }, false],
    ['no include glob matches', { namespace: namespace('sandbox-1'), credential: credential({ namespaces: { include: ['team-*', 'prod'] } }) }, { rule: 'notIncluded', include: ['team-*', 'prod'] }, false],
    [
      'matchLabels: a wrong value and a missing label',
      { credential: credential({ namespaces: { selector: { matchLabels: { tier: 'silver', env: 'prod' } } } }) },
      { rule: 'selectorMismatch', mismatches: [{ requirement: 'tier=silver', key: 'tier', actual: 'gold' }, { requirement: 'env=prod', key: 'env', actual: undefined }] },
      false,
    ],
    [
      'matchExpressions: only the failing requirement is named',
      { credential: credential({ namespaces: { selector: { matchExpressions: [{ key: 'tier', operator: 'Exists' }, { key: 'tier', operator: 'NotIn', values: ['gold', 'bronze'] }] } } }) },
      { rule: 'selectorMismatch', mismatches: [{ requirement: 'tier NotIn (gold, bronze)', key: 'tier', actual: 'gold' }] },
      false,
    ],
    [
      'the credentials namespace, matched by a glob only',
      { namespace: namespace('regcred-system'), credential: credential({ namespaces: { include: ['regcred-*'] } }) },
      { rule: 'credentialsNamespace', namespace: 'regcred-system' },
      false,
    ],
    ['the credentials namespace named in include', { namespace: namespace('regcred-system') }, { rule: 'selected' }, true],
    ['the opt-out label comes before exclude', { namespace: namespace('team-a', { [IGNORE_LABEL]: 'true' }), credential: credential({ namespaces: { exclude: ['team-*'] } }) }, { rule: 'optOut', label: `${IGNORE_LABEL}=true` }, false],
  ];

  it.each(rules)('%s', (_name, overrides, rule, selected) => {
    const namespaceName = overrides.namespaceName ?? overrides.namespace?.metadata.name ?? 'team-a';
    const e = explainNamespace(input({ ...overrides, namespaceName }));
    expect(e.rule).toEqual(rule);
    expect(e.selected).toBe(selected);
    expect(e.namespace).toBe(namespaceName);
  });

  it('says which labels are involved in a selector mismatch', () => {
    const e = explainNamespace(input({ credential: credential({ namespaces: { selector: { matchLabels: { tier: 'silver', env: 'prod' } } } }) }));
    expect(renderExplanation(e)).toContain('tier=silver required, the namespace has tier=gold; env=prod required, the namespace has no label env');
  });
});

describe('explainNamespace: what is there', () => {
  it.each<[string, Secret | undefined, string, RegExp]>([
    ['absent', undefined, 'absent', /not written yet/],
    ['ours under Delete (ownerReference)', SECRETS.oursDelete, 'ours', /^has the Secret and every selected ServiceAccount lists it$/],
    ['ours under Retain (owner annotation)', SECRETS.oursRetain, 'ours', /^has the Secret/],
    ['held by a rival with the same secretName', SECRETS.rival, 'rival', /RegistryCredential other holds regcred here/],
    ['our labels without an owner mark of an existing credential', SECRETS.unowned, 'unowned', /SecretConflict/],
    ['made by someone else', SECRETS.foreign, 'foreign', /SecretConflict/],
  ])('a selected namespace whose Secret is %s', (_name, secret, state, verdict) => {
    const e = explainNamespace(input({ secret, serviceAccounts: [serviceAccount('default', { entries: ['regcred'], ours: ['regcred'] })] }));
    expect(e.secret.state).toBe(state);
    expect(e.verdict).toMatch(verdict);
  });

  it('names the foreign manager and the unowned Secret\'s owner UID', () => {
    expect(renderExplanation(explainNamespace(input({ secret: SECRETS.foreign })))).toContain('not managed by regcred-operator (managed by helm): a conflict');
    expect(explainNamespace(input({ secret: SECRETS.unowned })).secret).toEqual({ state: 'unowned', claims: 'pull', ownerUid: 'uid-deleted' });
  });

  it('explains a missing Secret by the namespace\'s failure, else by the credential not being ready', () => {
    const failure = { namespace: 'team-a', reason: 'WriteFailed', message: 'secrets "regcred" is forbidden' };
    const failed = explainNamespace(input({ credential: credential({ namespaces: { include: ['team-*'] } }, { status: { failures: [failure] } }) }));
    expect(failed.failure).toEqual(failure);
    expect(failed.verdict).toBe('lacks the Secret: WriteFailed: secrets "regcred" is forbidden');
    const ready = { type: 'Ready', status: 'False' as const, reason: 'SourceNotFound', message: 'Secret src not found', lastTransitionTime: '2026-01-01T00:00:00Z' };
    const notReady = explainNamespace(input({ credential: credential({}, { status: { conditions: [ready] } }) }));
    expect(notReady.verdict).toBe('lacks the Secret: the credential is not ready (SourceNotFound: Secret src not found)');
  });

  it.each<[string, 'Delete' | 'Retain', RegExp]>([
    ['Delete', 'Delete', /the operator removes it/],
    ['Retain', 'Retain', /Retain leaves it/],
  ])('a Secret of ours in a namespace no longer selected, under %s', (_n, deletionPolicy, verdict) => {
    const e = explainNamespace(input({ credential: credential({ deletionPolicy, namespaces: { exclude: ['team-*'] } }), secret: SECRETS.oursDelete }));
    expect(e.selected).toBe(false);
    expect(e.verdict).toMatch(verdict);
  });

  it('lists each selected ServiceAccount, named ones that are missing or opted out, and entries the operator added', () => {
    const e = explainNamespace(input({
      credential: credential({ namespaces: {}, serviceAccounts: { names: ['default', 'builder', 'quiet'], selector: { matchLabels: { pulls: 'private' } } } }),
      secret: SECRETS.oursDelete,
      serviceAccounts: [
        serviceAccount('default', { entries: ['other', 'regcred'], ours: ['regcred'] }),
        serviceAccount('puller', { labels: { pulls: 'private' } }),
        serviceAccount('quiet', { labels: { [IGNORE_LABEL]: 'true' } }),
        serviceAccount('unrelated'),
        serviceAccount('left-over', { entries: ['regcred'], ours: ['regcred'] }),
        serviceAccount('hand-made', { entries: ['regcred'] }),
      ],
    }));
    expect(e.serviceAccounts).toEqual([
      { name: 'default', selected: true, reason: 'name', entry: true, addedByOperator: true },
      { name: 'left-over', selected: false, reason: 'notSelected', entry: true, addedByOperator: true },
      { name: 'puller', selected: true, reason: 'selector', entry: false, addedByOperator: false },
      { name: 'quiet', selected: false, reason: 'optOut', entry: false, addedByOperator: false },
      { name: 'builder', selected: false, reason: 'missing', entry: false, addedByOperator: false },
    ]);
    expect(e.verdict).toBe('has the Secret; entries not yet in puller');
    const text = renderExplanation(e);
    expect(text).toContain('ServiceAccount puller: selected (matches spec.serviceAccounts.selector), does not list regcred');
    expect(text).toContain('ServiceAccount quiet: not selected (opts out with the label regcred.dev/ignore=true)');
    expect(text).toContain('ServiceAccount builder: named in spec.serviceAccounts.names but does not exist');
  });

  it('in a namespace not selected, lists only the ServiceAccounts that list the Secret', () => {
    const e = explainNamespace(input({
      credential: credential({ namespaces: { include: ['ci-*'] } }),
      secret: SECRETS.rival,
      serviceAccounts: [serviceAccount('default', { entries: ['regcred'], ours: ['regcred'] }), serviceAccount('builder')],
    }));
    expect(e.serviceAccounts).toEqual([{ name: 'default', selected: false, reason: 'namespaceNotSelected', entry: true, addedByOperator: true }]);
    expect(e.verdict).toBe("not selected here; the Secret regcred in place is not this credential's");
    const absent = explainNamespace(input({ credential: credential({ namespaces: { include: ['ci-*'] } }) }));
    expect(absent.serviceAccounts).toEqual([]);
    expect(absent.verdict).toBe('lacks the Secret: the namespace is not selected');
    expect(renderExplanation(absent)).toBe([
      'RegistryCredential pull (Secret regcred): lacks the Secret: the namespace is not selected',
      '  namespace team-a: not selected: the name matches no glob of spec.namespaces.include ("ci-*")',
      '  Secret regcred: absent',
      '',
    ].join('\n'));
  });

  it('"*" selects every ServiceAccount not opted out', () => {
    const e = explainNamespace(input({ credential: credential({ serviceAccounts: { names: ['*'] } }), serviceAccounts: [serviceAccount('a'), serviceAccount('b', { labels: { [IGNORE_LABEL]: 'true' } })] }));
    expect(e.serviceAccounts).toEqual([{ name: 'a', selected: true, reason: 'wildcard', entry: false, addedByOperator: false }]);
  });

  it('lists no ServiceAccounts when the namespace does not exist', () => {
    const e = explainNamespace(input({ namespace: undefined, namespaceName: 'gone' }));
    expect(e.serviceAccounts).toEqual([]);
    expect(e.verdict).toBe('lacks the Secret: the namespace does not exist');
  });
});

const NOW = new Date('2026-03-01T12:00:00Z');

function withStatus(name: string, status: RegistryCredential['status'], spec: Record<string, unknown> = {}): RegistryCredential {
  return credential(spec, { status, metadata: { name, uid: `uid-${name}`, creationTimestamp: '2026-02-27T12:00:00Z' } }, name);
}

const cond = (type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = '') => ({ type, status, reason, message, lastTransitionTime: '2026-03-01T00:00:00Z' });

describe('status table', () => {
  const synced = withStatus('private-registry', {
    conditions: [cond('Ready', 'True', 'Synced', '40 of 40 matched namespaces synced'), cond('CredentialsValid', 'True', 'Valid')],
    namespaces: { matched: 40, synced: 40, failed: 0 },
    serviceAccounts: { patched: 41 },
    failures: [],
    lastRotationTime: '2026-03-01T11:55:00Z',
    lastSyncTime: '2026-03-01T11:59:30Z',
  });
  const conflicted = withStatus('ghcr', {
    conditions: [cond('Ready', 'False', 'PartiallySynced', '2 of 3 matched namespaces failed (see status.failures)')],
    namespaces: { matched: 3, synced: 1, failed: 2 },
    failures: [
      { namespace: 'a', reason: 'SecretConflict', message: 'x' },
      { namespace: 'b', reason: 'WriteFailed', message: 'y' },
    ],
  });
  const truncated = withStatus('big', {
    namespaces: { matched: 100, synced: 70, failed: 30 },
    failures: Array.from({ length: 20 }, (_, i) => ({ namespace: `n${i}`, reason: 'SecretConflict', message: 'x' })),
  }, { suspend: true });

  it('summarises a credential from its status', () => {
    expect(statusRow(conflicted)).toMatchObject({ name: 'ghcr', ready: { status: 'False', reason: 'PartiallySynced' }, matched: 3, synced: 1, conflicts: 1, conflictsTruncated: false, suspended: false });
    expect(statusRow(truncated)).toMatchObject({ conflicts: 20, conflictsTruncated: true, suspended: true });
    expect(statusRow(withStatus('new', undefined))).toMatchObject({ matched: 0, synced: 0, conflicts: 0, conflictsTruncated: false, secretName: 'regcred' });
  });

  it('prints the columns kubectl-style, SUSPENDED only when a credential is suspended', () => {
    expect(formatStatusTable([statusRow(synced), statusRow(conflicted)], NOW)).toBe(
      [
        'NAME               READY                   SYNCED/MATCHED   CONFLICTS   LAST ROTATION   VALIDATION',
        'private-registry   True/Synced             40/40            0           5m              True/Valid',
        'ghcr               False/PartiallySynced   1/3              1           <none>          -',
        '',
      ].join('\n'),
    );
    const withSuspended = formatStatusTable([statusRow(truncated)], NOW).split('\n');
    expect(withSuspended[0]).toMatch(/VALIDATION {3}SUSPENDED$/);
    expect(withSuspended[1]!.split(/ {3,}/)).toEqual(['big', '-', '70/100', '20+', '<none>', '-', 'true']);
  });

  it('-o wide adds the Secret, ServiceAccounts, last sync, age and message', () => {
    const [header, row] = formatStatusTable([statusRow(synced)], NOW, true).split('\n');
    expect(header!.split(/ {3,}/)).toEqual(['NAME', 'READY', 'SYNCED/MATCHED', 'CONFLICTS', 'LAST ROTATION', 'VALIDATION', 'SUSPENDED', 'SECRET', 'SA PATCHED', 'LAST SYNC', 'AGE', 'MESSAGE']);
    expect(row!.split(/ {3,}/)).toEqual(['private-registry', 'True/Synced', '40/40', '0', '5m', 'True/Valid', 'false', 'regcred', '41', '30s', '2d', '40 of 40 matched namespaces synced']);
  });

  it('-o json and -o yaml carry the same rows', () => {
    const rows = [statusRow(synced), statusRow(conflicted)];
    expect(JSON.parse(renderStatus(rows, 'json', NOW))).toEqual({ items: rows });
    expect(parseYaml(renderStatus(rows, 'yaml', NOW))).toEqual({ items: rows });
  });
});

describe('format', () => {
  it.each<[number, string]>([
    [0, '0s'], [59, '59s'], [119, '119s'], [120, '2m'], [200, '3m20s'], [600, '10m'], [179 * 60, '179m'],
    [3 * 3600, '3h'], [5 * 3600 + 12 * 60, '5h12m'], [30 * 3600, '30h'], [3 * 86400 + 4 * 3600, '3d4h'], [12 * 86400, '12d'],
  ])('age of %i seconds is %s', (seconds, expected) => {
    expect(age(new Date(NOW.getTime() - seconds * 1000).toISOString(), NOW)).toBe(expected);
  });

  it('age of nothing, of garbage and of the future', () => {
    expect(age(undefined, NOW)).toBe('<none>');
    expect(age('yesterday', NOW)).toBe('<invalid>');
    expect(age('2026-03-02T00:00:00Z', NOW)).toBe('0s');
  });

  it('toYaml round-trips strings YAML would otherwise read differently', () => {
    const value = {
      plain: 'team-a', colon: 'a: b', bool: 'true', no: 'no', num: '0123', empty: '', star: '*', hash: '#x', multi: 'a\nb',
      nested: { list: [1, 'x', { a: [], b: {} }, [true, null]], deep: { k: 'v' } }, emptyList: [], emptyObject: {},
    };
    expect(parseYaml(toYaml(value))).toEqual(value);
  });

  it('formatTable pads every column but the last', () => {
    expect(formatTable(['A', 'BB'], [['long', 'x'], ['s', 'yy']])).toBe('A      BB\nlong   x\ns      yy\n');
  });
});

describe('argument parsing', () => {
  const ok: Array<[string[], Command, Record<string, string>?]> = [
    [[], { kind: 'help' }],
    [['--help'], { kind: 'help' }],
    [['help', 'why'], { kind: 'help', topic: 'why' }],
    [['status', '-h'], { kind: 'help', topic: 'status' }],
    [['status'], { kind: 'status', output: 'table' }],
    [['status', 'x', '-o', 'wide'], { kind: 'status', name: 'x', output: 'wide' }],
    [['status', '-ojson', '--kubeconfig', '/k', '--context', 'c'], { kind: 'status', output: 'json' }, { kubeconfig: '/k', context: 'c' }],
    [['--kubeconfig=/k', 'status', '--output=yaml'], { kind: 'status', output: 'yaml' }, { kubeconfig: '/k' }],
    [['why', 'team-a'], { kind: 'why', namespace: 'team-a', credentialsNamespace: 'regcred-system', output: 'text' }],
    [['why', 'team-a', '--credential', 'pull', '--credentials-namespace', 'ops', '-o', 'json'], { kind: 'why', namespace: 'team-a', credential: 'pull', credentialsNamespace: 'ops', output: 'json' }],
    [['reconcile', 'pull'], { kind: 'reconcile', name: 'pull', wait: false, timeoutMs: 60_000 }],
    [['reconcile', 'pull', '--wait'], { kind: 'reconcile', name: 'pull', wait: true, timeoutMs: 60_000 }],
    [['reconcile', '--wait', '--timeout', '1m30s', 'pull'], { kind: 'reconcile', name: 'pull', wait: true, timeoutMs: 90_000 }],
    [['completion', 'zsh'], { kind: 'completion', shell: 'zsh' }],
    [['__complete', 'status', '--bogus', ''], { kind: 'complete', words: ['status', '--bogus', ''] }],
  ];
  it.each(ok)('%j', (argv, command, connection = {}) => {
    expect(parseInvocation(argv)).toEqual({ command, connection });
  });

  const bad: Array<[string[], string]> = [
    [['frobnicate'], 'unknown command "frobnicate"'],
    [['help', 'frobnicate'], 'unknown command "frobnicate"'],
    [['status', '--bogus'], 'unknown flag --bogus'],
    [['status', '-x'], 'unknown flag -x'],
    [['status', '-o'], 'flag --output needs a value'],
    [['status', '-o', 'table'], '-o must be one of json, yaml, wide, got "table"'],
    [['status', 'a', 'b'], '"status" takes at most one RegistryCredential name, got extra argument "b"'],
    [['status', '--wait'], 'flag --wait does not apply to "status"'],
    [['why'], '"why" needs a namespace'],
    [['why', 'a', '-o', 'wide'], '-o must be one of json, yaml, got "wide"'],
    [['reconcile'], '"reconcile" needs a RegistryCredential name'],
    [['reconcile', 'x', '--timeout', '5s'], '--timeout needs --wait'],
    [['reconcile', 'x', '--wait', '--timeout', 'soon'], '--timeout must be a duration such as 30s or 2m, got "soon"'],
    [['reconcile', 'x', '--wait=yes'], 'flag --wait takes no value'],
    [['completion', 'fish'], 'the shell must be one of bash, zsh, got "fish"'],
    [['completion'], '"completion" needs a shell: bash or zsh'],
  ];
  it.each(bad)('%j fails with: %s', (argv, message) => {
    let error: unknown;
    try {
      parseInvocation(argv);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toBe(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it.each<[string, number | undefined]>([['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['1h', 3_600_000], ['1m30s', 90_000], ['30', undefined], ['', undefined], ['m', undefined]])(
    'parseDuration(%j) is %s',
    (text, ms) => expect(parseDuration(text)).toBe(ms),
  );
});

describe('completion', () => {
  it.each<[string[], ReturnType<typeof completionRequest>]>([
    [[''], { kind: 'words', words: ['status', 'why', 'reconcile', 'completion', 'help'], directive: 4 }],
    [['st'], { kind: 'words', words: ['status', 'why', 'reconcile', 'completion', 'help'], directive: 4 }],
    [['status', ''], { kind: 'credentials', directive: 4 }],
    [['status', 'pull', ''], { kind: 'words', words: [], directive: 4 }],
    [['reconcile', ''], { kind: 'credentials', directive: 4 }],
    [['why', ''], { kind: 'namespaces', directive: 4 }],
    [['why', 'team-a', '--credential', ''], { kind: 'credentials', directive: 4 }],
    [['why', '--credentials-namespace', ''], { kind: 'namespaces', directive: 4 }],
    [['status', '-o', ''], { kind: 'words', words: ['json', 'yaml', 'wide'], directive: 4 }],
    [['why', 'a', '-o', ''], { kind: 'words', words: ['json', 'yaml'], directive: 4 }],
    [['--kubeconfig', ''], { kind: 'files', directive: 0 }],
    [['--context', ''], { kind: 'contexts', directive: 4 }],
    [['--kubeconfig', '/k', 'status', ''], { kind: 'credentials', directive: 4 }],
    [['completion', ''], { kind: 'words', words: ['bash', 'zsh'], directive: 4 }],
    [['reconcile', '--'], { kind: 'words', words: ['--kubeconfig', '--context', '--help', '--wait', '--timeout'], directive: 4 }],
  ])('%j', (words, expected) => {
    expect(completionRequest(words)).toEqual(expected);
  });

  it('prints the candidates that match the word, then the directive', () => {
    expect(formatCompletions(['status', 'why', 'stop'], 'st', 4)).toBe('status\nstop\n:4\n');
    expect(formatCompletions([], '', 0)).toBe(':0\n');
  });

  it('finds --kubeconfig and --context among the words, never in the word being completed', () => {
    expect(connectionFromWords(['--kubeconfig', '/k', '--context=c', 'status', ''])).toEqual({ kubeconfig: '/k', context: 'c' });
    expect(connectionFromWords(['--kubeconfig', ''])).toEqual({});
  });
});
