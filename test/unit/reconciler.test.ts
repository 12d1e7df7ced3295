// The reconciler on a small in-memory API server: a table of cluster contents and injected API
// faults → the calls made and the status written. Caches are the real informers, filled from the
// fake by list and kept current by its watches.
import { createHash } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ALLOWED_CREDENTIALS_ANNOTATION,
  CREDENTIAL_LABEL,
  FINALIZER,
  HASH_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  OWNER_UID_ANNOTATION,
  RECONCILE_REQUESTED_ANNOTATION,
  SA_ENTRIES_ANNOTATION,
  SOURCE_LABEL,
} from '../../src/api/labels.ts';
import { API_VERSION, KIND, type RegistryCredential } from '../../src/api/schema.ts';
import { Caches } from '../../src/controller/caches.ts';
import { Digest } from '../../src/controller/digest.ts';
import { authEntry, renderDockerConfig } from '../../src/controller/dockerconfig.ts';
import { wireEventKeys } from '../../src/controller/event-keys.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { Reconciler, RetryableFailure } from '../../src/controller/reconciler.ts';
import { Validator } from '../../src/controller/validation/validator.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { FakeClient, type Call } from '../support/fake-client.ts';

const CREDS = 'creds';
const log = pino({ level: 'silent' });
const b64 = (s: string) => Buffer.from(s).toString('base64');

function credential(name: string, created: string, extra: Record<string, unknown> = {}, source = 'src'): RegistryCredential {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, uid: `uid-${name}`, generation: 1, creationTimestamp: created, finalizers: [FINALIZER] },
    spec: {
      registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: source, key: 'password' } } }],
      secretName: 'pull',
      namespaces: { include: ['team-*'] },
      ...extra,
    },
  } as RegistryCredential;
}

const namespace = (name: string): Namespace => ({ metadata: { name }, status: { phase: 'Active' } });
/** A source Secret, opted in unless told otherwise. */
const source = (name: string, password: string, optedIn = true): Secret => ({
  metadata: { name, namespace: CREDS, ...(optedIn ? { labels: { [SOURCE_LABEL]: 'true' } } : {}) },
  type: 'Opaque',
  data: { password: b64(password) },
});

function serviceAccount(ns: string, entries: string[] = [], ours: string[] = [], name = 'default'): ServiceAccount {
  return {
    metadata: { name, namespace: ns, ...(ours.length ? { annotations: { [SA_ENTRIES_ANNOTATION]: ours.join(',') } } : {}) },
    ...(entries.length ? { imagePullSecrets: entries.map((n) => ({ name: n })) } : {}),
  };
}

/** A Secret as the operator renders it for `holder` (its bytes do not matter to these tests). */
function held(ns: string, holder: string, ownerRef = true): Secret {
  return {
    metadata: {
      name: 'pull',
      namespace: ns,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: holder },
      annotations: { [HASH_ANNOTATION]: 'sha256:old' },
      ownerReferences: ownerRef ? [{ apiVersion: API_VERSION, kind: KIND, name: holder, uid: `uid-${holder}`, controller: true, blockOwnerDeletion: false }] : [],
    },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': b64('{"auths":{}}') },
  };
}

interface World {
  fake: FakeClient;
  digest: Digest;
  caches: Caches;
  reconciler: Reconciler;
  /** Keys the event mapping queued since the last `settle()`. */
  woken: string[];
  /** Lets every watch event on its way arrive. */
  drain(): Promise<void>;
  /** drain(), then forgets the keys woken so far. */
  settle(): Promise<void>;
}

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

async function world(seed: (f: FakeClient) => void, statusIntervalMs = 0, allowedSecretNames = ['pull', 'old-pull']): Promise<World> {
  const fake = new FakeClient();
  fake.seed(RESOURCES.namespaces, namespace(CREDS));
  seed(fake);
  const woken: string[] = [];
  const digest = Digest.random();
  const caches: Caches = new Caches(fake.client, log, { credentialsNamespace: CREDS, syncTimeoutMs: 1000, digest, allowedSecretNames });
  wireEventKeys(caches, (k) => woken.push(k));
  await caches.start();
  stops.push(() => caches.stop());
  const reconciler = new Reconciler(fake.client, caches, new EventRecorder(fake.client, log), log, { credentialsNamespace: CREDS, digest, maxConcurrentWrites: 4, statusIntervalMs });
  const drain = async () => {
    // Watch events are delivered on setImmediate; two rounds let every write's event arrive.
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  };
  const settle = async () => {
    await drain();
    woken.length = 0;
  };
  await settle();
  return { fake, digest, caches, reconciler, woken, drain, settle };
}

const writesTo = (calls: Call[], resource: string) => calls.filter((c) => c.resource === resource && c.verb !== 'get' && c.verb !== 'list');
const status = (w: World, name: string) => w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, name)?.status;
const ready = (w: World, name: string) => status(w, name)?.conditions?.find((c) => c.type === 'Ready');
const entries = (w: World, ns: string, name = 'default') => w.fake.object<ServiceAccount>(RESOURCES.serviceAccounts, ns, name)?.imagePullSecrets?.map((e) => e.name) ?? [];
const secret = (w: World, ns: string) => w.fake.object<Secret>(RESOURCES.secrets, ns, 'pull');

async function expectRetry(p: Promise<unknown>): Promise<RetryableFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(RetryableFailure);
  return err as RetryableFailure;
}

