import { describe, expect, it } from 'vitest';
import { IGNORE_LABEL } from '../../src/api/labels.ts';
import { resolveSpec, type ResolvedSpec } from '../../src/api/schema.ts';
import {
  MIRROR_POD_ANNOTATION,
  podInjection,
  podServiceAccountName,
  type InjectionDecision,
  type InjectionInputs,
  type PodLike,
} from '../../src/controller/injection.ts';
import type { Namespace, ServiceAccount } from '../../src/kube/objects.ts';

const REGISTRY = { server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } };

function credential(name: string, extra: Record<string, unknown> = {}): { name: string; spec: ResolvedSpec } {
  const r = resolveSpec(name, { registries: [REGISTRY], ...extra });
  if (!r.ok) throw new Error(r.message);
  return { name, spec: r.spec };
}

function ns(name: string, labels?: Record<string, string>, extra: { deletionTimestamp?: string; phase?: string } = {}): Namespace {
  return {
    metadata: { name, ...(labels ? { labels } : {}), ...(extra.deletionTimestamp ? { deletionTimestamp: extra.deletionTimestamp } : {}) },
    ...(extra.phase ? { status: { phase: extra.phase } } : {}),
  };
}

function sa(name: string, labels?: Record<string, string>, namespace = 'team-a'): ServiceAccount {
  return { metadata: { name, namespace, ...(labels ? { labels } : {}) } };
}

function pod(spec: PodLike['spec'] = {}, metadata: PodLike['metadata'] = {}): PodLike {
  return { metadata: { generateName: 'web-', namespace: 'team-a', ...metadata }, spec: { ...spec } };
}

const RC = credential('regcred');
const FULL = (...names: string[]) => [{ op: 'add', path: '/spec/imagePullSecrets', value: names.map((name) => ({ name })) }];
const APPEND = (...names: string[]) => names.map((name) => ({ op: 'add', path: '/spec/imagePullSecrets/-', value: { name } }));
const added = (patch: unknown[], ...names: string[]): InjectionDecision => ({ patch: patch as InjectionDecision['patch'], added: names });
const skipped = (skipped: InjectionDecision['skipped']): InjectionDecision => ({ patch: [], added: [], skipped });

