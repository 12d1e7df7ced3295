// No guessable digest on the real control plane: what the operator writes outside the managed
// Secrets' data (status, annotations, Events) and what it logs carries an HMAC under the
// installation's key, never a plain sha256 of the rendered bytes or of an auth entry, which would
// let anyone who can read RegistryCredentials or Events test password guesses offline. The key is
// made once and kept: a restart rewrites nothing; a Secret an older version wrote is rewritten once.
import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { eventually } from '../support/cluster.ts';
import { decode, Scenario } from '../support/scenario.ts';

const KEY_SECRET = 'regcred-operator-digest-key';
const HASH_ANNOTATION = 'regcred.dev/credential-hash';

const s = new Scenario('digest');
beforeAll(() => s.setup());
afterAll(() => s.teardown());

const registries = [
  { server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'digest-src', key: 'acme' } } },
  { server: 'ghcr.io', username: 'gh-bot', passwordFrom: { secretKeyRef: { name: 'digest-src', key: 'ghcr' } } },
];
const name = `${s.id}-cred`;
const SECRET_NAME = 'digest-pull';
let namespaces: string[] = [];

interface Event { reason: string; type: string; note?: string; regarding: { name: string } }
const eventsOfCredential = async () => (await s.client.list<Event>(RESOURCES.events, 'default')).items.filter((e) => e.regarding.name === name);
const managedSecrets = () => Promise.all(namespaces.map((ns) => s.getSecret(ns, SECRET_NAME)));
const keySecret = () => s.client.get<Secret>(RESOURCES.secrets, s.credentialsNamespace, KEY_SECRET);
const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** The plain sha256 hex of the rendered bytes and of every auth entry (as written and decoded): none may be shown. */
async function plainDigests(): Promise<string[]> {
  const bytes = Buffer.from((await s.getSecret(namespaces[0]!, SECRET_NAME)).data!['.dockerconfigjson']!, 'base64');
  const auths = Object.values((JSON.parse(bytes.toString('utf8')) as { auths: Record<string, { auth: string }> }).auths).map((a) => a.auth);
  expect(auths).toHaveLength(registries.length);
  return [sha256(bytes), ...auths.flatMap((auth) => [sha256(auth), sha256(Buffer.from(auth, 'base64'))])];
}

/** Everything the operator wrote that people read besides the Secrets' data, and its log. */
async function shown(): Promise<Record<string, string>> {
  return {
    status: JSON.stringify((await s.getCredential(name)).status),
    annotations: JSON.stringify((await managedSecrets()).map((x) => x.metadata.annotations)),
    events: JSON.stringify(await eventsOfCredential()),
    log: s.operator!.logs(),
  };
}

async function expectNoPlainDigest(plain: string[]): Promise<void> {
  for (const [where, text] of Object.entries(await shown())) {
    for (const hex of plain) expect(text.includes(hex), `${where} holds a plain sha256`).toBe(false);
  }
}

/** Counts the changes to this file's managed Secret in `ns` after `resourceVersion`, from a watch. */
async function changesOf(ns: string, resourceVersion: string): Promise<{ count: () => number; stop: () => void }> {
  let changes = 0;
  const handle = await s.client.watch(RESOURCES.secrets, ns, { fieldSelector: `metadata.name=${SECRET_NAME}`, resourceVersion }, (type) => {
    if (type !== 'BOOKMARK') changes++;
  }, () => undefined);
  return { count: () => changes, stop: () => handle.stop() };
}

/** The first `reconciled` line for the credential in the current operator's log (after a start, the full pass). */
const reconciledLine = () => s.operator!.logs().split('\n').find((l) => l.includes('"msg":"reconciled"') && l.includes(`"credential":"${name}"`));