const TEAMS = ['team-a', 'team-b', 'team-c'];

/** Credential `rc` over TEAMS, its source Secret, and each namespace's `default` ServiceAccount. */
function seedTeams(f: FakeClient, password = 'pw'): void {
  f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
  f.seed(RESOURCES.secrets, source('src', password));
  f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
  f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns)));
}

describe('reconcile: credentials that share a secretName', () => {
  it('an older credential that cannot render takes nothing from the younger holder', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('older', '2024-01-01T00:00:00Z', {}, 'missing'), credential('younger', '2024-02-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), ...TEAMS.map((ns) => held(ns, 'younger')));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns, ['pull'], ['pull'])));
    });
    await w.reconciler.reconcile('younger');
    await w.reconciler.reconcile('older');
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
    expect(w.fake.calls.filter((c) => c.verb === 'delete')).toEqual([]);
    for (const ns of TEAMS) {
      expect(secret(w, ns)?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('younger');
      expect(entries(w, ns)).toEqual(['pull']);
    }
    expect(ready(w, 'younger')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(ready(w, 'older')).toMatchObject({ status: 'False', reason: 'SourceNotFound' });
  });

  it('hands a namespace over in place, in one write, when its holder can no longer render', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('older', '2024-01-01T00:00:00Z', {}, 'missing'), credential('younger', '2024-02-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), held('team-a', 'older'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a', ['pull'], ['pull']));
    });
    await w.reconciler.reconcile('younger');
    expect(writesTo(w.fake.calls, 'secrets')).toEqual([{ verb: 'replace', resource: 'secrets', namespace: 'team-a', name: 'pull' }]);
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
    const s = secret(w, 'team-a')!;
    expect(s.metadata.labels?.[CREDENTIAL_LABEL]).toBe('younger');
    expect(s.metadata.ownerReferences).toEqual([{ apiVersion: API_VERSION, kind: KIND, name: 'younger', uid: 'uid-younger', controller: true, blockOwnerDeletion: false }]);
    expect(Buffer.from(s.data!['.dockerconfigjson']!, 'base64').toString()).toContain('ghcr.io');
  });

  it('a deleted holder leaves its Secret for a rival to take over, and lets go only after the takeover', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('older', '2024-01-01T00:00:00Z'), credential('younger', '2024-02-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), held('team-a', 'older'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a', ['pull'], ['pull']));
    });
    w.fake.remove(RESOURCES.registryCredentials, credential('older', ''));
    await w.settle();
    const waiting = await w.reconciler.reconcile('older');
    expect(waiting).toMatchObject({ result: 'deleting' });
    expect(waiting.requeueAfterMs).toBeGreaterThan(0);
    expect(w.fake.writes().filter((c) => c.resource !== 'events')).toEqual([]);
    await w.reconciler.reconcile('younger');
    await w.settle();
    expect(await w.reconciler.reconcile('older')).toMatchObject({ result: 'deleted' });
    expect(w.fake.calls.filter((c) => c.verb === 'delete')).toEqual([]);
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
    expect(secret(w, 'team-a')?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('younger');
    expect(entries(w, 'team-a')).toEqual(['pull']);
    expect(w.fake.object(RESOURCES.registryCredentials, undefined, 'older')).toBeUndefined();
  });

  it('the current holder keeps a namespace when an older rival appears; both show the conflict', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('older', '2024-01-01T00:00:00Z'), credential('younger', '2024-02-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), held('team-a', 'younger'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
    });
    await w.reconciler.reconcile('older');
    await w.reconciler.reconcile('younger');
    expect(writesTo(w.fake.calls, 'secrets').filter((c) => c.name === 'pull' && c.verb !== 'replace')).toEqual([]);
    expect(secret(w, 'team-a')?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('younger');
    expect(status(w, 'older')?.failures).toEqual([
      { namespace: 'team-a', reason: 'SecretConflict', message: 'Secret team-a/pull is held by RegistryCredential younger, which also selects this namespace' },
    ]);
    expect(ready(w, 'younger')?.message).toContain('RegistryCredential older also wants Secrets this one holds');
  });
});

describe('reconcile: sources must opt in', () => {
  it('a source without the label gets SourceNotAllowed and writes nothing; once labelled the next reconcile renders', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw', false));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns)));
    });
    // It waits for its input: nothing is thrown, so the key is not retried with backoff.
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'source' });
    expect(ready(w, 'rc')).toMatchObject({ status: 'False', reason: 'SourceNotAllowed' });
    expect(ready(w, 'rc')?.message).toContain(`Secret ${CREDS}/src is not a source: it lacks the label ${SOURCE_LABEL}=true`);
    expect(writesTo(w.fake.calls, 'secrets')).toEqual([]);
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
    expect(w.fake.objects<Secret>(RESOURCES.secrets).map((x) => `${x.metadata.namespace}/${x.metadata.name}`)).toEqual([`${CREDS}/src`]);
    const events = w.fake.objects<{ metadata: { name: string }; reason: string; type: string }>(RESOURCES.events);
    expect(events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'SourceNotAllowed']]);
    await w.settle();

    const current = w.fake.object<Secret>(RESOURCES.secrets, CREDS, 'src')!;
    await w.fake.replace(RESOURCES.secrets, CREDS, 'src', { ...current, metadata: { ...current.metadata, labels: { [SOURCE_LABEL]: 'true' } } });
    await w.drain();
    expect(w.woken).toContain('rc');
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'synced' });
    expect(ready(w, 'rc')).toMatchObject({ status: 'True', reason: 'Synced' });
    for (const ns of TEAMS) {
      expect(secret(w, ns)?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('rc');
      expect(entries(w, ns)).toEqual(['pull']);
    }
  });

  it('a credential the annotation does not list is no contender: the namespaces go to the one it lists', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('older', '2024-01-01T00:00:00Z'), credential('younger', '2024-02-01T00:00:00Z'));
      const only = source('src', 'pw');
      only.metadata.annotations = { [ALLOWED_CREDENTIALS_ANNOTATION]: 'someone, younger' };
      f.seed(RESOURCES.secrets, only);
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
    });
    await w.reconciler.reconcile('younger');
    await w.reconciler.reconcile('older');
    for (const ns of TEAMS) expect(secret(w, ns)?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('younger');
    expect(ready(w, 'younger')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(ready(w, 'older')).toMatchObject({ status: 'False', reason: 'SourceNotAllowed' });
    expect(ready(w, 'older')?.message).toContain(`Secret ${CREDS}/src does not list RegistryCredential older in its annotation ${ALLOWED_CREDENTIALS_ANNOTATION}`);
  });
});

