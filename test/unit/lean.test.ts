// What the caches keep of each object, and that drift in data the cache no longer holds is seen.
import { createHash } from 'node:crypto';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { CREDENTIAL_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, MANAGED_BY_VALUE, SOURCE_LABEL } from '../../src/api/labels.ts';
import { resolveSpec } from '../../src/api/schema.ts';
import { desiredSecret, secretDiffers } from '../../src/controller/desired.ts';
import { Digest } from '../../src/controller/digest.ts';
import { authEntry, renderDockerConfig } from '../../src/controller/dockerconfig.ts';
import { dataHash, leanMetadata, leanNamespace, leanServiceAccount, leanSourceSecret, leanTargetSecret } from '../../src/controller/lean.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import type { Secret } from '../../src/kube/objects.ts';

const digest = Digest.random();
const heavyMeta = {
  name: 'x',
  namespace: 'ns',
  uid: 'u',
  resourceVersion: '7',
  labels: { a: 'b' },
  annotations: { keep: 'me', 'kubectl.kubernetes.io/last-applied-configuration': '{"big":"blob"}' },
  managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:data': {} } }],
  selfLink: '/api/v1/whatever',
};

describe('lean shapes', () => {
  it('metadata keeps what is read and drops managedFields and the last-applied annotation', () => {
    expect(leanMetadata(heavyMeta)).toEqual({ name: 'x', namespace: 'ns', uid: 'u', resourceVersion: '7', labels: { a: 'b' }, annotations: { keep: 'me' } });
    expect(leanMetadata({ name: 'x', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{}' } })).toEqual({ name: 'x' });
  });

  it('a namespace keeps its phase; a ServiceAccount its pull secrets, not its token list', () => {
    expect(leanNamespace({ metadata: heavyMeta, status: { phase: 'Active' }, spec: { finalizers: ['kubernetes'] } } as never)).toEqual({
      metadata: leanMetadata(heavyMeta),
      status: { phase: 'Active' },
    });
    expect(leanServiceAccount({ metadata: heavyMeta, imagePullSecrets: [{ name: 'p' }], secrets: [{ name: 't' }] } as never)).toEqual({
      metadata: leanMetadata(heavyMeta),
      imagePullSecrets: [{ name: 'p' }],
    });
  });

  it('a managed Secret keeps the digest of its data, never the data', () => {
    const bytes = Buffer.from('{"auths":{}}');
    const meta = { ...heavyMeta, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } };
    const s: Secret = { metadata: meta, type: 'kubernetes.io/dockerconfigjson', data: { '.dockerconfigjson': bytes.toString('base64') } };
    const lean = leanTargetSecret(digest)(s);
    expect(lean).toEqual({ metadata: leanMetadata(meta), type: 'kubernetes.io/dockerconfigjson', dataHash: digest.of(bytes) });
    expect(dataHash(s.data, digest)).toBe(digest.of(bytes));
    expect(JSON.stringify(lean)).not.toContain(bytes.toString('base64'));
    expect(dataHash({ '.dockerconfigjson': 'e30=', extra: 'eA==' }, digest)).toBe('keys:.dockerconfigjson,extra');
  });

  it('a Secret of the credentials namespace keeps its data only when it opted in as a source and its type can be one', () => {
    const data = { password: Buffer.from('pw').toString('base64') };
    const secret = (labels: Record<string, string>, type = 'Opaque'): Secret => ({ metadata: { name: 's', namespace: 'creds', labels }, type, data });
    expect(leanSourceSecret(secret({ [SOURCE_LABEL]: 'true' })).data).toEqual(data);
    expect(leanSourceSecret(secret({})).data).toBeUndefined();
    expect(leanSourceSecret(secret({ [SOURCE_LABEL]: 'yes' })).data).toBeUndefined();
    expect(leanSourceSecret(secret({ [SOURCE_LABEL]: 'true' }, 'kubernetes.io/service-account-token')).data).toBeUndefined();
    expect(leanSourceSecret(secret({})).metadata.labels).toEqual({});
  });

  it('a Secret of a watched name that is not ours is kept as metadata and type, without data or its digest', () => {
    expect(leanTargetSecret(digest)({ metadata: heavyMeta, type: 'Opaque', data: { x: 'eA==' } })).toEqual({ metadata: leanMetadata(heavyMeta), type: 'Opaque' });
  });
});

describe('drift seen through the data hash', () => {
  const r = resolveSpec('rc', { registries: [{ server: 'ghcr.io', username: 'u', passwordFrom: { secretKeyRef: { name: 's', key: 'p' } } }], secretName: 'pull' });
  if (!r.ok) throw new Error(r.message);
  const credential = { name: 'rc', uid: 'uid-rc', creationTimestamp: '2024-01-01T00:00:00Z', spec: r.spec };
  const want = desiredSecret(credential, 'ns', renderDockerConfig([{ label: 'r', auths: { 'ghcr.io': authEntry('u', 'pw') } }], digest));
  const lean = leanTargetSecret(digest);

  it('the Secret as written, seen through the lean cache, needs no write', () => {
    expect(secretDiffers(lean(structuredClone(want)), want)).toBe(false);
  });

  it('bytes edited by hand (hash annotation untouched) are seen and rewritten', () => {
    const edited = structuredClone(want);
    edited.data!['.dockerconfigjson'] = Buffer.from('{"auths":{"evil.io":{}}}').toString('base64');
    expect(edited.metadata.annotations?.[HASH_ANNOTATION]).toBe(want.metadata.annotations?.[HASH_ANNOTATION]);
    expect(secretDiffers(lean(edited), want)).toBe(true);
  });

  it('a held-by label changed by hand is seen', () => {
    const relabelled = structuredClone(want);
    relabelled.metadata.labels![CREDENTIAL_LABEL] = 'other';
    expect(secretDiffers(lean(relabelled), want)).toBe(true);
  });

  it('a Secret written before the digest had a key (a sha256: annotation, the right bytes) is rewritten once', () => {
    const bytes = Buffer.from(want.data!['.dockerconfigjson']!, 'base64');
    const old = structuredClone(want);
    old.metadata.annotations![HASH_ANNOTATION] = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    expect(secretDiffers(lean(old), want)).toBe(true);
    // What the update writes is the desired Secret: seen again through the cache, it needs nothing.
    expect(secretDiffers(lean(structuredClone(want)), want)).toBe(false);
  });

  it('a Secret whose annotation was made under another key (the key Secret replaced) is rewritten', () => {
    const written = desiredSecret(credential, 'ns', renderDockerConfig([{ label: 'r', auths: { 'ghcr.io': authEntry('u', 'pw') } }], Digest.random()));
    expect(written.data).toEqual(want.data);
    expect(secretDiffers(lean(written), want)).toBe(true);
  });
});

describe('an informer with a transform', () => {
  const informers: Informer<Secret>[] = [];
  afterEach(() => {
    for (const i of informers.splice(0)) i.stop();
  });

  function client(items: unknown): KubeClient {
    return {
      list: async () => ({ metadata: { resourceVersion: '1' }, items }),
      watch: async () => ({ stop: () => undefined }),
    } as unknown as KubeClient;
  }

  it('keeps what the transform returns, skips what it drops, and takes an empty metadata list (items: null)', async () => {
    const keepUnlabelled = (s: Secret) => (s.metadata.labels ? undefined : { metadata: leanMetadata(s.metadata) });
    const full = new Informer<Secret>(client([{ metadata: heavyMeta }, { metadata: { name: 'plain', namespace: 'ns' }, data: { a: 'eA==' } }]), RESOURCES.secrets, pino({ level: 'silent' }), { transform: keepUnlabelled });
    const empty = new Informer<Secret>(client(null), RESOURCES.secrets, pino({ level: 'silent' }), { metadataOnly: true });
    informers.push(full, empty);
    full.start();
    empty.start();
    await Promise.all([full.waitForSync(1000), empty.waitForSync(1000)]);
    expect(full.list()).toEqual([{ metadata: { name: 'plain', namespace: 'ns' } }]);
    expect(empty.list()).toEqual([]);
    full.observe({ metadata: { name: 'written', namespace: 'ns', resourceVersion: '9' }, data: { a: 'eA==' } });
    expect(full.get('ns', 'written')).toEqual({ metadata: { name: 'written', namespace: 'ns', resourceVersion: '9' } });
  });
});
