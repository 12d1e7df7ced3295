// Which namespaces and ServiceAccounts get the Secret, on the real control plane.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('sel');
beforeAll(async () => {
  await s.setup();
  await s.sourceSecret('pw', { password: s.password() });
});
afterAll(() => s.teardown());

const registries = [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];
const exists = (ns: string, name: string) => s.getSecret(ns, name).then(() => true, () => false);

describe('namespace selection', () => {
  it('applies selector, include and exclude together, and honours the opt-out label', async () => {
    const gold = await s.namespace('a', { tier: 'gold' });
    const optedOut = await s.namespace('b', { tier: 'gold', 'regcred.dev/ignore': 'true' });
    const silver = await s.namespace('c', { tier: 'silver' });
    const sandbox = await s.namespace('sandbox-1', { tier: 'gold' });
    const rc = await s.credential(`${s.id}-rules`, {
      secretName: 'rules',
      registries,
      namespaces: { selector: { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }, include: [`${s.id}-*`], exclude: [`${s.id}-sandbox-*`] },
    });
    const ready = await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.matched === 1);
    expect(ready.status?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    expect(await exists(gold, 'rules')).toBe(true);
    for (const ns of [optedOut, silver, sandbox]) expect(await exists(ns, 'rules'), ns).toBe(false);

    // Opting out later de-selects: with the default Delete policy the Secret and entry go.
    await s.client.patch(RESOURCES.namespaces, undefined, gold, { metadata: { labels: { 'regcred.dev/ignore': 'true' } } });
    await eventually('Secret removed after opt-out', async () => !(await exists(gold, 'rules')));
    await s.saEventually(gold, 'default', (e) => !e.includes('rules'));
  });

  it('never touches kube-system, kube-public or kube-node-lease unless exclude is given', async () => {
    const own = await s.namespace('d');
    const rc = await s.credential(`${s.id}-kube`, { secretName: 'kubewide', registries, namespaces: { include: ['kube-*', own] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.matched === 1);
    expect(await exists(own, 'kubewide')).toBe(true);
    for (const ns of ['kube-system', 'kube-public', 'kube-node-lease']) expect(await exists(ns, 'kubewide'), ns).toBe(false);

    await s.client.patch(RESOURCES.registryCredentials, undefined, rc.metadata.name, { spec: { namespaces: { include: ['kube-public', own], exclude: [] } } });
    await s.secretEventually('kube-public', 'kubewide');
    await s.client.patch(RESOURCES.registryCredentials, undefined, rc.metadata.name, { spec: { namespaces: { include: [own] } } });
    await eventually('kube-public Secret removed', async () => !(await exists('kube-public', 'kubewide')));
  });
});

describe('ServiceAccount selection', () => {
  const sa = (ns: string, name: string, labels: Record<string, string> = {}) =>
    s.client.create(RESOURCES.serviceAccounts, ns, { metadata: { name, labels } });

  it('patches only default by default, named ones, every one with "*", and selector matches ORed with names', async () => {
    const nsDefault = await s.namespace('sa-default');
    const nsNames = await s.namespace('sa-names');
    const nsAll = await s.namespace('sa-all');
    const nsSel = await s.namespace('sa-sel');
    for (const ns of [nsDefault, nsNames, nsAll, nsSel]) {
      await sa(ns, 'builder');
      await sa(ns, 'puller', { pulls: 'private' });
      await sa(ns, 'quiet', { pulls: 'private', 'regcred.dev/ignore': 'true' });
    }
    const rcs = [
      await s.credential(`${s.id}-sa-default`, { secretName: 'sa-default', registries, namespaces: { include: [nsDefault] } }),
      await s.credential(`${s.id}-sa-names`, { secretName: 'sa-names', registries, namespaces: { include: [nsNames] }, serviceAccounts: { names: ['builder', 'missing'] } }),
      await s.credential(`${s.id}-sa-all`, { secretName: 'sa-all', registries, namespaces: { include: [nsAll] }, serviceAccounts: { names: ['*'] } }),
      await s.credential(`${s.id}-sa-sel`, { secretName: 'sa-sel', registries, namespaces: { include: [nsSel] }, serviceAccounts: { selector: { matchLabels: { pulls: 'private' } } } }),
    ];
    for (const rc of rcs) await s.readyEventually(rc.metadata.name);
    const has = async (ns: string, name: string, secret: string) => s.entriesOf(await s.getServiceAccount(ns, name)).includes(secret);
    const table: Array<[string, string, Record<string, boolean>]> = [
      [nsDefault, 'sa-default', { default: true, builder: false, puller: false, quiet: false }],
      [nsNames, 'sa-names', { default: false, builder: true, puller: false, quiet: false }],
      [nsAll, 'sa-all', { default: true, builder: true, puller: true, quiet: false }],
      [nsSel, 'sa-sel', { default: true, builder: false, puller: true, quiet: false }],
    ];
    for (const [ns, secret, expected] of table) {
      const actual = Object.fromEntries(await Promise.all(Object.keys(expected).map(async (n) => [n, await has(ns, n, secret)] as const)));
      expect(actual, secret).toEqual(expected);
    }
    const all = await s.getCredential(`${s.id}-sa-all`);
    expect(all.status?.serviceAccounts?.patched).toBe(3);

    // A ServiceAccount created later is patched as it appears.
    await sa(nsAll, 'late');
    await s.saEventually(nsAll, 'late', (e) => e.includes('sa-all'));
    await sa(nsSel, 'late-labelled', { pulls: 'private' });
    await s.saEventually(nsSel, 'late-labelled', (e) => e.includes('sa-sel'));
  });
});
