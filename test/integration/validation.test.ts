// CredentialsValid against a real registry: Debian's docker-registry on loopback with htpasswd auth
// and TLS from a test CA. A valid password is Valid; a wrong one Unauthorized; without the CA the
// certificate does not verify (TLSError), with it from an opted-in Secret or a ConfigMap it does,
// and insecureSkipTLSVerify says so in status; a stopped registry is Unreachable, and Valid again
// once it is back. Ready never moves with validation; Events and the metric follow the results.
// Needs docker-registry (make registry-tools, test/tools/install-registry-tools.sh).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VALIDATE_REQUESTED_ANNOTATION } from '../../src/api/labels.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import { eventually } from '../support/cluster.ts';
import { TestRegistry } from '../support/registry.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('valid');
const USER = 'alice';
let registry: TestRegistry;
let password = '';

beforeAll(async () => {
  await s.setup();
  password = s.password(USER);
  registry = await TestRegistry.start({ auth: 'htpasswd', users: { [USER]: password } });
  await s.sourceSecret('good', { password });
  await s.sourceSecret('wrong', { password: s.password(USER) });
  await s.sourceSecret('ca-secret', { 'ca.crt': registry.caPem });
  await s.client.create(RESOURCES.configMaps, s.credentialsNamespace, { metadata: { name: 'ca' }, data: { 'ca.crt': registry.caPem } });
});
afterAll(async () => {
  await registry?.dispose();
  await s.teardown();
});

type RegistryStatus = NonNullable<NonNullable<RegistryCredential['status']>['registries']>[number];
const condition = (rc: RegistryCredential, type: string) => rc.status?.conditions?.find((c) => c.type === type);

async function credential(suffix: string, entry: Record<string, unknown>, source = 'good'): Promise<string> {
  const ns = await s.namespace(suffix);
  const rc = await s.credential(`${s.id}-${suffix}`, {
    secretName: 'regcred',
    registries: [{ server: registry.host, username: USER, passwordFrom: { secretKeyRef: { name: source, key: 'password' } }, ...entry }],
    namespaces: { include: [ns] },
  });
  return rc.metadata.name;
}

/** The credential once a check from `since` on (one-second resolution) says `result` for the registry. */
async function checked(name: string, result: RegistryStatus['result'], since = ''): Promise<RegistryCredential> {
  return eventually(`${name}: a check from ${since || 'the start'} on with result ${result}`, async () => {
    const rc = await s.getCredential(name);
    const r = rc.status?.registries?.[0];
    return r && r.checkedAt >= since && r.result === result ? rc : undefined;
  }, 45_000);
}

async function requestCheck(name: string): Promise<string> {
  const at = new Date().toISOString();
  await s.client.patch(RESOURCES.registryCredentials, undefined, name, { metadata: { annotations: { [VALIDATE_REQUESTED_ANNOTATION]: at } } });
  return at.replace(/\.\d+Z$/, 'Z');
}

const eventsOf = async (name: string) =>
  (await s.client.list<{ reason: string; type: string; note: string; regarding: { name: string } }>(RESOURCES.events, 'default')).items.filter((e) => e.regarding.name === name);

describe('CredentialsValid against a real registry', () => {
  it('is True with the password the registry takes and the CA from a ConfigMap, and the metric says Valid', async () => {
    const name = await credential('cm', { caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } });
    const rc = await checked(name, 'Valid');
    expect(condition(rc, 'CredentialsValid')).toMatchObject({ status: 'True', reason: 'Valid', message: '1 of 1 registries accept the credentials' });
    expect(rc.status?.registries).toEqual([{ server: registry.host, result: 'Valid', message: expect.any(String), checkedAt: expect.any(String) }]);
    expect(condition(rc, 'Ready')).toMatchObject({ status: 'True' });
    const metrics = await fetch(`http://127.0.0.1:${s.operator!.metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toContain(`regcred_registry_validation{credential="${name}",server="${registry.host}",result="Valid"} 1`);
    expect(metrics).toContain(`regcred_registry_validation{credential="${name}",server="${registry.host}",result="Unauthorized"} 0`);
  });

  it('is False/Unauthorized with a wrong password, with a Warning Event; Ready stays True', async () => {
    const name = await credential('wrong', { caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } }, 'wrong');
    const rc = await checked(name, 'Unauthorized');
    expect(condition(rc, 'CredentialsValid')).toMatchObject({ status: 'False', reason: 'Unauthorized' });
    expect(condition(rc, 'Ready')).toMatchObject({ status: 'True', reason: 'Synced' });
    await eventually('a RegistryInvalid Event', async () => (await eventsOf(name)).some((e) => e.reason === 'RegistryInvalid' && e.type === 'Warning' && e.note.includes('Unauthorized')));
    // The right password, rendered: Valid again, with a Normal Event.
    await s.client.patch(RESOURCES.registryCredentials, undefined, name, { spec: { registries: [{ server: registry.host, username: USER, passwordFrom: { secretKeyRef: { name: 'good', key: 'password' } }, caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } }] } });
    await checked(name, 'Valid');
    await eventually('a RegistryValid Event', async () => (await eventsOf(name)).some((e) => e.reason === 'RegistryValid' && e.type === 'Normal'));
  });

  it('is TLSError without the CA, Valid with it from an opted-in Secret, and Valid with insecureSkipTLSVerify, shown in status', async () => {
    const none = await credential('noca', {});
    const rc = await checked(none, 'TLSError');
    expect(condition(rc, 'CredentialsValid')).toMatchObject({ status: 'False', reason: 'TLSError' });
    await checked(await credential('secretca', { caBundleFrom: { secretKeyRef: { name: 'ca-secret', key: 'ca.crt' } } }), 'Valid');
    const insecure = await checked(await credential('insecure', { insecureSkipTLSVerify: true }), 'Valid');
    expect(insecure.status?.registries?.[0]).toMatchObject({ result: 'Valid', insecureSkipTLSVerify: true });
  });

  it('is Unreachable while the registry is stopped and Valid once it is back, checked on request', async () => {
    const name = await credential('stop', { caBundleFrom: { configMapKeyRef: { name: 'ca', key: 'ca.crt' } } });
    await checked(name, 'Valid');
    await registry.stop();
    try {
      const rc = await checked(name, 'Unreachable', await requestCheck(name));
      expect(condition(rc, 'CredentialsValid')).toMatchObject({ status: 'False', reason: 'Unreachable' });
    } finally {
      await registry.start();
    }
    await checked(name, 'Valid', await requestCheck(name));
    const status = JSON.stringify((await s.getCredential(name)).status);
    expect(status).not.toContain(password);
    expect(status).not.toContain(Buffer.from(`${USER}:${password}`).toString('base64'));
  });
});
