// The operator on the fake API server: work in a namespace that has just appeared waits for the sign
// that the API server takes writes there (someone else's ServiceAccount), or for the end of the
// wait, and then goes ahead as usual. Asserted on the order of the writes, never on how long
// anything took.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { Operator } from '../../src/controller/operator.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { createLogger } from '../../src/log.ts';
import { eventually } from '../support/cluster.ts';
import { FakeClient } from '../support/fake-client.ts';
import { fakeOperatorOptions, seedCredentialAndSource } from '../support/fake-seeds.ts';

const CREDS = 'creds';
const SELECTED = { team: 'x' };

const operators: Operator[] = [];
afterEach(async () => {
  await Promise.all(operators.splice(0).map((o) => o.stop(1_000)));
});

const namespace = (name: string): Namespace => ({ metadata: { name, labels: SELECTED }, status: { phase: 'Active' } });
const serviceAccount = (ns: string): ServiceAccount => ({ metadata: { name: 'default', namespace: ns } });

async function started(newNamespaceWaitMs: number) {
  const fake = new FakeClient();
  fake.seed(RESOURCES.namespaces, { metadata: { name: CREDS } } satisfies Namespace, namespace('listed'));
  fake.seed(RESOURCES.serviceAccounts, serviceAccount('listed'));
  seedCredentialAndSource(fake, CREDS, { selector: { matchLabels: SELECTED } });
  const quiet = new Writable({ write: (_chunk, _enc, done) => done() });
  const operator = new Operator(fake.client, createLogger('info', quiet), fakeOperatorOptions(CREDS, { newNamespaceWaitMs }));
  operators.push(operator);
  await operator.startCaches();
  operator.startWorkers();
  const synced = (ns: string) => eventually(`the Secret and the entry in ${ns}`, async () => {
    const sa = fake.object<ServiceAccount>(RESOURCES.serviceAccounts, ns, 'default');
    return !!fake.object<Secret>(RESOURCES.secrets, ns, 'pull') && (sa?.imagePullSecrets ?? []).some((e) => e.name === 'pull');
  }, 5_000);
  return { fake, synced };
}

/** Where in the fake's log of writes the first one matching came. */
const indexOfWrite = (fake: FakeClient, verb: string, resource: string, namespace: string) =>
  fake.writes().findIndex((c) => c.verb === verb && c.resource === resource && c.namespace === namespace);

describe('Operator: new namespaces', () => {
  it('writes in a namespace listed at start at once, and in a new one only after its first ServiceAccount', async () => {
    const { fake, synced } = await started(60_000);
    await synced('listed');

    await fake.client.create(RESOURCES.namespaces, undefined, namespace('fresh'));
    // A second new namespace, signed at once: once it is synced, the run that took the first
    // namespace's work is over too (one credential is one key; its work is taken in order).
    await fake.client.create(RESOURCES.namespaces, undefined, namespace('signed'));
    await fake.client.create(RESOURCES.serviceAccounts, 'signed', serviceAccount('signed'));
    await synced('signed');
    expect(fake.object(RESOURCES.secrets, 'fresh', 'pull')).toBeUndefined();
    expect(indexOfWrite(fake, 'create', 'secrets', 'fresh')).toBe(-1);

    await fake.client.create(RESOURCES.serviceAccounts, 'fresh', serviceAccount('fresh'));
    await synced('fresh');
    expect(indexOfWrite(fake, 'create', 'secrets', 'fresh')).toBeGreaterThan(indexOfWrite(fake, 'create', 'serviceaccounts', 'fresh'));
  });

  it('writes in a new namespace that never shows the sign once the wait is over', async () => {
    const { fake } = await started(100);
    await fake.client.create(RESOURCES.namespaces, undefined, namespace('no-accounts'));
    await eventually('the Secret in a namespace without ServiceAccounts', async () => fake.object<Secret>(RESOURCES.secrets, 'no-accounts', 'pull'), 5_000);
  });
});
