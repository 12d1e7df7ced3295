// Change over time on the real control plane: rotation, drift, conflicts, competing credentials,
// de-selection and deletion under both policies, broken sources, terminating namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { eventually } from '../support/cluster.ts';
import { b64, decode, Scenario } from '../support/scenario.ts';

const s = new Scenario('life');
beforeAll(() => s.setup());
afterAll(() => s.teardown());

const entry = (secret: string, key = 'password') => ({ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: secret, key } } });
const exists = (ns: string, name: string) => s.getSecret(ns, name).then(() => true, () => false);
const configOf = async (ns: string, name: string) => JSON.parse(decode((await s.getSecret(ns, name)).data?.['.dockerconfigjson']));

interface EventList { items: Array<{ reason: string; type: string; note: string; regarding: { name: string } }> }
const eventsFor = async (rc: string) =>
  (await s.client.list<EventList['items'][number]>(RESOURCES.events, 'default')).items.filter((e) => e.regarding.name === rc);

describe('rotation and drift', () => {
  it('fans a source change out to every namespace, records the hash change and a Rotated event', async () => {
    const first = s.password();
    await s.sourceSecret('rotate', { password: first });
    const nss = await Promise.all([1, 2, 3].map((i) => s.namespace(`rot-${i}`)));
    const rc = await s.credential(`${s.id}-rot`, { secretName: 'rot', registries: [entry('rotate')], namespaces: { include: [`${s.id}-rot-*`] } });
    const before = await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 3);
    expect(before.status?.lastRotationTime).toBeUndefined();

    const second = s.password();
    await s.updateSourceSecret('rotate', { password: second });
    for (const ns of nss) {
      await eventually(`rotated Secret in ${ns}`, async () => (await configOf(ns, 'rot')).auths['registry.acme.io'].password === second);
      expect((await configOf(ns, 'rot')).auths['registry.acme.io'].auth).toBe(b64(`registry-user:${second}`));
    }
    const after = await s.readyEventually(rc.metadata.name, (r) => r.status?.credentialHash !== before.status?.credentialHash);
    expect(after.status?.lastRotationTime).toBeDefined();
    await eventually('Rotated event', async () => (await eventsFor(rc.metadata.name)).some((e) => e.reason === 'Rotated' && e.type === 'Normal'));
  });

  it('restores a managed Secret edited or deleted by hand, and re-adds a removed ServiceAccount entry', async () => {
    const pw = s.password();
    await s.sourceSecret('drift', { password: pw });
    const ns = await s.namespace('drift');
    const rc = await s.credential(`${s.id}-drift`, { secretName: 'drift', registries: [entry('drift')], namespaces: { include: [ns] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    const good = (await s.getSecret(ns, 'drift')).data?.['.dockerconfigjson'];

    await s.client.patch(RESOURCES.secrets, ns, 'drift', { data: { '.dockerconfigjson': b64('{"auths":{}}') } });
    await s.secretEventually(ns, 'drift', (x) => x.data?.['.dockerconfigjson'] === good);

    await s.client.delete(RESOURCES.secrets, ns, 'drift');
    await s.secretEventually(ns, 'drift', (x) => x.data?.['.dockerconfigjson'] === good);

    await s.saEventually(ns, 'default', (e) => e.includes('drift'));
    await s.client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: null });
    await s.saEventually(ns, 'default', (e) => e.includes('drift'));
  });
});

