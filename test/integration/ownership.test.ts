// Ownership by UID on the real control plane: a tenant who copies our labels onto a Secret of an
// allowed name gets a conflict reported, never a write, under either deletion policy, and the
// Secret outlives the credential's deletion; a credential of a name allowed to nobody is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIAL_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { b64, Scenario } from '../support/scenario.ts';

const s = new Scenario('own');
beforeAll(() => s.setup());
afterAll(() => s.teardown());

const entry = (secret: string) => ({ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: secret, key: 'password' } } });

describe('a tenant\'s Secret with our labels', () => {
  for (const policy of ['Delete', 'Retain'] as const) {
    it(`${policy}: is reported as a conflict, never modified, and outlives the credential`, async () => {
      const key = policy.toLowerCase();
      const rcName = `${s.id}-${key}`;
      await s.sourceSecret(`own-${key}`, { password: s.password() });
      const selected = await s.namespace(`${key}-in`);
      const unselected = await s.namespace(`${key}-out`);
      const other = await s.namespace(`${key}-free`);
      // The tenant's copies, made before the credential exists: our labels naming it, no owner mark.
      const copy = { labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: rcName } };
      const made: Secret[] = [];
      for (const ns of [selected, unselected]) {
        made.push(await s.client.create<Secret>(RESOURCES.secrets, ns, {
          metadata: { name: 'pull', ...copy },
          type: 'kubernetes.io/dockerconfigjson',
          data: { '.dockerconfigjson': b64('{"auths":{"tenant.example":{}}}') },
        }));
      }
      const rc = await s.credential(rcName, {
        secretName: 'pull',
        registries: [entry(`own-${key}`)],
        namespaces: { include: [selected, other] },
        deletionPolicy: policy,
      });
      const reported = await s.conditionEventually(rc.metadata.name, 'PartiallySynced');
      await eventually('the conflict and the free namespace in status', async () => {
        const st = (await s.getCredential(rc.metadata.name)).status;
        return st?.namespaces?.synced === 1 && st.failures?.[0]?.namespace === selected ? st : undefined;
      });
      expect(reported.status?.failures?.[0]).toMatchObject({
        namespace: selected,
        reason: 'SecretConflict',
        message: expect.stringContaining("carries regcred-operator's labels but no owner reference to an existing RegistryCredential"),
      });
      // Our own Secret went where nothing stood in the way.
      expect((await s.getSecret(other, 'pull')).metadata.labels?.[CREDENTIAL_LABEL]).toBe(rcName);

      await s.client.delete(RESOURCES.registryCredentials, undefined, rc.metadata.name);
      await eventually(`${rcName} gone`, () => s.getCredential(rc.metadata.name).then(() => false, () => true));
      for (const m of made) {
        const now = await s.getSecret(m.metadata.namespace!, 'pull');
        expect(now.metadata.resourceVersion, `${m.metadata.namespace}/pull`).toBe(m.metadata.resourceVersion);
      }
      expect(await s.getSecret(other, 'pull').then(() => 'kept', () => 'deleted')).toBe(policy === 'Delete' ? 'deleted' : 'kept');
    });
  }
});

describe('a secretName the operator may not write', () => {
  it('gets SecretNameNotAllowed and a Warning Event; nothing is written', async () => {
    await s.sourceSecret('own-denied', { password: s.password() });
    const ns = await s.namespace('denied');
    const rc = await s.credential(`${s.id}-denied`, { secretName: 'not-allowed-anywhere', registries: [entry('own-denied')], namespaces: { include: [ns] } });
    const refused = await s.conditionEventually(rc.metadata.name, 'SecretNameNotAllowed');
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', message: expect.stringContaining('secretName "not-allowed-anywhere"') });
    await eventually('a SecretNameNotAllowed Event', async () =>
      (await s.client.list<{ reason: string; type: string; regarding: { name: string } }>(RESOURCES.events, 'default')).items
        .some((e) => e.regarding.name === rc.metadata.name && e.reason === 'SecretNameNotAllowed' && e.type === 'Warning'));
    expect(await s.getSecret(ns, 'not-allowed-anywhere').then(() => 'written', () => 'absent')).toBe('absent');
    expect(s.entriesOf(await s.saEventually(ns, 'default', () => true))).toEqual([]);
  });
});