describe('podInjection', () => {
  const TEAM_A = ns('team-a');
  const BY_LABEL = credential('labelled', { secretName: 'labelled', serviceAccounts: { names: [], selector: { matchLabels: { pulls: 'yes' } } } });
  const NAMES_AND_LABEL = credential('both', { secretName: 'both', serviceAccounts: { names: ['builder'], selector: { matchLabels: { pulls: 'yes' } } } });

  it.each<[string, Partial<InjectionInputs>, InjectionDecision]>([
    ['default ServiceAccount, SA not known', { pod: pod() }, added(FULL('regcred'), 'regcred')],
    ['default ServiceAccount, SA known', { pod: pod(), serviceAccount: sa('default') }, added(FULL('regcred'), 'regcred')],
    ['a named ServiceAccount the default selection does not take', { pod: pod({ serviceAccountName: 'builder' }) }, skipped('NotSelected')],
    ['a named ServiceAccount listed by name', { pod: pod({ serviceAccountName: 'builder' }), credentials: [credential('rc', { serviceAccounts: { names: ['builder'] } })] }, added(FULL('rc'), 'rc')],
    ['the deprecated spec.serviceAccount', { pod: pod({ serviceAccount: 'builder' }), credentials: [credential('rc', { serviceAccounts: { names: ['builder'] } })] }, added(FULL('rc'), 'rc')],
    ['"*" takes any ServiceAccount unseen', { pod: pod({ serviceAccountName: 'anything' }), credentials: [credential('rc', { serviceAccounts: { names: ['*'] } })] }, added(FULL('rc'), 'rc')],
    ['a known ServiceAccount that opted out', { pod: pod(), serviceAccount: sa('default', { [IGNORE_LABEL]: 'true' }) }, skipped('NotSelected')],
    ['a known ServiceAccount being deleted', { pod: pod(), serviceAccount: { metadata: { name: 'default', deletionTimestamp: '2024-01-01T00:00:00Z' } } }, skipped('NotSelected')],
    ['selector, ServiceAccount known and matching', { pod: pod({ serviceAccountName: 'ci' }), serviceAccount: sa('ci', { pulls: 'yes' }), credentials: [BY_LABEL] }, added(FULL('labelled'), 'labelled')],
    ['selector, ServiceAccount known and not matching', { pod: pod({ serviceAccountName: 'ci' }), serviceAccount: sa('ci', { pulls: 'no' }), credentials: [BY_LABEL] }, skipped('NotSelected')],
    ['selector, ServiceAccount unknown', { pod: pod({ serviceAccountName: 'ci' }), credentials: [BY_LABEL] }, skipped('ServiceAccountUnknown')],
    ['selector, ServiceAccount unknown but listed by name too', { pod: pod({ serviceAccountName: 'builder' }), credentials: [NAMES_AND_LABEL] }, added(FULL('both'), 'both')],
    ['a ServiceAccount object of another name counts as unknown', { pod: pod({ serviceAccountName: 'ci' }), serviceAccount: sa('other', { pulls: 'yes' }), credentials: [BY_LABEL] }, skipped('ServiceAccountUnknown')],
    ['unknown ServiceAccount for one credential, another adds', { pod: pod({ serviceAccountName: 'ci' }), credentials: [BY_LABEL, credential('rc', { serviceAccounts: { names: ['*'] } })] }, added(FULL('rc'), 'rc')],
    ['namespace excluded by name', { namespace: ns('team-a'), credentials: [credential('rc', { namespaces: { exclude: ['team-*'] } })] }, skipped('NotSelected')],
    ['namespace not included', { credentials: [credential('rc', { namespaces: { include: ['prod-*'] } })] }, skipped('NotSelected')],
    ['namespace not matching the selector', { credentials: [credential('rc', { namespaces: { selector: { matchLabels: { env: 'prod' } } } })] }, skipped('NotSelected')],
    ['namespace matching the selector', { namespace: ns('team-a', { env: 'prod' }), credentials: [credential('rc', { namespaces: { selector: { matchLabels: { env: 'prod' } } } })] }, added(FULL('rc'), 'rc')],
    ['namespace opted out', { namespace: ns('team-a', { [IGNORE_LABEL]: 'true' }) }, skipped('NotSelected')],
    ['namespace terminating (phase)', { namespace: ns('team-a', undefined, { phase: 'Terminating' }) }, skipped('NotSelected')],
    ['namespace being deleted', { namespace: ns('team-a', undefined, { deletionTimestamp: '2024-01-01T00:00:00Z' }) }, skipped('NotSelected')],
    ['namespace unknown', { namespace: undefined }, skipped('NamespaceUnknown')],
    ['namespace object of another namespace', { namespace: ns('team-b') }, skipped('NamespaceUnknown')],
    ['kube-system is excluded by default', { pod: pod({}, { namespace: 'kube-system' }), namespace: ns('kube-system') }, skipped('NotSelected')],
    ['kube-system when the exclusions are cleared', { pod: pod({}, { namespace: 'kube-system' }), namespace: ns('kube-system'), credentials: [credential('rc', { namespaces: { exclude: [] } })] }, added(FULL('rc'), 'rc')],
    ['a pod without metadata.namespace takes the namespace given', { pod: { spec: {} } }, added(FULL('regcred'), 'regcred')],
    ['entry already present', { pod: pod({ imagePullSecrets: [{ name: 'other' }, { name: 'regcred' }] }) }, skipped('AlreadyPresent')],
    ['empty list', { pod: pod({ imagePullSecrets: [] }) }, added(FULL('regcred'), 'regcred')],
    ['absent list', { pod: pod({}) }, added(FULL('regcred'), 'regcred')],
    ['other entries kept, ours appended', { pod: pod({ imagePullSecrets: [{ name: 'other' }, {}] }) }, added(APPEND('regcred'), 'regcred')],
    ['no spec at all', { pod: { metadata: { namespace: 'team-a' } } }, added([{ op: 'add', path: '/spec', value: { imagePullSecrets: [{ name: 'regcred' }] } }], 'regcred')],
    ['two credentials, different secret names, sorted', { credentials: [credential('zeta'), credential('alpha')] }, added(FULL('alpha', 'zeta'), 'alpha', 'zeta')],
    ['two credentials, different secret names, appended one by one', { pod: pod({ imagePullSecrets: [{ name: 'other' }] }), credentials: [credential('zeta'), credential('alpha')] }, added(APPEND('alpha', 'zeta'), 'alpha', 'zeta')],
    ['two credentials, one already present', { pod: pod({ imagePullSecrets: [{ name: 'zeta' }] }), credentials: [credential('zeta'), credential('alpha')] }, added(APPEND('alpha'), 'alpha')],
    ['two credentials, same secret name', { credentials: [credential('a', { secretName: 'shared' }), credential('b', { secretName: 'shared' })] }, added(FULL('shared'), 'shared')],
    ['no credentials', { credentials: [] }, skipped('NotSelected')],
    ['mirror pod', { pod: pod({}, { annotations: { [MIRROR_POD_ANNOTATION]: 'abc' } }) }, skipped('MirrorPod')],
    ['mirror pod with an empty annotation', { pod: pod({}, { annotations: { [MIRROR_POD_ANNOTATION]: '' } }) }, skipped('MirrorPod')],
    ['mirror pod in an unknown namespace', { pod: pod({}, { annotations: { [MIRROR_POD_ANNOTATION]: 'abc' } }), namespace: undefined }, skipped('MirrorPod')],
  ])('%s', (_name, over, expected) => {
    const inputs: InjectionInputs = { pod: pod(), namespace: TEAM_A, serviceAccount: undefined, credentials: [RC], ...over };
    expect(podInjection(inputs)).toEqual(expected);
  });

  it('does not change its inputs', () => {
    const input = pod({ imagePullSecrets: [{ name: 'other' }] });
    const before = structuredClone(input);
    const result = podInjection({ pod: input, namespace: TEAM_A, serviceAccount: undefined, credentials: [RC] });
    expect(result.added).toEqual(['regcred']);
    expect(input).toEqual(before);
  });

  it('gives the same answer whatever the order of the credentials', () => {
    const creds = [credential('c'), credential('a', { secretName: 'shared' }), credential('b', { secretName: 'shared' }), credential('d')];
    const forward = podInjection({ pod: pod(), namespace: TEAM_A, serviceAccount: undefined, credentials: creds });
    const backward = podInjection({ pod: pod(), namespace: TEAM_A, serviceAccount: undefined, credentials: [...creds].reverse() });
    expect(forward).toEqual(backward);
    expect(forward.added).toEqual(['c', 'd', 'shared']);
  });
});

describe('podServiceAccountName', () => {
  it.each<[string, PodLike, string]>([
    ['no spec', {}, 'default'],
    ['no name', { spec: {} }, 'default'],
    ['empty name', { spec: { serviceAccountName: '' } }, 'default'],
    ['serviceAccountName', { spec: { serviceAccountName: 'ci', serviceAccount: 'old' } }, 'ci'],
    ['deprecated serviceAccount', { spec: { serviceAccount: 'old' } }, 'old'],
  ])('%s', (_name, p, expected) => {
    expect(podServiceAccountName(p)).toBe(expected);
  });
});