describe('conflicts', () => {
  it('leaves a Secret it does not manage byte for byte, reports SecretConflict, and takes over once it is removed', async () => {
    await s.sourceSecret('conflict', { password: s.password() });
    const ns = await s.namespace('conflict');
    const foreign = await s.client.create<{ metadata: { resourceVersion: string } }>(RESOURCES.secrets, ns, {
      metadata: { name: 'regcred', labels: { team: 'theirs' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64('{"auths":{"their.io":{"auth":"dTpw"}}}') },
    });
    const rc = await s.credential(`${s.id}-conflict`, { secretName: 'regcred', registries: [entry('conflict')], namespaces: { include: [ns] } });
    const failed = await s.conditionEventually(rc.metadata.name, 'PartiallySynced');
    expect(failed.status?.failures).toEqual([expect.objectContaining({ namespace: ns, reason: 'SecretConflict' })]);
    expect(failed.status?.namespaces).toEqual({ matched: 1, synced: 0, failed: 1 });
    const untouched = await s.getSecret(ns, 'regcred');
    expect(untouched.metadata.resourceVersion).toBe(foreign.metadata.resourceVersion);
    expect(s.entriesOf(await s.getServiceAccount(ns))).not.toContain('regcred');
    // One Warning for Ready's transition, naming the conflict (never one Event per namespace).
    await eventually('PartiallySynced event naming the conflict', async () =>
      (await eventsFor(rc.metadata.name)).some((e) => e.reason === 'PartiallySynced' && e.type === 'Warning' && (e.note ?? '').includes('not managed by regcred-operator')));

    await s.client.delete(RESOURCES.secrets, ns, 'regcred');
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    expect((await s.getSecret(ns, 'regcred')).metadata.labels?.['regcred.dev/credential']).toBe(rc.metadata.name);
  });

  it('gives a contested Secret name to the older RegistryCredential; the younger takes over when the older goes', async () => {
    await s.sourceSecret('older', { password: s.password() });
    await s.sourceSecret('younger', { password: s.password() });
    const ns = await s.namespace('contest');
    const older = await s.credential(`${s.id}-older`, { secretName: 'shared', registries: [entry('older')], namespaces: { include: [ns] } });
    await s.readyEventually(older.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    // Creation timestamps have one-second resolution: make sure the second one is younger.
    await new Promise((r) => setTimeout(r, 1100));
    const younger = await s.credential(`${s.id}-younger`, { secretName: 'shared', registries: [entry('younger')], namespaces: { include: [ns] } });
    const lost = await s.conditionEventually(younger.metadata.name, 'PartiallySynced');
    expect(lost.status?.failures?.[0]?.message).toContain(older.metadata.name);
    expect((await s.getSecret(ns, 'shared')).metadata.labels?.['regcred.dev/credential']).toBe(older.metadata.name);

    await s.client.delete(RESOURCES.registryCredentials, undefined, older.metadata.name);
    await s.readyEventually(younger.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    await s.secretEventually(ns, 'shared', (x) => x.metadata.labels?.['regcred.dev/credential'] === younger.metadata.name);
  });
});

describe('de-selection and deletion', () => {
  for (const policy of ['Delete', 'Retain'] as const) {
    it(`${policy}: de-selected namespaces and deletion ${policy === 'Delete' ? 'remove' : 'keep'} our Secrets and entries, never foreign entries`, async () => {
      const key = policy.toLowerCase();
      await s.sourceSecret(`pol-${key}`, { password: s.password() });
      const stay = await s.namespace(`${key}-stay`, { pol: key });
      const leave = await s.namespace(`${key}-leave`, { pol: key });
      for (const ns of [stay, leave]) {
        await s.saEventually(ns, 'default', () => true);
        await s.client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: [{ name: 'foreign' }] });
      }
      const rc = await s.credential(`${s.id}-${key}`, {
        secretName: `pol-${key}`,
        registries: [entry(`pol-${key}`)],
        namespaces: { selector: { matchLabels: { pol: key } }, include: [`${s.id}-*`] },
        deletionPolicy: policy,
      });
      await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 2);
      for (const ns of [stay, leave]) expect(s.entriesOf(await s.getServiceAccount(ns))).toEqual(['foreign', `pol-${key}`]);

      await s.client.patch(RESOURCES.namespaces, undefined, leave, { metadata: { labels: { pol: null } } });
      await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.matched === 1);
      if (policy === 'Delete') {
        await eventually('Secret removed from de-selected namespace', async () => !(await exists(leave, `pol-${key}`)));
        expect(s.entriesOf(await s.getServiceAccount(leave))).toEqual(['foreign']);
      } else {
        expect(await exists(leave, `pol-${key}`)).toBe(true);
        expect(s.entriesOf(await s.getServiceAccount(leave))).toEqual(['foreign', `pol-${key}`]);
      }

      // A sentinel the garbage collector does delete once it has processed the deletion: a Secret
      // owned by the RegistryCredential alone, which the operator does not manage.
      const sentinel = `gc-sentinel-${key}`;
      if (policy === 'Retain') {
        await s.client.create(RESOURCES.secrets, stay, {
          metadata: { name: sentinel, ownerReferences: [{ apiVersion: rc.apiVersion, kind: rc.kind, name: rc.metadata.name, uid: rc.metadata.uid }] },
          type: 'Opaque',
          data: { note: b64('deleted by the garbage collector with its owner') },
        });
      }
      await s.client.delete(RESOURCES.registryCredentials, undefined, rc.metadata.name);
      await eventually('RegistryCredential gone', () => s.getCredential(rc.metadata.name).then(() => false, () => true));
      if (policy === 'Delete') {
        await eventually('Secret deleted', async () => !(await exists(stay, `pol-${key}`)));
        expect(s.entriesOf(await s.getServiceAccount(stay))).toEqual(['foreign']);
      } else {
        const kept = await s.getSecret(stay, `pol-${key}`);
        expect(kept.metadata.ownerReferences ?? []).toEqual([]);
        expect(s.entriesOf(await s.getServiceAccount(stay))).toEqual(['foreign', `pol-${key}`]);
        // Garbage collection has nothing to act on: once it has demonstrably processed the deletion
        // (the sentinel is gone), the released Secret is still the same object.
        await eventually('the garbage collector to delete the sentinel', () => exists(stay, sentinel).then((present) => !present), 90_000);
        const survivor = await s.getSecret(stay, `pol-${key}`);
        expect(survivor.metadata.uid).toBe(kept.metadata.uid);
        expect(survivor.metadata.ownerReferences ?? []).toEqual([]);
      }
    });
  }
});

