// End to end against a cluster where the operator already runs (deployed in kind by make kind-e2e,
// or started as its ServiceAccount on the local control plane by make e2e), through $KUBECONFIG
// only: the seed case, rotation, and clean-up on deletion.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';

const client = KubeClient.load(process.env.KUBECONFIG);
const CREDENTIALS_NAMESPACE = process.env.E2E_CREDENTIALS_NAMESPACE ?? 'regcred-system';
const id = randomBytes(3).toString('hex');
const namespace = `e2e-${id}`;
const b64 = (v: string) => Buffer.from(v).toString('base64');
const sample = parseAllDocuments(readFileSync('config/samples/private-registry.yaml', 'utf8')).map((d) => d.toJS());
const credential = sample.find((d) => d.kind === 'RegistryCredential');
const source = sample.find((d) => d.kind === 'Secret');
const name = `${credential.metadata.name}-${id}`;

const dockerConfig = async () => {
  const secret = await client.get<Secret>(RESOURCES.secrets, namespace, 'regcred');
  return JSON.parse(Buffer.from(secret.data?.['.dockerconfigjson'] ?? '', 'base64').toString('utf8'));
};

beforeAll(async () => {
  await client.create(RESOURCES.namespaces, undefined, { metadata: { name: CREDENTIALS_NAMESPACE } }).catch(() => undefined);
  await client.create(RESOURCES.secrets, CREDENTIALS_NAMESPACE, {
    // The sample's labels: the opt-in a source Secret needs.
    metadata: { name: `${source.metadata.name}-${id}`, labels: source.metadata.labels },
    data: { password: b64('first-password') },
  });
  const spec = structuredClone(credential.spec);
  spec.registries[0].passwordFrom.secretKeyRef.name = `${source.metadata.name}-${id}`;
  spec.namespaces = { include: [namespace] };
  await client.create(RESOURCES.registryCredentials, undefined, { metadata: { name }, spec });
});

afterAll(async () => {
  await client.delete(RESOURCES.namespaces, undefined, namespace).catch(() => undefined);
  await client.delete(RESOURCES.secrets, CREDENTIALS_NAMESPACE, `${source.metadata.name}-${id}`).catch(() => undefined);
});

describe('regcred-operator end to end', () => {
  it('gives a new namespace its pull Secret and ServiceAccount entry, and new pods pull with it', async () => {
    await client.create(RESOURCES.namespaces, undefined, { metadata: { name: namespace } });
    const config = await eventually('the pull Secret', dockerConfig);
    expect(config.auths['private-registry.io']).toEqual({ username: 'registry-user', password: 'first-password', auth: b64('registry-user:first-password') });
    await eventually('the ServiceAccount entry', async () =>
      ((await client.get<ServiceAccount>(RESOURCES.serviceAccounts, namespace, 'default')).imagePullSecrets ?? []).some((e) => e.name === 'regcred'));
    const pod = await client.create<{ spec: { imagePullSecrets?: unknown } }>(RESOURCES.pods, namespace, {
      metadata: { name: 'app' },
      spec: { containers: [{ name: 'app', image: 'private-registry.io/app:1' }] },
    });
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    const rc = await eventually('Ready', async () => {
      const r = await client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, name);
      return r.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? r : undefined;
    });
    expect(rc.status?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    // Keyed by the installation's digest key, which the operator made in its namespace on its first start.
    expect(rc.status?.credentialHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    const key = await client.get<Secret>(RESOURCES.secrets, CREDENTIALS_NAMESPACE, 'regcred-operator-digest-key');
    expect(key).toMatchObject({ type: 'Opaque', immutable: true });
  });

  it('rotates the password with one edit of the source Secret', async () => {
    await client.patch(RESOURCES.secrets, CREDENTIALS_NAMESPACE, `${source.metadata.name}-${id}`, { data: { password: b64('second-password') } });
    await eventually('the rotated Secret', async () => (await dockerConfig()).auths['private-registry.io'].password === 'second-password');
  });

  it('removes its Secret and entry when the RegistryCredential is deleted', async () => {
    await client.delete(RESOURCES.registryCredentials, undefined, name);
    await eventually('the RegistryCredential gone', () => client.get(RESOURCES.registryCredentials, undefined, name).then(() => false, () => true));
    await eventually('the Secret gone', () => client.get(RESOURCES.secrets, namespace, 'regcred').then(() => false, () => true));
    const sa = await client.get<ServiceAccount>(RESOURCES.serviceAccounts, namespace, 'default');
    expect((sa.imagePullSecrets ?? []).map((e) => e.name)).not.toContain('regcred');
  });
});
