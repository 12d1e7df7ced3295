// The control plane does what the operator relies on: kube-controller-manager creates `default`
// ServiceAccounts, and ServiceAccount admission copies imagePullSecrets into new pods.
import { describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { createNamespace, eventually, testClient, uniqueName } from '../support/cluster.ts';

const client = testClient();

describe('test control plane', () => {
  it('gives a new namespace its default ServiceAccount', async () => {
    const ns = uniqueName('harness');
    await createNamespace(client, ns);
    const sa = await eventually('default ServiceAccount', () => client.get<{ metadata: { name: string } }>(RESOURCES.serviceAccounts, ns, 'default'));
    expect(sa.metadata.name).toBe('default');
  });

  it("copies the ServiceAccount's imagePullSecrets into a new pod through admission", async () => {
    const ns = uniqueName('harness');
    await createNamespace(client, ns);
    await eventually('default ServiceAccount', () => client.get(RESOURCES.serviceAccounts, ns, 'default'));
    await client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: [{ name: 'regcred' }] });
    const pod = await client.create<{ spec: { imagePullSecrets?: Array<{ name: string }>; serviceAccountName: string } }>(RESOURCES.pods, ns, {
      metadata: { name: 'app' },
      spec: { containers: [{ name: 'app', image: 'private-registry.io/app:1' }] },
    });
    expect(pod.spec.serviceAccountName).toBe('default');
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
  });

  it('reports the Kubernetes release it was built from', async () => {
    const version = await client.request<{ gitVersion: string; major: string; minor: string }>('GET', '/version');
    expect(version.gitVersion).toMatch(/^v1\.(3[4-9]|[4-9]\d)\.\d+$/);
    expect(Number(version.minor)).toBeGreaterThanOrEqual(34);
  });
});