describe('reconcile: own writes and retries', () => {
  it('its own writes (finalizer, Secrets, entries, status) wake no key', async () => {
    const w = await world((f) => {
      const rc = credential('rc', '2024-01-01T00:00:00Z');
      rc.metadata.finalizers = [];
      f.seed(RESOURCES.registryCredentials, rc);
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns)));
    });
    const report = await w.reconciler.reconcile('rc');
    // Finalizer, Reconciling status, Secrets, entries, final status.
    expect(report.writes).toBe(1 + 1 + 3 + 3 + 1);
    await w.drain();
    expect(w.woken).toEqual([]);
  });

  it('when watch events arrive before the responses, no write of ours wakes a key and none stays pending', async () => {
    const w = await world((f) => seedTeams(f));
    await w.reconciler.reconcile('rc');
    await w.settle();
    w.woken.length = 0;
    w.fake.eventsBeforeResponse = true;
    await w.fake.create(RESOURCES.namespaces, undefined, namespace('team-z'));
    await w.fake.create(RESOURCES.serviceAccounts, 'team-z', serviceAccount('team-z'));
    await w.drain();
    expect(w.woken).toEqual(['rc/team-z', 'rc/team-z']);
    w.woken.length = 0;
    const report = await w.reconciler.reconcile('rc', { full: false, namespaces: new Set(['team-z']) });
    // The Secret, the entry and the status with the new counts.
    expect(report.writes).toBe(3);
    // The Secret's and the entry's events waited for their answers and were known as ours; the
    // status is known by what changed.
    await w.drain();
    expect(w.woken).toEqual([]);
    for (const i of [w.caches.credentials, ...w.caches.targetSecrets.all(), w.caches.serviceAccounts]) {
      expect(i.pendingOwnWrites).toBe(0);
      expect(i.unsettledWrites).toBe(0);
    }
  });

  it('a write someone else makes still wakes the key', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
    });
    await w.reconciler.reconcile('rc');
    await w.settle();
    await w.fake.delete(RESOURCES.secrets, 'team-a', 'pull');
    await w.drain();
    expect(w.woken).toContain('rc/team-a');
  });

  it.each([403, 422, 500])('a %i on a write is retried with backoff, after the status says so', async (code) => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'), namespace('team-b'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a'), serviceAccount('team-b'));
    });
    w.fake.failNext({ verb: 'create', resource: 'secrets', namespace: 'team-a' }, code);
    await expectRetry(w.reconciler.reconcile('rc'));
    expect(status(w, 'rc')?.namespaces).toEqual({ matched: 2, synced: 1, failed: 1 });
    // The entry waits for its Secret and so is neither written nor counted.
    expect(writesTo(w.fake.calls, 'serviceaccounts').map((c) => c.namespace)).toEqual(['team-b']);
    expect(status(w, 'rc')?.serviceAccounts).toEqual({ patched: 1 });
    // The failed write holds no watch event back.
    for (const i of [...w.caches.targetSecrets.all(), w.caches.serviceAccounts]) expect(i.unsettledWrites).toBe(0);
  });

  it('a ServiceAccount that kept conflicting five times is retried, not reported as done', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a'));
    });
    w.fake.failNext({ verb: 'patch', resource: 'serviceaccounts' }, 409, 5);
    await expectRetry(w.reconciler.reconcile('rc'));
    expect(status(w, 'rc')?.serviceAccounts).toEqual({ patched: 0 });
    await w.reconciler.reconcile('rc');
    expect(entries(w, 'team-a')).toEqual(['pull']);
    expect(status(w, 'rc')?.serviceAccounts).toEqual({ patched: 1 });
  });

  it('a 429 stops the rest of the reconcile and makes Retry-After the floor for the key', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
    });
    w.fake.failNext({ verb: 'create', resource: 'secrets' }, 429, 1, 7);
    const err = await expectRetry(new Reconciler(w.fake.client, w.caches, new EventRecorder(w.fake.client, log), log, { credentialsNamespace: CREDS, digest: w.digest, maxConcurrentWrites: 1 }).reconcile('rc'));
    expect(err.retryAfterSeconds).toBe(7);
    expect(writesTo(w.fake.calls, 'secrets')).toHaveLength(1);
    expect(status(w, 'rc')?.namespaces).toEqual({ matched: 3, synced: 0, failed: 3 });
  });

  it('an invalid spec waits for its input: status says so and nothing is thrown', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { registries: [] }));
    });
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'invalid' });
    expect(ready(w, 'rc')).toMatchObject({ status: 'False', reason: 'InvalidSpec' });
  });

  it('writes nothing at all when everything is in place', async () => {
    const w = await world((f) => seedTeams(f));
    await w.reconciler.reconcile('rc');
    await w.settle();
    const before = w.fake.writes().length;
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'synced', writes: 0 });
    expect(w.fake.writes().length).toBe(before);
  });
});

