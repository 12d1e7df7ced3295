// Objects the fake API server is seeded with in operator tests: a RegistryCredential `rc` rendering
// `pull` from the source Secret `src` (password "pw") of the credentials namespace; and the options
// of an operator that may write it.
import { SOURCE_LABEL } from '../../src/api/labels.ts';
import { API_VERSION, KIND, type RegistryCredential } from '../../src/api/schema.ts';
import { Digest } from '../../src/controller/digest.ts';
import type { OperatorOptions } from '../../src/controller/operator.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import type { FakeClient } from './fake-client.ts';

export function seedCredentialAndSource(fake: FakeClient, credentialsNamespace: string, namespaces: Record<string, unknown>): void {
  fake.seed(RESOURCES.registryCredentials, {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name: 'rc', uid: 'uid-rc', generation: 1, creationTimestamp: '2024-01-01T00:00:00Z' },
    spec: {
      registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } }],
      secretName: 'pull',
      namespaces,
    },
  } as RegistryCredential);
  const source: Secret = { metadata: { name: 'src', namespace: credentialsNamespace, labels: { [SOURCE_LABEL]: 'true' } }, type: 'Opaque', data: { password: Buffer.from('pw').toString('base64') } };
  fake.seed(RESOURCES.secrets, source);
}

export function fakeOperatorOptions(credentialsNamespace: string, more: Partial<OperatorOptions> = {}): OperatorOptions {
  return {
    credentialsNamespace,
    digest: Digest.random(),
    allowedSecretNames: ['pull'],
    concurrency: 2,
    maxConcurrentWrites: 4,
    statusIntervalMs: 0,
    ...more,
  };
}