describe('digests', () => {
  it('creates the digest key Secret once in its namespace: immutable, Opaque, 32 bytes, not a managed Secret', async () => {
    const key = await keySecret();
    expect(key.type).toBe('Opaque');
    expect(key.immutable).toBe(true);
    expect(key.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'digest-key' });
    expect(Buffer.from(key.data?.key ?? '', 'base64')).toHaveLength(32);
    expect(s.operator!.logs()).toContain('"msg":"digest key created"');
  });

  it('shows only the keyed digest: no plain sha256 of the bytes or of an auth in status, annotations, Events or the log', async () => {
    await s.sourceSecret('digest-src', { acme: s.password('registry-user'), ghcr: s.password('gh-bot') });
    namespaces = await Promise.all([1, 2, 3].map((i) => s.namespace(`d${i}`)));
    await s.credential(name, { secretName: SECRET_NAME, registries, namespaces: { include: [`${s.id}-d*`] } });
    const ready = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 3);
    await eventually('a Synced Event', async () => (await eventsOfCredential()).some((e) => e.reason === 'Synced'));

    const key = Buffer.from((await keySecret()).data!.key!, 'base64');
    const bytes = Buffer.from((await s.getSecret(namespaces[0]!, SECRET_NAME)).data!['.dockerconfigjson']!, 'base64');
    expect(ready.status?.credentialHash).toBe(`hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}`);
    for (const secret of await managedSecrets()) expect(secret.metadata.annotations?.[HASH_ANNOTATION]).toBe(ready.status?.credentialHash);
    await expectNoPlainDigest(await plainDigests());
  });

  it('on rotation changes the digest, records a Rotated Event, and still shows no plain sha256', async () => {
    const before = (await s.getCredential(name)).status?.credentialHash;
    const acme = s.password('registry-user');
    await s.updateSourceSecret('digest-src', { acme, ghcr: s.password('gh-bot') });
    const after = await s.readyEventually(name, (r) => r.status?.credentialHash !== before);
    expect(after.status?.credentialHash).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    for (const ns of namespaces) {
      await s.secretEventually(ns, SECRET_NAME, (x) => decode(x.data?.['.dockerconfigjson']).includes(acme) && x.metadata.annotations?.[HASH_ANNOTATION] === after.status?.credentialHash);
    }
    await eventually('a Rotated Event', async () => (await eventsOfCredential()).some((e) => e.reason === 'Rotated' && e.type === 'Normal'));
    await expectNoPlainDigest(await plainDigests());
  });

  it('keeps the key across a restart and rewrites no managed Secret', async () => {
    const key = await keySecret();
    const versions = (await managedSecrets()).map((x) => x.metadata.resourceVersion);
    const digest = (await s.getCredential(name)).status?.credentialHash;
    await s.stopOperator();
    await s.startOperator();
    // After a start every credential gets a full pass: its line says how many writes it made.
    const line = await eventually('the first reconcile after the restart', async () => reconciledLine());
    expect(JSON.parse(line)).toMatchObject({ full: true, result: 'synced', writes: 0 });
    expect(s.operator!.logs()).toContain('"msg":"digest key loaded"');
    const again = await keySecret();
    expect(again.metadata.uid).toBe(key.metadata.uid);
    expect(again.metadata.resourceVersion).toBe(key.metadata.resourceVersion);
    expect(again.data).toEqual(key.data);
    expect((await managedSecrets()).map((x) => x.metadata.resourceVersion)).toEqual(versions);
    expect((await s.getCredential(name)).status?.credentialHash).toBe(digest);
  });

  it('rewrites once each Secret an older version wrote (a sha256: annotation), records no rotation for it, then writes nothing', async () => {
    const before = await s.getCredential(name);
    const digest = before.status?.credentialHash;
    const rotations = (await eventsOfCredential()).filter((e) => e.reason === 'Rotated').length;
    await s.stopOperator();
    // What the previous version wrote: the same bytes, their plain sha256 as annotation and in status.
    const secrets = await managedSecrets();
    const old = `sha256:${sha256(Buffer.from(secrets[0]!.data!['.dockerconfigjson']!, 'base64'))}`;
    await s.client.patch(RESOURCES.registryCredentials, undefined, name, { status: { credentialHash: old } }, 'merge', 'status');
    const watches = [];
    for (const secret of secrets) {
      const patched = await s.client.patch<Secret>(RESOURCES.secrets, secret.metadata.namespace, SECRET_NAME, { metadata: { annotations: { [HASH_ANNOTATION]: old } } });
      watches.push(await changesOf(patched.metadata.namespace!, patched.metadata.resourceVersion!));
    }
    try {
      await s.startOperator();
      for (const ns of namespaces) await s.secretEventually(ns, SECRET_NAME, (x) => x.metadata.annotations?.[HASH_ANNOTATION] === digest);
      const upgraded = await s.readyEventually(name, (r) => r.status?.credentialHash === digest);
      const versions = (await managedSecrets()).map((x) => x.metadata.resourceVersion);
      // Nothing loops: a while later each Secret has been written exactly once and is as it was.
      await new Promise((r) => setTimeout(r, 5000));
      expect(watches.map((w) => w.count())).toEqual(namespaces.map(() => 1));
      expect((await managedSecrets()).map((x) => x.metadata.resourceVersion)).toEqual(versions);
      // The new kind of digest is no rotation.
      expect(upgraded.status?.lastRotationTime).toBe(before.status?.lastRotationTime);
      expect((await eventsOfCredential()).filter((e) => e.reason === 'Rotated')).toHaveLength(rotations);
    } finally {
      for (const w of watches) w.stop();
    }
  });
});