describe('reconcile: cleanup', () => {
  function deletable(policy: 'Delete' | 'Retain') {
    return world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { deletionPolicy: policy }));
      f.seed(RESOURCES.secrets, source('src', 'pw'), held('team-a', 'rc'));
      f.seed(RESOURCES.namespaces, namespace('team-a'), namespace('team-b'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a', ['other', 'pull'], ['pull']), serviceAccount('team-b', ['pull'], ['pull']));
    });
  }

  it('under Delete a failed entry removal blocks the Secret\'s deletion and keeps the finalizer', async () => {
    const w = await deletable('Delete');
    w.fake.remove(RESOURCES.registryCredentials, credential('rc', ''));
    await w.settle();
    w.fake.failNext({ verb: 'patch', resource: 'serviceaccounts', namespace: 'team-a' }, 500);
    await expectRetry(w.reconciler.reconcile('rc'));
    expect(secret(w, 'team-a')).toBeDefined();
    expect(w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, 'rc')?.metadata.finalizers).toEqual([FINALIZER]);

    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'deleted' });
    expect(secret(w, 'team-a')).toBeUndefined();
    expect(entries(w, 'team-a')).toEqual(['other']);
    // The entry in team-b had lost its Secret already: our annotation still leads to it.
    expect(entries(w, 'team-b')).toEqual([]);
    expect(w.fake.object(RESOURCES.registryCredentials, undefined, 'rc')).toBeUndefined();
  });

  it('under Delete keeps an entry that now serves a Secret someone else made, even in a process that never reconciled the credential', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      const theirs: Secret = { metadata: { name: 'pull', namespace: 'team-a' }, type: 'kubernetes.io/dockerconfigjson', data: {} };
      f.seed(RESOURCES.secrets, source('src', 'pw'), theirs);
      f.seed(RESOURCES.namespaces, namespace('team-a'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a', ['pull'], ['pull']));
    });
    w.fake.remove(RESOURCES.registryCredentials, credential('rc', ''));
    await w.settle();
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'deleted' });
    expect(entries(w, 'team-a')).toEqual(['pull']);
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
  });

  it('under Retain keeps every Secret and entry and drops our ownerReference before letting go', async () => {
    const w = await deletable('Retain');
    w.fake.remove(RESOURCES.registryCredentials, credential('rc', ''));
    await w.settle();
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'deleted' });
    expect(secret(w, 'team-a')?.metadata.ownerReferences ?? []).toEqual([]);
    expect(entries(w, 'team-a')).toEqual(['other', 'pull']);
    expect(w.fake.calls.filter((c) => c.verb === 'delete')).toEqual([]);
  });

  it('under Retain the Secrets it writes carry no ownerReference at all, and the owner annotation names the credential\'s UID', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { deletionPolicy: 'Retain' }));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
    });
    await w.reconciler.reconcile('rc');
    expect(secret(w, 'team-a')?.metadata.ownerReferences).toEqual([]);
    expect(secret(w, 'team-a')?.metadata.annotations?.[OWNER_UID_ANNOTATION]).toBe('uid-rc');
    // Converged: the owner annotation counts as the owner mark, so nothing is written again.
    w.fake.calls.length = 0;
    await w.settle();
    await w.reconciler.reconcile('rc');
    expect(writesTo(w.fake.calls, 'secrets')).toEqual([]);
  });
});

