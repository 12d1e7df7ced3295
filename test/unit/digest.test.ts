// The installation's digest: an HMAC under a key kept in one Secret, created by the first replica
// and read by every other, never a plain sha256 of the bytes it is shown for.
import { createHash, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { MANAGED_BY_LABEL } from '../../src/api/labels.ts';
import { Digest, DIGEST_KEY_BYTES, digestKeySecret, loadDigest, loadDigestRetrying } from '../../src/controller/digest.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { FakeClient } from '../support/fake-client.ts';

const NS = 'regcred-system';
const NAME = 'regcred-operator-digest-key';
const log = pino({ level: 'silent' });
const bytes = Buffer.from('{"auths":{"ghcr.io":{"auth":"dTpwdw==","password":"pw","username":"u"}}}');
const keySecret = (fake: FakeClient) => fake.object<Secret>(RESOURCES.secrets, NS, NAME);
/** The key Secret as another replica (or an earlier start) created it. */
const existing = (key: Buffer): Secret => {
  const s = digestKeySecret(NAME, key);
  return { ...s, metadata: { ...s.metadata, namespace: NS } };
};
const keyOf = (s: Secret | undefined) => Buffer.from(s?.data?.key ?? '', 'base64');

describe('Digest', () => {
  it('gives the same digest under the same key and another under another key', () => {
    const key = randomBytes(DIGEST_KEY_BYTES);
    expect(new Digest(key).of(bytes)).toBe(new Digest(Buffer.from(key)).of(bytes));
    expect(new Digest(key).of(bytes)).not.toBe(Digest.random().of(bytes));
    expect(new Digest(key).of(bytes)).not.toBe(new Digest(key).of(Buffer.concat([bytes, Buffer.from(' ')])));
  });

  it('is hmac-sha256:<hex>, never the plain sha256 of the bytes', () => {
    const digest = Digest.random().of(bytes);
    const plain = createHash('sha256').update(bytes).digest('hex');
    expect(digest).toMatch(/^hmac-sha256:[0-9a-f]{64}$/);
    expect(digest).not.toContain(plain);
  });

  it('refuses a short key and never shows its key when logged or inspected', () => {
    expect(() => new Digest(randomBytes(16))).toThrow(/at least 32 bytes/);
    const key = randomBytes(DIGEST_KEY_BYTES);
    const digest = new Digest(key);
    for (const shown of [JSON.stringify(digest), inspect(digest, { showHidden: true, depth: 5 }), JSON.stringify({ ...digest })]) {
      expect(shown).not.toContain(key.toString('hex'));
      expect(shown).not.toContain(key.toString('base64'));
    }
  });
});

describe('loadDigest', () => {
  it('creates the key Secret once when it is absent: immutable, Opaque, 32 random bytes, not labelled as managed', async () => {
    const fake = new FakeClient();
    const first = await loadDigest(fake.client, NS, NAME);
    expect(first.created).toBe(true);
    const secret = keySecret(fake)!;
    expect(secret).toMatchObject({ type: 'Opaque', immutable: true, metadata: { labels: { 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/component': 'digest-key' } } });
    expect(secret.metadata.labels?.[MANAGED_BY_LABEL]).toBeUndefined();
    expect(keyOf(secret)).toHaveLength(DIGEST_KEY_BYTES);
    expect(first.digest.of(bytes)).toBe(new Digest(keyOf(secret)).of(bytes));

    // A restart, or another replica: the same key, nothing written.
    const again = await loadDigest(fake.client, NS, NAME);
    expect(again.created).toBe(false);
    expect(again.digest.of(bytes)).toBe(first.digest.of(bytes));
    expect(fake.writes()).toEqual([{ verb: 'create', resource: 'secrets', namespace: NS, name: NAME }]);
  });

  it('reuses a key Secret that exists and writes nothing', async () => {
    const fake = new FakeClient();
    const key = randomBytes(DIGEST_KEY_BYTES);
    fake.seed(RESOURCES.secrets, existing(key));
    const loaded = await loadDigest(fake.client, NS, NAME);
    expect(loaded.created).toBe(false);
    expect(loaded.digest.of(bytes)).toBe(new Digest(key).of(bytes));
    expect(fake.calls).toEqual([{ verb: 'get', resource: 'secrets', namespace: NS, name: NAME }]);
  });

  it('uses the key of the replica that created the Secret first (409 AlreadyExists on create)', async () => {
    const fake = new FakeClient();
    const winner = randomBytes(DIGEST_KEY_BYTES);
    let raced = false;
    fake.inject((call) => {
      // Another replica's create lands between our GET and our create: the fake then answers 409.
      if (call.verb === 'create' && !raced) {
        raced = true;
        fake.seed(RESOURCES.secrets, existing(winner));
      }
      return undefined;
    });
    const loaded = await loadDigest(fake.client, NS, NAME);
    expect(loaded.created).toBe(false);
    expect(loaded.digest.of(bytes)).toBe(new Digest(winner).of(bytes));
    expect(keyOf(keySecret(fake)).equals(winner)).toBe(true);
    expect(fake.calls.map((c) => c.verb)).toEqual(['get', 'create', 'get']);
  });

  it('fails on a key Secret without a usable key, naming the Secret and not its content', async () => {
    const fake = new FakeClient();
    fake.seed(RESOURCES.secrets, existing(Buffer.from('short')));
    await expect(loadDigest(fake.client, NS, NAME)).rejects.toThrow(`Secret ${NS}/${NAME} has no key "key" of at least 32 bytes`);
    expect(fake.writes()).toEqual([]);
  });
});

describe('loadDigestRetrying', () => {
  it('retries a failed request until the key is loaded', async () => {
    const fake = new FakeClient();
    fake.failNext({ verb: 'get' }, 500, 2);
    const digest = await loadDigestRetrying(fake.client, log, NS, NAME, { timeoutMs: 5000, retryMs: 1, cancelled: () => false });
    expect(digest?.of(bytes)).toBe(new Digest(keyOf(keySecret(fake))).of(bytes));
  });

  it('gives up after the timeout with the last error, and stops when cancelled', async () => {
    const fake = new FakeClient();
    fake.failNext({ verb: 'get' }, 503, 1000);
    await expect(loadDigestRetrying(fake.client, log, NS, NAME, { timeoutMs: 20, retryMs: 5, cancelled: () => false })).rejects.toThrow('injected 503');
    await expect(loadDigestRetrying(fake.client, log, NS, NAME, { timeoutMs: 5000, retryMs: 1, cancelled: () => true })).resolves.toBeUndefined();
    expect(fake.writes()).toEqual([]);
  });
});