describe('broken sources', () => {
  it('reports SourceNotFound, leaves targets untouched, and recovers when the source is fixed', async () => {
    const pw = s.password();
    await s.sourceSecret('src', { password: pw });
    const ns = await s.namespace('src');
    const rc = await s.credential(`${s.id}-src`, { secretName: 'src', registries: [entry('src')], namespaces: { include: [ns] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 1);
    const before = await s.getSecret(ns, 'src');

    await s.client.patch(RESOURCES.registryCredentials, undefined, rc.metadata.name, { spec: { registries: [entry('src', 'pasword')] } });
    const broken = await s.conditionEventually(rc.metadata.name, 'SourceNotFound');
    const ready = broken.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('False');
    expect(ready?.message).toContain(`${s.credentialsNamespace}/src`);
    expect(ready?.message).toContain('pasword');
    expect(ready?.message).not.toContain(pw);
    expect((await s.getSecret(ns, 'src')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    await eventually('SourceNotFound event', async () => (await eventsFor(rc.metadata.name)).some((e) => e.reason === 'SourceNotFound'));

    await s.client.patch(RESOURCES.secrets, s.credentialsNamespace, 'src', { data: { pasword: b64(pw) } });
    await s.readyEventually(rc.metadata.name);
    expect((await s.getSecret(ns, 'src')).data).toEqual(before.data);
  });

  it('reports InvalidSource for a malformed dockerconfigjson without echoing its bytes', async () => {
    const pw = s.password('gh');
    await s.sourceSecret('bad-config', { '.dockerconfigjson': `{"auths": {"ghcr.io": {"password": "${pw}"` });
    const rc = await s.credential(`${s.id}-invalid`, { secretName: 'inv', registries: [{ dockerConfigFrom: { secretRef: { name: 'bad-config' } } }], namespaces: { include: [`${s.id}-none`] } });
    const bad = await s.conditionEventually(rc.metadata.name, 'InvalidSource');
    expect(JSON.stringify(bad.status)).not.toContain(pw);
    expect(bad.status?.conditions?.[0]?.message).toContain('bad-config');

    await s.client.delete(RESOURCES.secrets, s.credentialsNamespace, 'bad-config');
    await s.sourceSecret('bad-config', { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { username: 'gh', password: pw } } }) }, 'kubernetes.io/dockerconfigjson');
    await s.readyEventually(rc.metadata.name);
  });
});

/**
 * Write requests (any answer, refusals included) the operator has made to Secrets and
 * ServiceAccounts, from its regcred_api_requests_total counters: `verb resource code` → count.
 */
async function targetWrites(): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${s.operator!.metricsPort}/metrics`)).text();
  const writes = new Map<string, number>();
  for (const m of text.matchAll(/^regcred_api_requests_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (!['POST', 'PUT', 'PATCH', 'DELETE'].includes(labels.verb ?? '') || !['secrets', 'serviceaccounts'].includes(labels.resource ?? '')) continue;
    writes.set(`${labels.verb} ${labels.resource} ${labels.code}`, Number(m[2]));
  }
  return writes;
}

describe('terminating namespaces', () => {
  it('neither counts nor writes into a namespace that is being deleted', async () => {
    await s.sourceSecret('term', { password: s.password() });
    const live = await s.namespace('term-live');
    const dying = await s.namespace('term-dying');
    const rc = await s.credential(`${s.id}-term`, { secretName: 'term', registries: [entry('term')], namespaces: { include: [`${s.id}-term-*`] } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 2 && r.status?.serviceAccounts?.patched === 2);
    await s.saEventually(dying, 'default', (e) => e.includes('term'));
    const liveSecret = await s.getSecret(live, 'term');
    const liveSa = await s.getServiceAccount(live);

    // A finalizer on an object inside keeps the namespace in Terminating.
    await s.client.create(RESOURCES.serviceAccounts, dying, { metadata: { name: 'blocker', finalizers: ['regcred.dev/test-blocker'] } });
    // From here on, with every other RegistryCredential of this file settled, any write to a Secret or
    // ServiceAccount would be one into (or for) the dying namespace: deleting its Secret, removing the
    // entry, or re-creating what the namespace controller deletes.
    const before = await targetWrites();
    await s.client.delete(RESOURCES.namespaces, undefined, dying);
    const settled = await s.readyEventually(rc.metadata.name, (r: RegistryCredential) => r.status?.namespaces?.matched === 1);
    expect(settled.status?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    expect(await exists(live, 'term')).toBe(true);
    // The namespace controller empties the namespace (all but the blocked ServiceAccount) while it
    // terminates: the operator must watch its Secret and entry go and put nothing back.
    await eventually('the dying namespace emptied', async () => !(await exists(dying, 'term')) && (await s.getServiceAccount(dying).then(() => false, () => true)), 60_000);
    await s.client.patch(RESOURCES.serviceAccounts, dying, 'blocker', { metadata: { finalizers: null } });
    await eventually('namespace gone', () => s.client.get(RESOURCES.namespaces, undefined, dying).then(() => false, () => true), 60_000);
    const after = await s.getCredential(rc.metadata.name);
    expect(after.status?.failures).toEqual([]);
    // One more reconcile, woken by a change that asks for no write, after the namespace is gone: the
    // events of its last moments have been handled when it is logged.
    const reconciles = () => s.operator!.logs().split('\n').filter((l) => l.includes('"msg":"reconciled"') && l.includes(`"credential":"${rc.metadata.name}"`)).length;
    const reconciledBefore = reconciles();
    await s.client.patch(RESOURCES.registryCredentials, undefined, rc.metadata.name, { metadata: { annotations: { 'regcred.dev/test-nudge': 'after-namespace-gone' } } });
    await eventually('a reconcile after the namespace is gone', async () => reconciles() > reconciledBefore);
    expect(Object.fromEntries(await targetWrites())).toEqual(Object.fromEntries(before));
    expect((await s.getSecret(live, 'term')).metadata.resourceVersion).toBe(liveSecret.metadata.resourceVersion);
    expect((await s.getServiceAccount(live)).metadata.resourceVersion).toBe(liveSa.metadata.resourceVersion);
  });
});
