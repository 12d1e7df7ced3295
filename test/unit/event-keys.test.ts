// The event → key mapping on real informers filled from the in-memory API server: which
// RegistryCredentials each change wakes.
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ALLOWED_CREDENTIALS_ANNOTATION, CREDENTIAL_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SA_ENTRIES_ANNOTATION, SOURCE_LABEL } from '../../src/api/labels.ts';
import { API_VERSION, KIND, type RegistryCredential } from '../../src/api/schema.ts';
import { Caches } from '../../src/controller/caches.ts';
import { Digest } from '../../src/controller/digest.ts';
import {
  credentialChanged,
  parseWorkKey,
  keysForCredential,
  keysForNamespace,
  keysForServiceAccount,
  keysForSourceSecret,
  keysForTargetSecret,
} from '../../src/controller/event-keys.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Namespace, Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { FakeClient } from '../support/fake-client.ts';

const log = pino({ level: 'silent' });

function rc(name: string, spec: Record<string, unknown>): RegistryCredential {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: { name, uid: `uid-${name}`, generation: 1 },
    spec: { registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: `${name}-src`, key: 'password' } } }], ...spec },
  } as RegistryCredential;
}

const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

async function caches(): Promise<Caches> {
  const fake = new FakeClient();
  fake.seed(
    RESOURCES.registryCredentials,
    rc('a', { secretName: 'pull', namespaces: { include: ['team-*'] } }),
    rc('b', { secretName: 'pull', namespaces: { include: ['ops-*'] } }),
    rc('c', { secretName: 'other', namespaces: { include: ['ops-*'] } }),
    // Fails validation: still a contender for its secretName as far as waking goes.
    rc('broken', { secretName: 'pull', registries: [] }),
  );
  fake.seed(RESOURCES.namespaces, { metadata: { name: 'team-x' } } as Namespace, { metadata: { name: 'elsewhere' } } as Namespace);
  fake.seed(RESOURCES.secrets, {
    metadata: { name: 'other', namespace: 'elsewhere', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: 'c' } },
  } as Secret);
  const c = new Caches(fake.client, log, { credentialsNamespace: 'creds', syncTimeoutMs: 1000, digest: Digest.random(), allowedSecretNames: ['pull', 'other'] });
  await c.start();
  stops.push(() => c.stop());
  return c;
}

const sorted = (s: Set<string>) => [...s].sort();

describe('event → keys', () => {
  it('a credential wakes a full pass of every credential that shares its secretName, before and after the change', async () => {
    const c = await caches();
    const a = c.credentials.get(undefined, 'a')!;
    expect(sorted(keysForCredential(c, a, undefined))).toEqual(['a', 'b', 'broken']);
    const renamed = { ...a, metadata: { ...a.metadata, generation: 2 }, spec: { ...a.spec, secretName: 'other' } } as RegistryCredential;
    expect(sorted(keysForCredential(c, renamed, a))).toEqual(['a', 'b', 'broken', 'c']);
  });

  it('a change of status alone (our own write, whichever arrives first) is no change; spec, deletion, finalizers, labels and annotations are', () => {
    const a = rc('a', { secretName: 'pull' });
    const withStatus = { ...a, metadata: { ...a.metadata, resourceVersion: '9' }, status: { matchedNamespaces: 3 } } as RegistryCredential;
    expect(credentialChanged(withStatus, a)).toBe(false);
    const meta = (m: Partial<RegistryCredential['metadata']>) => ({ ...a, metadata: { ...a.metadata, ...m } }) as RegistryCredential;
    expect(credentialChanged(meta({ generation: 2 }), a)).toBe(true);
    expect(credentialChanged(meta({ deletionTimestamp: '2026-11-29T10:00:00Z' }), a)).toBe(true);
    expect(credentialChanged(meta({ finalizers: ['x'] }), a)).toBe(true);
    expect(credentialChanged(meta({ labels: { team: 'a' } }), a)).toBe(true);
    expect(credentialChanged(meta({ annotations: { note: 'x' } }), a)).toBe(true);
    expect(credentialChanged(a, undefined)).toBe(true);
  });

  it('a deleted credential still wakes its rivals', async () => {
    const c = await caches();
    const gone = rc('gone', { secretName: 'pull' });
    expect(sorted(keysForCredential(c, gone, gone))).toEqual(['a', 'b', 'broken', 'gone']);
  });

  it('a namespace wakes that namespace alone of the credentials that select it (now or before), those that manage in it, and their rivals', async () => {
    const c = await caches();
    expect(sorted(keysForNamespace(c, { metadata: { name: 'team-x' } }, undefined))).toEqual(['a/team-x', 'b/team-x', 'broken/team-x']);
    expect(sorted(keysForNamespace(c, { metadata: { name: 'elsewhere' } }, undefined))).toEqual(['c/elsewhere']);
    expect(sorted(keysForNamespace(c, { metadata: { name: 'nowhere' } }, undefined))).toEqual([]);
  });

  it('a ServiceAccount wakes the credentials selecting its namespace and whoever our annotation names', async () => {
    const c = await caches();
    const plain: ServiceAccount = { metadata: { name: 'default', namespace: 'team-x' } };
    expect(sorted(keysForServiceAccount(c, plain, undefined))).toEqual(['a/team-x']);
    const annotated: ServiceAccount = { metadata: { name: 'default', namespace: 'nowhere', annotations: { [SA_ENTRIES_ANNOTATION]: 'other' } } };
    expect(sorted(keysForServiceAccount(c, annotated, undefined))).toEqual(['c/nowhere']);
  });

  it('a source Secret wakes a full pass of the credentials that read it and their rivals', async () => {
    const c = await caches();
    expect(sorted(keysForSourceSecret(c, { metadata: { name: 'a-src', namespace: 'creds' } }))).toEqual(['a', 'b', 'broken']);
    expect(sorted(keysForSourceSecret(c, { metadata: { name: 'unread', namespace: 'creds' } }))).toEqual([]);
  });

  it('a source Secret whose opt-in label or allowed-credentials annotation changed wakes the same keys: they decide whether it may be read', async () => {
    const c = await caches();
    const optedIn: Secret = { metadata: { name: 'a-src', namespace: 'creds', labels: { [SOURCE_LABEL]: 'true' }, annotations: { [ALLOWED_CREDENTIALS_ANNOTATION]: 'b' } } };
    expect(sorted(keysForSourceSecret(c, optedIn))).toEqual(['a', 'b', 'broken']);
  });

  it('a Secret of an allowed name wakes its namespace of its holder, its former holder and all that render to its name', async () => {
    const c = await caches();
    const mine = (holder: string): Secret => ({ metadata: { name: 'pull', namespace: 'team-x', labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: holder } } });
    expect(sorted(keysForTargetSecret(c, mine('b'), mine('a')))).toEqual(['a/team-x', 'b/team-x', 'broken/team-x']);
    expect(sorted(keysForTargetSecret(c, { metadata: { name: 'other', namespace: 'ns' } }, undefined))).toEqual(['c/ns']);
  });
});

describe('parseWorkKey', () => {
  it('tells a full pass from the work of one namespace', () => {
    expect(parseWorkKey('rc')).toEqual({ credential: 'rc' });
    expect(parseWorkKey('rc.example/team-a')).toEqual({ credential: 'rc.example', namespace: 'team-a' });
  });
});