describe('reconcile: ownership by UID', () => {
  /** Our labels naming `rc`, without an owner mark (copied), or marked with another UID. */
  const copied = (ns: string, uid?: string): Secret => {
    const s = held(ns, 'rc', false);
    if (uid) s.metadata.ownerReferences = [{ apiVersion: API_VERSION, kind: KIND, name: 'rc', uid, controller: true, blockOwnerDeletion: false }];
    return s;
  };

  it.each<[string, string | undefined]>([
    ['labels alone (a copy)', undefined],
    ['an ownerReference to an earlier credential of the same name', 'uid-earlier'],
  ])('a Secret with %s is never updated, deleted or counted', async (_name, uid) => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { namespaces: { include: ['team-a', 'team-b'] } }));
      f.seed(RESOURCES.secrets, source('src', 'pw'), copied('team-a', uid), copied('gone-c', uid));
      f.seed(RESOURCES.namespaces, namespace('team-a'), namespace('team-b'), namespace('gone-c'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount('team-a'), serviceAccount('team-b'));
    });
    const before = w.fake.objects<Secret>(RESOURCES.secrets).map((x) => `${x.metadata.namespace}/${x.metadata.resourceVersion}`);
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'partial' });
    const writes = writesTo(w.fake.calls, 'secrets');
    expect(writes.map((c) => `${c.verb} ${c.namespace}`)).toEqual(['create team-b']);
    expect(w.fake.objects<Secret>(RESOURCES.secrets).filter((x) => x.metadata.namespace !== 'team-b').map((x) => `${x.metadata.namespace}/${x.metadata.resourceVersion}`)).toEqual(before);
    const st = status(w, 'rc');
    expect(st?.namespaces).toEqual({ matched: 2, synced: 1, failed: 1 });
    expect(st?.failures).toEqual([{ namespace: 'team-a', reason: 'SecretConflict', message: expect.stringContaining("carries regcred-operator's labels but no owner reference to an existing RegistryCredential") }]);
    expect(entries(w, 'team-a')).toEqual([]);
  });

  it('under Delete leaves such a Secret in place when the credential goes', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), copied('team-a'), copied('other-b'));
      f.seed(RESOURCES.namespaces, namespace('team-a'), namespace('other-b'));
    });
    w.fake.remove(RESOURCES.registryCredentials, credential('rc', ''));
    await w.settle();
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'deleted' });
    expect(w.fake.calls.filter((c) => c.verb === 'delete' && c.resource === 'secrets')).toEqual([]);
    expect(secret(w, 'team-a')).toBeDefined();
    expect(secret(w, 'other-b')).toBeDefined();
  });
});

describe('reconcile: allowed Secret names', () => {
  it('a secretName the operator may not write gets SecretNameNotAllowed and an Event, and nothing is written or watched for it', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { secretName: 'elsewhere' }));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns)));
    });
    // It waits for its input: a retry cannot help.
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'invalid' });
    expect(ready(w, 'rc')).toMatchObject({ status: 'False', reason: 'SecretNameNotAllowed' });
    expect(ready(w, 'rc')?.message).toContain('secretName "elsewhere" is not one the operator may write (allowed: pull, old-pull)');
    expect(writesTo(w.fake.calls, 'secrets')).toEqual([]);
    expect(writesTo(w.fake.calls, 'serviceaccounts')).toEqual([]);
    expect(w.caches.targetSecrets.names).toEqual(['pull', 'old-pull']);
    const events = w.fake.objects<{ metadata: { name: string }; reason: string; type: string }>(RESOURCES.events);
    expect(events.map((e) => [e.type, e.reason])).toEqual([['Warning', 'SecretNameNotAllowed']]);
  });
});

