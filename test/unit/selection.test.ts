import { describe, expect, it } from 'vitest';
import { IGNORE_LABEL } from '../../src/api/labels.ts';
import { resolveSpec, type LabelSelector, type ResolvedSpec } from '../../src/api/schema.ts';
import {
  globMatch,
  matchesLabelSelector,
  namespaceRulesMatch,
  namespaceSelected,
  serviceAccountSelected,
} from '../../src/controller/selection.ts';
import type { Namespace, ServiceAccount } from '../../src/kube/objects.ts';

const REGISTRY = { server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } };

function spec(extra: Record<string, unknown> = {}): ResolvedSpec {
  const r = resolveSpec('rc', { registries: [REGISTRY], ...extra });
  if (!r.ok) throw new Error(r.message);
  return r.spec;
}

function ns(name: string, labels?: Record<string, string>, extra: Partial<Namespace> & { deletionTimestamp?: string } = {}): Namespace {
  const { deletionTimestamp, ...rest } = extra;
  return {
    metadata: { name, ...(labels ? { labels } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) },
    ...rest,
  };
}

function sa(name: string, labels?: Record<string, string>, deletionTimestamp?: string): ServiceAccount {
  return {
    metadata: { name, namespace: 'team-a', ...(labels ? { labels } : {}), ...(deletionTimestamp ? { deletionTimestamp } : {}) },
  };
}

describe('matchesLabelSelector', () => {
  const labels = { env: 'prod', team: 'a', tier: 'web' };

  it.each<[string, LabelSelector | undefined, Record<string, string> | undefined, boolean]>([
    ['undefined selector', undefined, labels, true],
    ['empty selector', {}, labels, true],
    ['empty selector on no labels', {}, undefined, true],
    ['empty matchLabels and matchExpressions', { matchLabels: {}, matchExpressions: [] }, {}, true],
    ['matchLabels all equal', { matchLabels: { env: 'prod', team: 'a' } }, labels, true],
    ['matchLabels one value differs', { matchLabels: { env: 'prod', team: 'b' } }, labels, false],
    ['matchLabels key missing', { matchLabels: { region: 'eu' } }, labels, false],
    ['matchLabels on no labels', { matchLabels: { env: 'prod' } }, undefined, false],
    ['matchLabels is case-sensitive', { matchLabels: { env: 'Prod' } }, labels, false],
    ['In: value listed', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev', 'prod'] }] }, labels, true],
    ['In: value not listed', { matchExpressions: [{ key: 'env', operator: 'In', values: ['dev'] }] }, labels, false],
    ['In: key missing', { matchExpressions: [{ key: 'region', operator: 'In', values: ['eu'] }] }, labels, false],
    ['In: no values', { matchExpressions: [{ key: 'env', operator: 'In' }] }, labels, false],
    ['In: empty label value listed', { matchExpressions: [{ key: 'x', operator: 'In', values: [''] }] }, { x: '' }, true],
    ['NotIn: value listed', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] }, labels, false],
    ['NotIn: value not listed', { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] }, labels, true],
    ['NotIn: key missing', { matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['eu'] }] }, labels, true],
    ['Exists: present', { matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, labels, true],
    ['Exists: present with empty value', { matchExpressions: [{ key: 'x', operator: 'Exists' }] }, { x: '' }, true],
    ['Exists: missing', { matchExpressions: [{ key: 'region', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist: missing', { matchExpressions: [{ key: 'region', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist: present', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, labels, false],
    ['DoesNotExist: no labels at all', { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] }, undefined, true],
    [
      'combined: all parts pass',
      {
        matchLabels: { team: 'a' },
        matchExpressions: [
          { key: 'env', operator: 'In', values: ['prod'] },
          { key: 'tier', operator: 'NotIn', values: ['db'] },
          { key: 'tier', operator: 'Exists' },
          { key: 'legacy', operator: 'DoesNotExist' },
        ],
      },
      labels,
      true,
    ],
    [
      'combined: matchLabels passes, one expression fails',
      { matchLabels: { team: 'a' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['prod'] }, { key: 'tier', operator: 'DoesNotExist' }] },
      labels,
      false,
    ],
    [
      'combined: expressions pass, matchLabels fails',
      { matchLabels: { team: 'b' }, matchExpressions: [{ key: 'env', operator: 'Exists' }] },
      labels,
      false,
    ],
  ])('%s', (_name, selector, input, expected) => {
    expect(matchesLabelSelector(selector, input)).toBe(expected);
  });

  it('does not treat inherited object properties as labels', () => {
    expect(matchesLabelSelector({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, {})).toBe(false);
    expect(matchesLabelSelector({ matchExpressions: [{ key: 'constructor', operator: 'DoesNotExist' }] }, {})).toBe(true);
  });
});

