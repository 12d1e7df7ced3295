// Fan-out on the real control plane: the rendered Secret in every matching namespace, the
// ServiceAccount entries, and pods that come back from admission with imagePullSecrets.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { b64, decode, Scenario } from '../support/scenario.ts';

const s = new Scenario('fan');
beforeAll(() => s.setup());
afterAll(() => s.teardown());

describe('fan-out', () => {
  it('renders three registries into every matching namespace with exact bytes, type, labels and ownerRef', async () => {
    const privatePw = s.password('registry-user');
    const hubPw = s.password('hub-bot');
    const ghcrPw = s.password('gh-bot');
    await s.sourceSecret('private', { password: privatePw });
    await s.sourceSecret('hub', { user: 'hub-bot', token: hubPw });
    await s.sourceSecret('ghcr', { '.dockerconfigjson': JSON.stringify({ auths: { 'ghcr.io': { username: 'gh-bot', password: ghcrPw } } }) }, 'kubernetes.io/dockerconfigjson');
    const namespaces = await Promise.all([1, 2, 3, 4, 5].map((i) => s.namespace(`three-${i}`, { fanout: s.id })));
    const rc = await s.credential(`${s.id}-three`, {
      secretName: 'pull',
      namespaces: { selector: { matchLabels: { fanout: s.id } } },
      registries: [
        { server: 'private-registry.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'private', key: 'password' } } },
        { server: 'docker.io', usernameFrom: { secretKeyRef: { name: 'hub', key: 'user' } }, passwordFrom: { secretKeyRef: { name: 'hub', key: 'token' } }, email: 'ops@acme.io' },
        { dockerConfigFrom: { secretRef: { name: 'ghcr' } } },
      ],
    });
    const expected =
      `{"auths":{` +
      `"ghcr.io":{"auth":"${b64(`gh-bot:${ghcrPw}`)}","password":"${ghcrPw}","username":"gh-bot"},` +
      `"https://index.docker.io/v1/":{"auth":"${b64(`hub-bot:${hubPw}`)}","email":"ops@acme.io","password":"${hubPw}","username":"hub-bot"},` +
      `"private-registry.io":{"auth":"${b64(`registry-user:${privatePw}`)}","password":"${privatePw}","username":"registry-user"}}}`;

    // The namespaces' default ServiceAccounts may appear after the Secrets are in place: converged
    // means both counted.
    const ready = await s.readyEventually(rc.metadata.name, (r) => r.status?.namespaces?.synced === 5 && r.status.serviceAccounts?.patched === 5);
    expect(ready.status?.namespaces).toEqual({ matched: 5, synced: 5, failed: 0 });
    expect(ready.status?.serviceAccounts).toEqual({ patched: 5 });
    expect(ready.status?.credentialHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(ready.status)).not.toContain(privatePw);
    for (const ns of namespaces) {
      const secret = await s.getSecret(ns, 'pull');
      expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
      expect(decode(secret.data?.['.dockerconfigjson'])).toBe(expected);
      expect(Object.keys(secret.data ?? {})).toEqual(['.dockerconfigjson']);
      expect(secret.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'regcred-operator', 'regcred.dev/credential': rc.metadata.name });
      expect(secret.metadata.annotations?.['regcred.dev/credential-hash']).toBe(ready.status?.credentialHash);
      expect(secret.metadata.ownerReferences).toEqual([
        { apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential', name: rc.metadata.name, uid: rc.metadata.uid, controller: true, blockOwnerDeletion: false },
      ]);
      expect(s.entriesOf(await s.getServiceAccount(ns))).toEqual(['pull']);
    }
  });

  it('reaches a namespace created later, and a new pod there comes back with imagePullSecrets (the seed case)', async () => {
    const pw = s.password();
    await s.sourceSecret('seed', { password: pw });
    const rc = await s.credential(`${s.id}-seed`, {
      secretName: 'regcred',
      namespaces: { include: [`${s.id}-seed-*`] },
      registries: [{ server: 'private-registry.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'seed', key: 'password' } } }],
    });
    await s.readyEventually(rc.metadata.name);
    const ns = await s.namespace('seed-app');
    const secret = await s.secretEventually(ns, 'regcred');
    expect(JSON.parse(decode(secret.data?.['.dockerconfigjson']))).toEqual({
      auths: { 'private-registry.io': { username: 'registry-user', password: pw, auth: b64(`registry-user:${pw}`) } },
    });
    await s.saEventually(ns, 'default', (e) => e.includes('regcred'));
    const pod = await s.client.create<{ spec: { imagePullSecrets?: unknown } }>(RESOURCES.pods, ns, {
      metadata: { name: 'app' },
      spec: { containers: [{ name: 'app', image: 'private-registry.io/app:1.0' }] },
    });
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });
});