describe('reconcile: incremental work', () => {
  const only = (...namespaces: string[]) => ({ full: false, namespaces: new Set(namespaces) });
  const converged = (statusIntervalMs = 0) => world((f) => seedTeams(f), statusIntervalMs);

  it('a new namespace costs its own writes only, and the counts follow', async () => {
    const w = await converged();
    await w.reconciler.reconcile('rc');
    await w.fake.create(RESOURCES.namespaces, undefined, namespace('team-d'));
    await w.fake.create(RESOURCES.serviceAccounts, 'team-d', serviceAccount('team-d'));
    await w.settle();
    const before = w.fake.calls.length;
    await w.reconciler.reconcile('rc', only('team-d'));
    expect(w.fake.calls.slice(before).filter((c) => c.resource !== 'events')).toEqual([
      { verb: 'create', resource: 'secrets', namespace: 'team-d', name: 'pull' },
      { verb: 'patch', resource: 'serviceaccounts', namespace: 'team-d', name: 'default' },
      { verb: 'patch', resource: 'registrycredentials', name: 'rc', subresource: 'status' },
    ]);
    expect(status(w, 'rc')?.namespaces).toEqual({ matched: 4, synced: 4, failed: 0 });
    expect(status(w, 'rc')?.serviceAccounts).toEqual({ patched: 4 });
  });

  it('a namespace that stops matching leaves the counts, and its Secret goes under Delete', async () => {
    const w = await converged();
    await w.reconciler.reconcile('rc');
    await w.fake.patch(RESOURCES.namespaces, undefined, 'team-c', { metadata: { labels: { 'regcred.dev/ignore': 'true' } } });
    await w.settle();
    await w.reconciler.reconcile('rc', only('team-c'));
    expect(secret(w, 'team-c')).toBeUndefined();
    expect(entries(w, 'team-c')).toEqual([]);
    expect(status(w, 'rc')?.namespaces).toEqual({ matched: 2, synced: 2, failed: 0 });
  });

  it('without a full pass yet (a fresh process) namespace work becomes a full pass', async () => {
    const w = await converged();
    await w.reconciler.reconcile('rc', only('team-a'));
    expect(status(w, 'rc')?.namespaces).toEqual({ matched: 3, synced: 3, failed: 0 });
  });

  it('records Events only when Ready changes, never one per namespace', async () => {
    const w = await converged();
    await w.reconciler.reconcile('rc');
    for (const ns of ['team-d', 'team-e']) {
      await w.fake.create(RESOURCES.namespaces, undefined, namespace(ns));
      await w.settle();
      await w.reconciler.reconcile('rc', only(ns));
    }
    const events = w.fake.objects<{ metadata: { name: string }; reason: string }>(RESOURCES.events).map((e) => e.reason);
    expect(events).toEqual(['Synced']);
    expect(status(w, 'rc')?.namespaces?.matched).toBe(5);
  });

  it('writes the status at most once per interval and leaves the rest to a run at its end', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2024-06-01T00:00:00Z'));
      const w = await converged(1000);
      await w.reconciler.reconcile('rc');
      const statusWrites = () => w.fake.calls.filter((c) => c.subresource === 'status').length;
      // The Reconciling status before the first pass is not held to the interval: the result follows at once.
      expect(statusWrites()).toBe(2);
      await w.fake.create(RESOURCES.namespaces, undefined, namespace('team-d'));
      await w.settle();
      vi.setSystemTime(new Date('2024-06-01T00:00:00.400Z'));
      const early = await w.reconciler.reconcile('rc', only('team-d'));
      expect(statusWrites()).toBe(2);
      expect(early.requeueAfterMs).toBe(600);
      vi.setSystemTime(new Date('2024-06-01T00:00:01Z'));
      await w.reconciler.reconcile('rc', only());
      expect(statusWrites()).toBe(3);
      expect(status(w, 'rc')?.namespaces).toEqual({ matched: 4, synced: 4, failed: 0 });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('reconcile: digests', () => {
  const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');
  /** Everything the operator wrote outside the managed Secrets' data. */
  const visible = (w: World) => JSON.stringify([
    status(w, 'rc'),
    w.fake.objects(RESOURCES.events),
    TEAMS.map((ns) => secret(w, ns)?.metadata),
  ]);

  it('status, annotations and the Rotated Event carry the keyed digest, never a plain sha256 of the bytes or of an auth', async () => {
    const w = await world((f) => seedTeams(f, 'first-pw'));
    await w.reconciler.reconcile('rc');
    const bytes = Buffer.from(secret(w, 'team-a')!.data!['.dockerconfigjson']!, 'base64');
    const first = status(w, 'rc')?.credentialHash;
    expect(first).toBe(w.digest.of(bytes));
    expect(first).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    for (const ns of TEAMS) expect(secret(w, ns)?.metadata.annotations?.[HASH_ANNOTATION]).toBe(first);

    await w.fake.patch(RESOURCES.secrets, CREDS, 'src', { data: { password: b64('second-pw') } });
    await w.settle();
    await w.reconciler.reconcile('rc');
    const rotated = Buffer.from(secret(w, 'team-a')!.data!['.dockerconfigjson']!, 'base64');
    expect(status(w, 'rc')?.credentialHash).toBe(w.digest.of(rotated));
    expect(status(w, 'rc')?.credentialHash).not.toBe(first);
    expect(w.fake.objects<{ metadata: { name: string }; reason: string }>(RESOURCES.events).map((e) => e.reason)).toContain('Rotated');

    const seen = visible(w);
    for (const config of [bytes, rotated]) {
      const auth = (JSON.parse(config.toString()) as { auths: Record<string, { auth: string }> }).auths['ghcr.io']!.auth;
      for (const plain of [sha256(config), sha256(auth), sha256(Buffer.from(auth, 'base64'))]) expect(seen).not.toContain(plain);
    }
    expect(seen).toContain(w.digest.of(rotated));
  });

  it('a Secret an older version wrote (a sha256: annotation on the right bytes) is rewritten once, then left alone', async () => {
    const bytes = renderDockerConfig([{ label: 'registries[0]', auths: { 'ghcr.io': authEntry('u', 'pw') } }], Digest.random()).bytes;
    const old = (ns: string): Secret => {
      const s = held(ns, 'rc');
      s.metadata.annotations = { [HASH_ANNOTATION]: `sha256:${sha256(bytes)}` };
      s.data = { '.dockerconfigjson': bytes.toString('base64') };
      return s;
    };
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z'));
      f.seed(RESOURCES.secrets, source('src', 'pw'), ...TEAMS.map(old));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns, ['pull'], ['pull'])));
    });
    await w.reconciler.reconcile('rc');
    expect(writesTo(w.fake.calls, 'secrets')).toEqual(TEAMS.map((ns) => ({ verb: 'replace', resource: 'secrets', namespace: ns, name: 'pull' })));
    for (const ns of TEAMS) {
      expect(secret(w, ns)?.data?.['.dockerconfigjson']).toBe(bytes.toString('base64'));
      expect(secret(w, ns)?.metadata.annotations?.[HASH_ANNOTATION]).toBe(w.digest.of(bytes));
    }
    await w.settle();
    const before = w.fake.writes().length;
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'synced', writes: 0 });
    expect(w.fake.writes().length).toBe(before);
  });
});

