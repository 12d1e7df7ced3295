// The operator's line for a failed reconcile: it carries the reconcileID of the run that failed, the
// same as the lines that run logged on the way (the failed write's), so the failure can be followed
// back through the run. On the fake API server, with one injected 500.
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
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const operators: Operator[] = [];
afterEach(async () => {
  await Promise.all(operators.splice(0).map((o) => o.stop(1_000)));
});

describe('Operator log', () => {
  it('logs a failed reconcile with the reconcileID of the run that failed', async () => {
    const fake = new FakeClient();
    fake.seed(RESOURCES.namespaces, ...[CREDS, 'team-a'].map((name): Namespace => ({ metadata: { name }, status: { phase: 'Active' } })));
    seedCredentialAndSource(fake, CREDS, { include: ['team-a'] });
    fake.seed(RESOURCES.serviceAccounts, { metadata: { name: 'default', namespace: 'team-a' } } satisfies ServiceAccount);
    fake.failNext({ verb: 'create', resource: 'secrets', namespace: 'team-a' }, 500);

    let text = '';
    const sink = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
    const lines = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const operator = new Operator(fake.client, createLogger('debug', sink), fakeOperatorOptions(CREDS, { baseDelayMs: 10, maxDelayMs: 10 }));
    operators.push(operator);
    await operator.startCaches();
    operator.startWorkers();

    const failed = await eventually('the failed reconcile\'s line', async () => lines().find((l) => l.msg === 'reconcile failed; retrying with backoff'), 5_000);
    const failedWrite = lines().find((l) => l.msg === 'write failed' && l.namespace === 'team-a');
    expect(failed).toMatchObject({ credential: 'rc', retries: 1 });
    expect(failed.reconcileID).toMatch(UUID);
    expect(failedWrite?.reconcileID).toBe(failed.reconcileID);

    // The retry is a run of its own, with an id of its own, and it creates the Secret.
    await eventually('the retried Secret', async () => fake.object<Secret>(RESOURCES.secrets, 'team-a', 'pull'), 5_000);
    const retryWrite = await eventually('the retry\'s write line', async () => lines().find((l) => l.msg === 'write' && l.namespace === 'team-a' && l.kind === 'Secret'), 5_000);
    expect(retryWrite.reconcileID).toMatch(UUID);
    expect(retryWrite.reconcileID).not.toBe(failed.reconcileID);
  });
});