describe('globMatch', () => {
  it.each<[string, string, boolean]>([
    ['team-a', 'team-a', true],
    ['team-a', 'team-b', false],
    ['*', 'anything', true],
    ['*', '', true],
    ['team-*', 'team-a', true],
    ['team-*', 'team-', true],
    ['team-*', 'my-team-a', false],
    ['*-prod', 'shop-prod', true],
    ['*-prod', 'shop-prod-2', false],
    ['*prod*', 'a-prod-b', true],
    ['a*b*c', 'aXXbYYc', true],
    ['a*b*c', 'aXXcYYb', false],
    ['team-?', 'team-a', true],
    ['team-?', 'team-', false],
    ['team-?', 'team-ab', false],
    ['??', 'ab', true],
    ['??', 'a', false],
    ['kube-*', 'kube-system', true],
    ['app.prod', 'app.prod', true],
    ['app.prod', 'appXprod', false],
    ['a.*', 'a.b', true],
    ['a.*', 'ab', false],
    ['a+', 'a+', true],
    ['a+', 'aa', false],
    ['a^b$c', 'a^b$c', true],
    ['(x|y)', '(x|y)', true],
    ['(x|y)', 'x', false],
    ['[ab]', '[ab]', true],
    ['[ab]', 'a', false],
    ['a{2}', 'a{2}', true],
    ['a{2}', 'aa', false],
    ['a\\b', 'a\\b', true],
    ['team', 'team-a', false],
    ['team', 'my-team', false],
    ['b', 'abc', false],
  ])('%s on %s → %s', (pattern, name, expected) => {
    expect(globMatch(pattern, name)).toBe(expected);
  });

  it('gives the same answer on repeated calls with one pattern', () => {
    expect(globMatch('x-*', 'x-1')).toBe(true);
    expect(globMatch('x-*', 'y-1')).toBe(false);
    expect(globMatch('x-*', 'x-2')).toBe(true);
  });
});