describe('reconcile: validation', () => {
  it('hands the rendered credentials to the validator without waiting for it, and writes its results into the status when woken', async () => {
    const w = await world((f) => seedTeams(f));
    const woken: string[] = [];
    const probed: string[] = [];
    const validator = new Validator({
      wake: (c) => woken.push(c),
      probe: async (t) => {
        probed.push(`${t.server} ${t.username}`);
        return { server: t.server, result: 'Unauthorized', message: 'HTTP 401 from the registry' };
      },
    });
    stops.push(() => validator.stop());
    const reconciler = new Reconciler(w.fake.client, w.caches, new EventRecorder(w.fake.client, log), log, {
      credentialsNamespace: CREDS, digest: w.digest, maxConcurrentWrites: 4, validator,
    });
    await reconciler.reconcile('rc');
    // Propagation did not wait: Ready is written with CredentialsValid still Unknown.
    expect(ready(w, 'rc')).toMatchObject({ status: 'True', reason: 'Synced' });
    expect(status(w, 'rc')?.conditions?.find((c) => c.type === 'CredentialsValid')).toMatchObject({ status: 'Unknown', reason: 'NotChecked' });
    await eventuallyTrue(() => woken.length === 1);
    expect(probed).toEqual(['ghcr.io u']);

    w.fake.calls.length = 0;
    await reconciler.reconcile('rc', { full: false, namespaces: new Set() });
    // The run a finished check causes writes the status alone.
    expect(w.fake.writes().map((c) => `${c.verb} ${c.resource}${c.subresource ? `/${c.subresource}` : ''}`)).toEqual(['patch registrycredentials/status', 'create events']);
    const st = status(w, 'rc')!;
    expect(st.conditions?.find((c) => c.type === 'CredentialsValid')).toMatchObject({ status: 'False', reason: 'Unauthorized', message: 'ghcr.io: Unauthorized (HTTP 401 from the registry)' });
    expect(st.registries).toEqual([{ server: 'ghcr.io', result: 'Unauthorized', message: 'HTTP 401 from the registry', checkedAt: expect.any(String) }]);
    expect(JSON.stringify(st)).not.toContain(b64('u:pw'));
    const events = w.fake.objects<{ metadata: { name: string }; reason: string; type: string }>(RESOURCES.events);
    expect(events.map((e) => [e.type, e.reason])).toContainEqual(['Warning', 'RegistryInvalid']);
    // Nothing new to check: the next reconcile probes nothing.
    await reconciler.reconcile('rc');
    await new Promise((r) => setImmediate(r));
    expect(probed).toHaveLength(1);
  });

  it('with validation turned off probes nothing and says so', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { validation: { enabled: false } }));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
    });
    const probe = vi.fn();
    const validator = new Validator({ wake: () => undefined, probe });
    stops.push(() => validator.stop());
    const reconciler = new Reconciler(w.fake.client, w.caches, new EventRecorder(w.fake.client, log), log, {
      credentialsNamespace: CREDS, digest: w.digest, maxConcurrentWrites: 4, validator,
    });
    await reconciler.reconcile('rc');
    expect(probe).not.toHaveBeenCalled();
    expect(status(w, 'rc')?.conditions?.find((c) => c.type === 'CredentialsValid')).toMatchObject({ status: 'Unknown', reason: 'ValidationDisabled' });
  });
});

