// Credentials that share a secretName, and Retain under foreground deletion, on the real control
// plane. Only objects this file creates are asserted on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { Scenario, b64 } from '../support/scenario.ts';

let s: Scenario;

beforeAll(async () => {
  s = await new Scenario('arb').setup();
});

afterAll(async () => {
  await s?.teardown();
});

const entry = (source: string, key = 'password') => ({ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: source, key } } });
const holderOf = (secret: Secret) => secret.metadata.labels?.['regcred.dev/credential'];
const decoded = (secret: Secret) => Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8');

describe('credentials that share a secretName', () => {
  it('a broken older credential takes nothing; once fixed it waits; when the holder goes it takes over in place', async () => {
    const olderPw = s.password();
    const youngerPw = s.password();
    await s.sourceSecret('older-src', { password: olderPw });
    await s.sourceSecret('younger-src', { password: youngerPw });
    const namespaces = [await s.namespace('one'), await s.namespace('two'), await s.namespace('three')];
    for (const ns of namespaces) await s.saEventually(ns, 'default', () => true);
    const selection = { include: namespaces };

    // Older by creation time, but its key does not exist: it can never win.
    const older = await s.credential(`${s.id}-older`, { secretName: 'shared', registries: [entry('older-src', 'typo')], namespaces: selection });
    await s.conditionEventually(older.metadata.name, 'SourceNotFound');
    const younger = await s.credential(`${s.id}-younger`, { secretName: 'shared', registries: [entry('younger-src')], namespaces: selection });
    await s.readyEventually(younger.metadata.name, (r) => r.status?.namespaces?.synced === 3);
    const first = new Map<string, Secret>();
    for (const ns of namespaces) {
      const secret = await s.getSecret(ns, 'shared');
      expect(holderOf(secret)).toBe(younger.metadata.name);
      expect(decoded(secret)).toContain(b64(`u:${youngerPw}`));
      expect(s.entriesOf(await s.getServiceAccount(ns))).toEqual(['shared']);
      first.set(ns, secret);
    }

    // Fixed: the holder keeps every namespace, and both show the contest.
    await s.client.patch(RESOURCES.registryCredentials, undefined, older.metadata.name, { spec: { registries: [entry('older-src')] } });
    const loser = await s.conditionEventually(older.metadata.name, 'PartiallySynced');
    expect(loser.status?.failures?.map((f) => [f.namespace, f.reason]).sort()).toEqual(namespaces.map((ns) => [ns, 'SecretConflict']).sort());
    expect(loser.status?.failures?.[0]?.message).toContain(younger.metadata.name);
    const holder = await s.readyEventually(younger.metadata.name, (r) => (r.status?.conditions?.[0]?.message ?? '').includes(older.metadata.name));
    expect(holder.status?.namespaces).toEqual({ matched: 3, synced: 3, failed: 0 });
    for (const ns of namespaces) expect((await s.getSecret(ns, 'shared')).metadata.resourceVersion).toBe(first.get(ns)!.metadata.resourceVersion);

    // The holder goes: the other takes every Secret over in place (same object), and the entry stays.
    await s.client.delete(RESOURCES.registryCredentials, undefined, younger.metadata.name);
    await s.readyEventually(older.metadata.name, (r) => r.status?.namespaces?.synced === 3);
    await eventually('the younger credential to be gone', () => s.getCredential(younger.metadata.name).then(() => false, () => true));
    for (const ns of namespaces) {
      const secret = await s.getSecret(ns, 'shared');
      expect(holderOf(secret)).toBe(older.metadata.name);
      expect(secret.metadata.uid).toBe(first.get(ns)!.metadata.uid);
      expect(secret.metadata.ownerReferences?.map((r) => r.name)).toEqual([older.metadata.name]);
      expect(decoded(secret)).toContain(b64(`u:${olderPw}`));
      expect(s.entriesOf(await s.getServiceAccount(ns))).toEqual(['shared']);
    }
  });
});

describe('Retain under foreground deletion', () => {
  it('keeps every Secret and entry when the credential is deleted with propagationPolicy Foreground', async () => {
    await s.sourceSecret('fg-src', { password: s.password() });
    const namespaces = [await s.namespace('fg-a'), await s.namespace('fg-b')];
    for (const ns of namespaces) await s.saEventually(ns, 'default', () => true);
    const rc = await s.credential(`${s.id}-fg`, { secretName: 'fg', registries: [entry('fg-src')], namespaces: { include: namespaces }, deletionPolicy: 'Retain' });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 2);
    const uids = new Map<string, string>();
    for (const ns of namespaces) {
      const secret = await s.getSecret(ns, 'fg');
      expect(secret.metadata.ownerReferences ?? []).toEqual([]);
      uids.set(ns, secret.metadata.uid!);
    }
    // A dependent the garbage collector must delete in a foreground deletion: once it is gone,
    // the collector has processed the owner's dependents.
    const owner = await s.getCredential(rc.metadata.name);
    await s.client.create(RESOURCES.secrets, namespaces[0], {
      metadata: { name: 'fg-sentinel', ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid, blockOwnerDeletion: true }] },
      type: 'Opaque',
      data: { note: b64('deleted with its owner') },
    });
    await s.client.request('DELETE', s.client.path(RESOURCES.registryCredentials, undefined, rc.metadata.name), {
      body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' },
    });
    await eventually('the sentinel to be collected', () => s.getSecret(namespaces[0]!, 'fg-sentinel').then(() => false, () => true), 90_000);
    await eventually('the credential to be gone', () => s.client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, rc.metadata.name).then(() => false, () => true), 90_000);
    for (const ns of namespaces) {
      expect((await s.getSecret(ns, 'fg')).metadata.uid).toBe(uids.get(ns));
      expect(s.entriesOf(await s.getServiceAccount(ns))).toEqual(['fg']);
    }
  });
});