describe('namespaceSelected', () => {
  const deleting = '2024-05-01T10:00:00Z';

  it.each<[string, Record<string, unknown>, Namespace, boolean]>([
    ['no rules: an ordinary namespace', {}, ns('team-a'), true],
    ['no rules: default', {}, ns('default'), true],
    ['default exclude: kube-system', {}, ns('kube-system'), false],
    ['default exclude: kube-public', {}, ns('kube-public'), false],
    ['default exclude: kube-node-lease', {}, ns('kube-node-lease'), false],
    ['default exclude is exact, not a prefix', {}, ns('kube-system-extra'), true],
    ['explicit exclude replaces the defaults', { namespaces: { exclude: ['team-*'] } }, ns('kube-system'), true],
    ['explicit exclude glob', { namespaces: { exclude: ['team-*'] } }, ns('team-a'), false],
    ['empty exclude list excludes nothing', { namespaces: { exclude: [] } }, ns('kube-public'), true],
    ['include glob matches', { namespaces: { include: ['team-*'] } }, ns('team-a'), true],
    ['include glob does not match', { namespaces: { include: ['team-*'] } }, ns('shop'), false],
    ['include list: any entry may match', { namespaces: { include: ['shop', 'team-?'] } }, ns('shop'), true],
    ['exclude wins over include', { namespaces: { include: ['team-*'], exclude: ['team-b'] } }, ns('team-b'), false],
    ['default exclude applies with include', { namespaces: { include: ['kube-*'] } }, ns('kube-system'), false],
    ['include with default exclude lets others in', { namespaces: { include: ['kube-*'] } }, ns('kube-flannel'), true],
    ['selector matches', { namespaces: { selector: { matchLabels: { env: 'prod' } } } }, ns('a', { env: 'prod' }), true],
    ['selector does not match', { namespaces: { selector: { matchLabels: { env: 'prod' } } } }, ns('a', { env: 'dev' }), false],
    ['selector on a namespace without labels', { namespaces: { selector: { matchLabels: { env: 'prod' } } } }, ns('a'), false],
    [
      'selector and include both needed: include fails',
      { namespaces: { selector: { matchLabels: { env: 'prod' } }, include: ['team-*'] } },
      ns('shop', { env: 'prod' }),
      false,
    ],
    [
      'selector and include both needed: both pass',
      { namespaces: { selector: { matchLabels: { env: 'prod' } }, include: ['team-*'] } },
      ns('team-a', { env: 'prod' }),
      true,
    ],
    [
      'selector expression',
      { namespaces: { selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['dev'] }] } } },
      ns('a'),
      true,
    ],
    ['opt-out label', {}, ns('team-a', { [IGNORE_LABEL]: 'true' }), false],
    ['opt-out label beats a matching selector', { namespaces: { selector: { matchLabels: { env: 'prod' } } } }, ns('a', { env: 'prod', [IGNORE_LABEL]: 'true' }), false],
    ['opt-out label with another value is no opt-out', {}, ns('team-a', { [IGNORE_LABEL]: 'false' }), true],
    ['opt-out label is case-sensitive', {}, ns('team-a', { [IGNORE_LABEL]: 'True' }), true],
    ['terminating by deletionTimestamp', {}, ns('team-a', undefined, { deletionTimestamp: deleting }), false],
    ['terminating by phase', {}, ns('team-a', undefined, { status: { phase: 'Terminating' } }), false],
    ['active phase', {}, ns('team-a', undefined, { status: { phase: 'Active' } }), true],
  ])('%s', (_name, raw, namespace, expected) => {
    expect(namespaceSelected(spec(raw), namespace)).toBe(expected);
  });

  it('leaves the phase out of namespaceRulesMatch', () => {
    expect(namespaceRulesMatch(spec(), ns('team-a', undefined, { status: { phase: 'Terminating' } }))).toBe(true);
    expect(namespaceRulesMatch(spec(), ns('team-a', undefined, { deletionTimestamp: deleting }))).toBe(true);
    expect(namespaceRulesMatch(spec(), ns('kube-system'))).toBe(false);
  });
});

describe('the credentials namespace', () => {
  const CREDS = 'regcred-system';

  it.each<[string, Record<string, unknown>, string | undefined, Namespace, boolean]>([
    ['no rules: excluded', {}, CREDS, ns(CREDS), false],
    ['no rules: other namespaces still selected', {}, CREDS, ns('team-a'), true],
    ['a glob that matches it does not include it', { namespaces: { include: ['regcred-*'] } }, CREDS, ns(CREDS), false],
    ['"*" does not include it', { namespaces: { include: ['*'] } }, CREDS, ns(CREDS), false],
    ['a glob still includes the others it matches', { namespaces: { include: ['regcred-*'] } }, CREDS, ns('regcred-apps'), true],
    ['its exact name in include includes it', { namespaces: { include: ['team-*', CREDS] } }, CREDS, ns(CREDS), true],
    ['its exact name, but exclude wins', { namespaces: { include: [CREDS], exclude: ['regcred-*'] } }, CREDS, ns(CREDS), false],
    ['its exact name, but the selector must match too', { namespaces: { include: [CREDS], selector: { matchLabels: { env: 'prod' } } } }, CREDS, ns(CREDS), false],
    ['its exact name, but the opt-out label wins', { namespaces: { include: [CREDS] } }, CREDS, ns(CREDS, { [IGNORE_LABEL]: 'true' }), false],
    ['an empty exclude does not bring it back', { namespaces: { exclude: [] } }, CREDS, ns(CREDS), false],
    ['a namespace of the same name with another credentials namespace is ordinary', {}, 'other-creds', ns(CREDS), true],
    ['without a credentials namespace the rule is left out', {}, undefined, ns(CREDS), true],
  ])('%s', (_name, raw, credentialsNamespace, namespace, expected) => {
    expect(namespaceRulesMatch(spec(raw), namespace, credentialsNamespace)).toBe(expected);
    expect(namespaceSelected(spec(raw), namespace, credentialsNamespace)).toBe(expected);
  });

  it('is not selected while terminating, even when named', () => {
    const terminating = ns(CREDS, undefined, { status: { phase: 'Terminating' } });
    expect(namespaceRulesMatch(spec({ namespaces: { include: [CREDS] } }), terminating, CREDS)).toBe(true);
    expect(namespaceSelected(spec({ namespaces: { include: [CREDS] } }), terminating, CREDS)).toBe(false);
  });
});