describe('reconcile: GitOps status and control', () => {
  const kinds = (w: World) => (status(w, 'rc')?.conditions ?? []).map((c) => `${c.type}=${c.status}/${c.reason}`);
  const secretAndSaWrites = (w: World) => w.fake.writes().filter((c) => c.resource === 'secrets' || c.resource === 'serviceaccounts');

  it('writes Reconciling=True as the first status of a new object, then the result without it', async () => {
    const w = await world((f) => seedTeams(f));
    const patch = vi.spyOn(w.fake, 'patch');
    await w.reconciler.reconcile('rc');
    const statuses = patch.mock.calls.filter((c) => c[5] === 'status').map((c) => (c[3] as { status: RegistryCredential['status'] }).status!);
    expect(statuses).toHaveLength(2);
    expect(statuses[0]!.observedGeneration).toBe(1);
    expect(statuses[0]!.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=Unknown', 'Reconciling=True']);
    expect(kinds(w)).toEqual(['Ready=True/Synced']);
    // The Reconciling status comes before any Secret is written.
    const order = w.fake.writes().map((c) => c.subresource ?? c.resource);
    expect(order.indexOf('status')).toBeLessThan(order.indexOf('secrets'));
  });

  it('writes no Reconciling status again while the generation is observed', async () => {
    const w = await world((f) => seedTeams(f));
    await w.reconciler.reconcile('rc');
    await w.settle();
    const before = w.fake.writes().length;
    await w.reconciler.reconcile('rc');
    expect(w.fake.writes().length).toBe(before);
  });

  it('keeps Reconciling=True while writes are retried, and drops it once they succeed', async () => {
    const w = await world((f) => seedTeams(f));
    w.fake.failNext({ verb: 'create', resource: 'secrets', namespace: 'team-b' }, 500, 1);
    await expectRetry(w.reconciler.reconcile('rc'));
    expect(kinds(w)).toEqual(['Ready=False/PartiallySynced', 'Reconciling=True/RetryingWrites']);
    await w.settle();
    await w.reconciler.reconcile('rc');
    expect(kinds(w)).toEqual(['Ready=True/Synced']);
  });

  it('is Stalled on a missing source, and no longer once it appears', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', {}, 'missing'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
    });
    await w.reconciler.reconcile('rc');
    expect(kinds(w)).toEqual(['Ready=False/SourceNotFound', 'Stalled=True/SourceNotFound']);
    await w.fake.create(RESOURCES.secrets, CREDS, source('missing', 'pw'));
    await w.settle();
    await w.reconciler.reconcile('rc');
    expect(kinds(w)).toEqual(['Ready=True/Synced']);
  });

  it('suspended: writes no Secret or ServiceAccount, says Suspended, and resumes with a full pass', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('rc', '2024-01-01T00:00:00Z', { suspend: true }));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, ...TEAMS.map(namespace));
      f.seed(RESOURCES.serviceAccounts, ...TEAMS.map((ns) => serviceAccount(ns)));
    });
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'suspended' });
    expect(secretAndSaWrites(w)).toEqual([]);
    expect(kinds(w)).toEqual(['Ready=True/Suspended']);
    expect(status(w, 'rc')?.observedGeneration).toBe(1);
    const events = w.fake.objects<{ metadata: { name: string }; reason: string; type: string }>(RESOURCES.events);
    expect(events.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Suspended']]);

    // A namespace appearing meanwhile changes nothing either.
    await w.fake.create(RESOURCES.namespaces, undefined, namespace('team-d'));
    await w.settle();
    await w.reconciler.reconcile('rc', { full: false, namespaces: new Set(['team-d']) });
    expect(secretAndSaWrites(w)).toEqual([]);

    const rc = w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, 'rc')!;
    await w.fake.replace(RESOURCES.registryCredentials, undefined, 'rc', { ...rc, metadata: { ...rc.metadata, generation: 2 }, spec: { ...rc.spec, suspend: false } });
    await w.settle();
    await w.reconciler.reconcile('rc', { full: false, namespaces: new Set() });
    expect(kinds(w)).toEqual(['Ready=True/Synced']);
    for (const ns of [...TEAMS, 'team-d']) expect(secret(w, ns)?.metadata.labels?.[CREDENTIAL_LABEL]).toBe('rc');
  });

  it('suspended: leaves Secrets and entries in place, and deletion still cleans them up', async () => {
    const w = await world((f) => seedTeams(f));
    await w.reconciler.reconcile('rc');
    await w.settle();
    const rc = w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, 'rc')!;
    await w.fake.replace(RESOURCES.registryCredentials, undefined, 'rc', { ...rc, metadata: { ...rc.metadata, generation: 2 }, spec: { ...rc.spec, suspend: true } });
    await w.fake.patch(RESOURCES.secrets, CREDS, 'src', { data: { password: b64('rotated') } });
    await w.settle();
    const before = w.fake.writes().length;
    await w.reconciler.reconcile('rc');
    const since = w.fake.writes().slice(before);
    expect(since.filter((c) => c.resource === 'secrets' || c.resource === 'serviceaccounts')).toEqual([]);
    for (const ns of TEAMS) expect(secret(w, ns)).toBeDefined();

    w.fake.remove(RESOURCES.registryCredentials, w.fake.object<RegistryCredential>(RESOURCES.registryCredentials, undefined, 'rc')!);
    await w.settle();
    expect(await w.reconciler.reconcile('rc')).toMatchObject({ result: 'deleted' });
    for (const ns of TEAMS) {
      expect(secret(w, ns)).toBeUndefined();
      expect(entries(w, ns)).toEqual([]);
    }
  });

  it('a new reconcile.regcred.dev/requestedAt wakes a full pass, and the value handled is echoed', async () => {
    const w = await world((f) => seedTeams(f));
    await w.reconciler.reconcile('rc');
    await w.settle();
    expect(status(w, 'rc')?.lastHandledReconcileAt).toBeUndefined();
    await w.fake.patch(RESOURCES.registryCredentials, undefined, 'rc', { metadata: { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: '2024-06-01T12:00:00Z' } } });
    await w.drain();
    // The credential's own key (no namespace): a full pass.
    expect(w.woken).toEqual(['rc']);
    // Someone deleted a Secret behind the caches' back: a full pass puts it back.
    await w.fake.delete(RESOURCES.secrets, 'team-b', 'pull');
    await w.settle();
    await w.reconciler.reconcile('rc');
    expect(status(w, 'rc')?.lastHandledReconcileAt).toBe('2024-06-01T12:00:00Z');
    expect(secret(w, 'team-b')).toBeDefined();
  });

  it('a suspended credential does not echo a request: none was handled', async () => {
    const w = await world((f) => {
      const rc = credential('rc', '2024-01-01T00:00:00Z', { suspend: true });
      rc.metadata.annotations = { [RECONCILE_REQUESTED_ANNOTATION]: 'now' };
      f.seed(RESOURCES.registryCredentials, rc);
      f.seed(RESOURCES.secrets, source('src', 'pw'));
    });
    await w.reconciler.reconcile('rc');
    expect(status(w, 'rc')?.lastHandledReconcileAt).toBeUndefined();
  });

  it('never writes into the credentials namespace unless include names it exactly', async () => {
    const w = await world((f) => {
      f.seed(RESOURCES.registryCredentials, credential('wide', '2024-01-01T00:00:00Z', { secretName: 'pull', namespaces: { include: ['*'] } }));
      f.seed(RESOURCES.registryCredentials, credential('named', '2024-01-01T00:00:00Z', { secretName: 'old-pull', namespaces: { include: [CREDS] } }));
      f.seed(RESOURCES.secrets, source('src', 'pw'));
      f.seed(RESOURCES.namespaces, namespace('team-a'));
      f.seed(RESOURCES.serviceAccounts, serviceAccount(CREDS), serviceAccount('team-a'));
    });
    await w.reconciler.reconcile('wide');
    expect(status(w, 'wide')?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    expect(w.fake.object<Secret>(RESOURCES.secrets, CREDS, 'pull')).toBeUndefined();
    expect(entries(w, CREDS)).toEqual([]);
    await w.reconciler.reconcile('named');
    expect(status(w, 'named')?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    expect(w.fake.object<Secret>(RESOURCES.secrets, CREDS, 'old-pull')).toBeDefined();
    expect(entries(w, CREDS)).toEqual(['old-pull']);
  });
});

async function eventuallyTrue(check: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}
