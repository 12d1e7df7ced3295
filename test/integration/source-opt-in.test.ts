// Source Secrets must opt in, on the real control plane: a Secret of the credentials namespace
// without the label regcred.dev/source=true, and a ServiceAccount token Secret even with it, are
// never read; the credential says SourceNotAllowed and writes nothing; labelling the first one is
// enough for it to converge. Only objects this file creates are asserted on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SOURCE_LABEL } from '../../src/api/labels.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { leakForms, recordLeakForms } from '../support/operator.ts';
import { Scenario, SOURCE_OPT_IN, decode } from '../support/scenario.ts';

let s: Scenario;

beforeAll(async () => {
  s = await new Scenario('optin').setup();
});

afterAll(async () => {
  await s?.teardown();
});

const entry = (source: string, key: string) => ({ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: source, key } } });
const absent = (ns: string, name: string) => s.getSecret(ns, name).then(() => false, () => true);

interface Event { reason: string; type: string; regarding: { name: string } }
const eventsFor = async (rc: string) => (await s.client.list<Event>(RESOURCES.events, 'default')).items.filter((e) => e.regarding.name === rc);

/** The credential is refused, and nothing of it exists in any of its namespaces. */
async function expectRefused(name: string, secretName: string, namespaces: string[], mentions: string[]): Promise<string> {
  const rc = await s.conditionEventually(name, 'SourceNotAllowed');
  const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
  expect(ready?.status).toBe('False');
  for (const m of mentions) expect(ready?.message).toContain(m);
  for (const ns of namespaces) {
    expect(await absent(ns, secretName), `Secret ${ns}/${secretName}`).toBe(true);
    expect(s.entriesOf(await s.getServiceAccount(ns))).not.toContain(secretName);
  }
  await eventually(`a SourceNotAllowed Event about ${name}`, async () => (await eventsFor(name)).some((e) => e.reason === 'SourceNotAllowed' && e.type === 'Warning'));
  return JSON.stringify(rc.status);
}

describe('source Secrets must opt in', () => {
  it('a Secret without the label is not read until it is labelled, then the credential converges', async () => {
    const pw = s.password();
    await s.sourceSecret('plain', { password: pw }, 'Opaque', { optIn: false });
    const namespaces = [await s.namespace('plain-1'), await s.namespace('plain-2')];
    for (const ns of namespaces) await s.saEventually(ns, 'default', () => true);
    const rc = await s.credential(`${s.id}-plain`, { secretName: 'plain-pull', registries: [entry('plain', 'password')], namespaces: { include: namespaces } });

    const status = await expectRefused(rc.metadata.name, 'plain-pull', namespaces, [`Secret ${s.credentialsNamespace}/plain`, `${SOURCE_LABEL}=true`]);
    expect(status).not.toContain(pw);

    await s.client.patch(RESOURCES.secrets, s.credentialsNamespace, 'plain', { metadata: { labels: SOURCE_OPT_IN } });
    await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 2 && r.status?.serviceAccounts?.patched === 2);
    for (const ns of namespaces) {
      const config = JSON.parse(decode((await s.getSecret(ns, 'plain-pull')).data?.['.dockerconfigjson']));
      expect(config.auths['registry.acme.io'].password).toBe(pw);
      expect(s.entriesOf(await s.getServiceAccount(ns))).toContain('plain-pull');
    }
  });

  it('a ServiceAccount token Secret is never read, even with the label', async () => {
    await s.client.create(RESOURCES.serviceAccounts, s.credentialsNamespace, { metadata: { name: 'robot' } });
    await s.sourceSecret('robot-token', {}, 'kubernetes.io/service-account-token', { annotations: { 'kubernetes.io/service-account.name': 'robot' } });
    // The token controller fills it in: from then on it holds a key the credential names.
    const filled = await eventually('the token controller to fill robot-token', async () => {
      const secret = await s.client.get<Secret>(RESOURCES.secrets, s.credentialsNamespace, 'robot-token');
      return secret.data?.token ? secret : undefined;
    });
    expect(filled.metadata.labels).toEqual(SOURCE_OPT_IN);
    const token = decode(filled.data?.token);
    recordLeakForms(leakForms('registry-user', token));

    const namespaces = [await s.namespace('token-1')];
    for (const ns of namespaces) await s.saEventually(ns, 'default', () => true);
    const rc = await s.credential(`${s.id}-token`, { secretName: 'token-pull', registries: [entry('robot-token', 'token')], namespaces: { include: namespaces } });

    const status = await expectRefused(rc.metadata.name, 'token-pull', namespaces, [`Secret ${s.credentialsNamespace}/robot-token`, 'kubernetes.io/service-account-token']);
    expect(status).not.toContain(token);
  });
});