describe('serviceAccountSelected', () => {
  const envWeb = { selector: { matchLabels: { role: 'web' } } };

  it.each<[string, Record<string, unknown>, ServiceAccount, boolean]>([
    ['default names: default', {}, sa('default'), true],
    ['default names: another', {}, sa('builder'), false],
    ['names list: listed', { serviceAccounts: { names: ['builder', 'deployer'] } }, sa('deployer'), true],
    ['names list: default not implied', { serviceAccounts: { names: ['builder'] } }, sa('default'), false],
    ['names list: no globbing', { serviceAccounts: { names: ['build*'] } }, sa('builder'), false],
    ['"*" selects any name', { serviceAccounts: { names: ['*'] } }, sa('whatever'), true],
    ['"*" among other names', { serviceAccounts: { names: ['a', '*'] } }, sa('whatever'), true],
    ['empty names and no selector', { serviceAccounts: { names: [] } }, sa('default'), false],
    ['selector alone: defaults names to default', { serviceAccounts: envWeb }, sa('default'), true],
    ['selector alone: match', { serviceAccounts: envWeb }, sa('web', { role: 'web' }), true],
    ['selector alone: no match', { serviceAccounts: envWeb }, sa('db', { role: 'db' }), false],
    ['selector ORed with names: by name', { serviceAccounts: { names: ['ci'], ...envWeb } }, sa('ci', { role: 'db' }), true],
    ['selector ORed with names: by selector', { serviceAccounts: { names: ['ci'], ...envWeb } }, sa('web', { role: 'web' }), true],
    ['selector ORed with names: neither', { serviceAccounts: { names: ['ci'], ...envWeb } }, sa('other'), false],
    ['empty names with selector', { serviceAccounts: { names: [], ...envWeb } }, sa('web', { role: 'web' }), true],
    ['empty selector with empty names matches all', { serviceAccounts: { names: [], selector: {} } }, sa('x'), true],
    ['opt-out label beats a listed name', {}, sa('default', { [IGNORE_LABEL]: 'true' }), false],
    ['opt-out label beats "*"', { serviceAccounts: { names: ['*'] } }, sa('x', { [IGNORE_LABEL]: 'true' }), false],
    ['opt-out label beats the selector', { serviceAccounts: { names: [], ...envWeb } }, sa('web', { role: 'web', [IGNORE_LABEL]: 'true' }), false],
    ['opt-out label with another value is no opt-out', {}, sa('default', { [IGNORE_LABEL]: 'no' }), true],
    ['being deleted', {}, sa('default', undefined, '2024-05-01T10:00:00Z'), false],
    ['being deleted with "*"', { serviceAccounts: { names: ['*'] } }, sa('x', undefined, '2024-05-01T10:00:00Z'), false],
  ])('%s', (_name, raw, account, expected) => {
    expect(serviceAccountSelected(spec(raw), account)).toBe(expected);
  });
});
