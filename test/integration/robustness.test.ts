// Shared lists under concurrent edits, quiescence after convergence, and a crash in the middle of a
// fan-out, on the real control plane.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConflict, RESOURCES } from '../../src/kube/client.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('rob');
beforeAll(async () => {
  await s.setup();
  await s.sourceSecret('pw', { password: s.password() });
});
afterAll(() => s.teardown());

const registries = [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

/** How another tool edits an atomic list: read, modify, write with the resourceVersion, retry on 409. */
async function addForeignEntry(ns: string, name: string): Promise<void> {
  for (;;) {
    const sa = await s.client.get<ServiceAccount>(RESOURCES.serviceAccounts, ns, 'default');
    const list = [...(sa.imagePullSecrets ?? []), { name }];
    try {
      await s.client.patch(RESOURCES.serviceAccounts, ns, 'default', { metadata: { resourceVersion: sa.metadata.resourceVersion }, imagePullSecrets: list });
      return;
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }
}

const WRITE_VERBS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const WATCHED_RESOURCES = new Set(['secrets', 'serviceaccounts', 'registrycredentials', 'events']);

/** Sum of the API server's own write counters for the resources the operator writes. */
async function apiServerWrites(): Promise<number> {
  const text = await s.client.getText('/metrics');
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const verb = /verb="([A-Z]+)"/.exec(line)?.[1] ?? '';
    const resource = /resource="([a-z]+)"/.exec(line)?.[1] ?? '';
    if (WRITE_VERBS.has(verb) && WATCHED_RESOURCES.has(resource)) total += Number(line.split(' ').pop());
  }
  return total;
}

describe('ServiceAccount entries', () => {
  it('keeps foreign entries and never duplicates its own, even while another writer edits the same lists', async () => {
    const nss = await Promise.all(Array.from({ length: 8 }, (_, i) => s.namespace(`conc-${i}`)));
    for (const ns of nss) {
      await s.saEventually(ns, 'default', () => true);
      await s.client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: [{ name: 'pre-existing' }] });
    }
    const editor = Promise.all(nss.map(async (ns) => {
      for (let i = 0; i < 12; i++) await addForeignEntry(ns, `foreign-${i}`);
    }));
    const rc = await s.credential(`${s.id}-conc`, { secretName: 'conc', registries, namespaces: { include: [`${s.id}-conc-*`] } });
    await editor;
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === nss.length);
    for (const ns of nss) {
      const entries = s.entriesOf(await s.getServiceAccount(ns));
      expect(entries.filter((e) => e === 'conc'), ns).toHaveLength(1);
      expect(entries.filter((e) => e !== 'conc'), ns).toEqual(['pre-existing', ...Array.from({ length: 12 }, (_, i) => `foreign-${i}`)]);
    }
  });
});

describe('quiescence', () => {
  it('writes nothing once converged: resourceVersions and the API server write counters stay put for 10 s', async () => {
    const nss = await Promise.all([1, 2, 3, 4].map((i) => s.namespace(`quiet-${i}`)));
    for (const ns of nss) await s.client.create(RESOURCES.serviceAccounts, ns, { metadata: { name: 'builder' } });
    const rc = await s.credential(`${s.id}-quiet`, { secretName: 'quiet', registries, namespaces: { include: [`${s.id}-quiet-*`] }, serviceAccounts: { names: ['*'] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 4 && r.status?.serviceAccounts?.patched === 8);
    const snapshot = async () => {
      const versions: Record<string, string | undefined> = { rc: (await s.getCredential(rc.metadata.name)).metadata.resourceVersion };
      for (const ns of nss) {
        versions[`${ns}/secret`] = (await s.client.get<Secret>(RESOURCES.secrets, ns, 'quiet')).metadata.resourceVersion;
        for (const sa of ['default', 'builder']) versions[`${ns}/${sa}`] = (await s.getServiceAccount(ns, sa)).metadata.resourceVersion;
      }
      return versions;
    };
    // The credentials' check against the registry ends with one status write: let it land first.
    await eventually('the credentials checked', async () =>
      (await s.getCredential(rc.metadata.name)).status?.conditions?.some((c) => c.type === 'CredentialsValid' && c.status !== 'Unknown'));
    // Then let the reconciles triggered by our own writes drain: no reconcile for 2 s.
    const reconciles = () => s.operator!.logs().split('\n').filter((l) => l.includes(`"credential":"${rc.metadata.name}"`) && l.includes('"msg":"reconciled"')).length;
    let seen = -1;
    await eventually('no reconcile for 2 s', async () => {
      const now = reconciles();
      const idle = now === seen;
      seen = now;
      if (!idle) await new Promise((r) => setTimeout(r, 2000));
      return idle;
    });
    const before = await snapshot();
    const writesBefore = await apiServerWrites();
    // The counters do count this operator's writes: the fan-out above made dozens of them.
    expect(writesBefore).toBeGreaterThan(20);
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await snapshot()).toEqual(before);
    expect(await apiServerWrites()).toBe(writesBefore);
  });
});

describe('crash in the middle of a fan-out', () => {
  it('converges to the same state after the operator is killed and restarted', async () => {
    const count = 150;
    const nss: string[] = [];
    for (let i = 0; i < count; i += 25) {
      nss.push(...(await Promise.all(Array.from({ length: Math.min(25, count - i) }, (_, j) => s.namespace(`crash-${i + j}`)))));
    }
    const name = `${s.id}-crash`;
    const managed = async () =>
      (await s.client.list<Secret>(RESOURCES.secrets, undefined, { labelSelector: `regcred.dev/credential=${name}` })).items;
    // One write at a time, so the kill lands well inside the fan-out however fast the machine is.
    await s.stopOperator();
    await s.startOperator(['--max-concurrent-writes', '1']);
    await s.credential(name, { secretName: 'crash', registries, namespaces: { include: [`${s.id}-crash-*`] } });
    await eventually('fan-out under way', async () => (await managed()).length >= 10, 60_000);
    await s.stopOperator('SIGKILL');
    const partial = (await managed()).length;
    expect(partial).toBeLessThan(count);

    await s.startOperator();
    const ready = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === count && r.status?.serviceAccounts?.patched === count, 120_000);
    expect(ready.status?.namespaces).toEqual({ matched: count, synced: count, failed: 0 });
    const secrets = await managed();
    expect(secrets).toHaveLength(count);
    expect(new Set(secrets.map((x) => x.data?.['.dockerconfigjson'])).size).toBe(1);
    for (const ns of nss) expect(s.entriesOf(await s.getServiceAccount(ns)).filter((e) => e === 'crash'), ns).toHaveLength(1);
  });
});
