// The applier's debug lines: one per write request it makes, naming verb, kind, namespace and
// name, and never the bytes written. Checked against the requests the fake API server recorded.
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FINALIZER, SOURCE_LABEL } from '../../src/api/labels.ts';
import { API_VERSION, KIND, type RegistryCredential } from '../../src/api/schema.ts';
import { Caches } from '../../src/controller/caches.ts';
import { Digest } from '../../src/controller/digest.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { Reconciler } from '../../src/controller/reconciler.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { createLogger, inReconcile } from '../../src/log.ts';
import { FakeClient, type Call } from '../support/fake-client.ts';

const CREDS = 'creds';
const PASSWORD = 'pw-7c3e91-not-for-logs';
const TEAMS = ['team-a', 'team-b'];
const b64 = (s: string) => Buffer.from(s).toString('base64');

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

function credential(name: string, include: string[]): RegistryCredential {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, uid: `uid-${name}`, generation: 1, creationTimestamp: '2024-01-01T00:00:00Z', finalizers: [FINALIZER] },
    spec: {
      registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 'src', key: 'password' } } }],
      secretName: 'pull',
      namespaces: { include },
    },
  } as RegistryCredential;
}

async function setUp() {
  const fake = new FakeClient();
  const namespaces: Namespace[] = [CREDS, ...TEAMS].map((name) => ({ metadata: { name }, status: { phase: 'Active' } }));
  fake.seed(RESOURCES.namespaces, ...namespaces);
  fake.seed(RESOURCES.registryCredentials, credential('rc', ['team-*']));
  const source: Secret = { metadata: { name: 'src', namespace: CREDS, labels: { [SOURCE_LABEL]: 'true' } }, type: 'Opaque', data: { password: b64(PASSWORD) } };
  fake.seed(RESOURCES.secrets, source);
  fake.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns): ServiceAccount => ({ metadata: { name: 'default', namespace: ns } })));
  let text = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { text += chunk.toString(); done(); } });
  const log = createLogger('debug', sink);
  const digest = Digest.random();
  const caches = new Caches(fake.client, log, { credentialsNamespace: CREDS, syncTimeoutMs: 1000, digest, allowedSecretNames: ['pull'] });
  await caches.start();
  stops.push(() => caches.stop());
  const reconciler = new Reconciler(fake.client, caches, new EventRecorder(fake.client, log), log, { credentialsNamespace: CREDS, digest, maxConcurrentWrites: 4, statusIntervalMs: 0 });
  const settle = async () => {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  await settle();
  const lines = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { fake, reconciler, lines, text: () => text, settle };
}

const VERBS: Record<string, string> = { create: 'create', replace: 'update', patch: 'patch', delete: 'delete' };
const KINDS: Record<string, string> = { secrets: 'Secret', serviceaccounts: 'ServiceAccount' };

/** The line each recorded write request should have produced. */
function expected(calls: Call[]) {
  return sorted(calls
    .filter((c) => KINDS[c.resource] && VERBS[c.verb])
    .map((c) => ({ verb: VERBS[c.verb], kind: KINDS[c.resource], namespace: c.namespace, [c.resource === 'secrets' ? 'secret' : 'serviceAccount']: c.name })));
}

function writeLines(lines: Array<Record<string, unknown>>, msg = 'write') {
  return sorted(lines.filter((l) => l.msg === msg).map(({ verb, kind, namespace, secret, serviceAccount }) => ({ verb, kind, namespace, ...(secret ? { secret } : { serviceAccount }) })));
}

function sorted<T>(items: T[]): T[] {
  return [...items].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

describe('Applier debug lines', () => {
  it('logs one line per write, each with verb, kind, namespace and name, within the reconcile', async () => {
    const w = await setUp();
    await inReconcile(() => w.reconciler.reconcile('rc'));
    const writes = w.fake.writes().filter((c) => KINDS[c.resource]);
    // A Secret and a ServiceAccount entry in each namespace.
    expect(writes.map((c) => `${c.verb} ${c.resource} ${c.namespace}`).sort()).toEqual([
      'create secrets team-a', 'create secrets team-b', 'patch serviceaccounts team-a', 'patch serviceaccounts team-b',
    ]);
    const lines = w.lines();
    expect(writeLines(lines)).toEqual(expected(writes));
    for (const line of lines.filter((l) => l.msg === 'write')) {
      expect(line.level).toBe('debug');
      expect(line.reconcileID).toEqual(expect.any(String));
    }
    expect(w.text()).not.toContain(PASSWORD);
    expect(w.text()).not.toContain(b64(PASSWORD));
    expect(w.text()).not.toContain('.dockerconfigjson');
  });

  it('logs updates, deletions and failed writes with their HTTP status', async () => {
    const w = await setUp();
    await w.reconciler.reconcile('rc');
    await w.settle();
    // A new password: the Secrets are updated; team-b's update fails once with a 500.
    await w.fake.patch(RESOURCES.secrets, CREDS, 'src', { data: { password: b64(`${PASSWORD}-2`) } });
    await w.settle();
    w.fake.failNext({ verb: 'replace', resource: 'secrets', namespace: 'team-b' }, 500);
    let from = { calls: w.fake.calls.length, lines: w.lines().length };
    await w.reconciler.reconcile('rc').catch(() => undefined);
    await w.settle();
    const updates = w.fake.calls.slice(from.calls).filter((c) => KINDS[c.resource] && VERBS[c.verb]);
    const updateLines = w.lines().slice(from.lines);
    expect(updates.filter((c) => c.verb === 'replace').map((c) => c.namespace).sort()).toEqual(['team-a', 'team-b']);
    const failed = writeLines(updateLines, 'write failed');
    expect(failed).toEqual([{ verb: 'update', kind: 'Secret', namespace: 'team-b', secret: 'pull' }]);
    expect(updateLines.find((l) => l.msg === 'write failed')).toMatchObject({ status: 500 });
    expect(sorted([...writeLines(updateLines), ...failed])).toEqual(expected(updates));

    // team-b leaves the selection: its entry is removed and its Secret deleted.
    const rc = w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, 'rc')!;
    await w.fake.replace(RESOURCES.registryCredentials, undefined, 'rc', { ...rc, metadata: { ...rc.metadata, generation: 2 }, spec: { ...rc.spec, namespaces: { include: ['team-a'] } } });
    await w.settle();
    from = { calls: w.fake.calls.length, lines: w.lines().length };
    await w.reconciler.reconcile('rc');
    const removals = w.fake.calls.slice(from.calls).filter((c) => KINDS[c.resource] && VERBS[c.verb]);
    expect(removals.map((c) => `${c.verb} ${c.resource} ${c.namespace}`)).toContain('delete secrets team-b');
    expect(removals.map((c) => `${c.verb} ${c.resource} ${c.namespace}`)).toContain('patch serviceaccounts team-b');
    expect(writeLines(w.lines().slice(from.lines))).toEqual(expected(removals));
    expect(w.text()).not.toContain(PASSWORD);
    expect(w.text()).not.toContain(b64(`${PASSWORD}-2`));
  });
});
