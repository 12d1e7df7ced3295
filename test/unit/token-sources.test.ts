// ecr entries as credential sources: the manager's token rendered as AWS:<token> for the entry's
// registry through the ordinary auths rendering, pending and failed states as source failures, the
// access-key Secret checked for this credential before a token is handed out, and the uses the
// token manager is told about.
import { describe, expect, it } from 'vitest';
import { ALLOWED_CREDENTIALS_ANNOTATION, SOURCE_LABEL } from '../../src/api/labels.ts';
import type { RegistryEntry } from '../../src/api/schema.ts';
import { authEntry, renderDockerConfig } from '../../src/controller/dockerconfig.ts';
import { referencedSecrets, resolveEntries, tokenUses, tokenViews, type SourceInputs, type SourceSecret } from '../../src/controller/sources.ts';
import type { TokenLookup, TokenState } from '../../src/controller/tokens/manager.ts';
import { ecrProvider, decodeAuthorization, awsError } from '../../src/controller/tokens/providers/ecr.ts';
import { TokenFetchError } from '../../src/controller/tokens/provider.ts';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const REGISTRY = '123456789012.dkr.ecr.eu-west-1.amazonaws.com';
const TOKEN = 'eyJwYXlsb2FkIjoidG9rZW4ifQ';
const expiresAt = new Date(Date.UTC(2030, 0, 1));

const keys: SourceSecret = {
  metadata: { labels: { [SOURCE_LABEL]: 'true' } },
  type: 'Opaque',
  data: { aws_access_key_id: b64('AKID'), aws_secret_access_key: b64('secret') },
};

const ecr = (extra: Record<string, unknown> = {}): RegistryEntry =>
  ({ ecr: { registry: REGISTRY, auth: { secretRef: { name: 'aws-keys' } }, ...extra } }) as RegistryEntry;

function inputs(state: TokenState, secrets: Record<string, SourceSecret> = { 'aws-keys': keys }, credential = 'reader'): SourceInputs {
  const tokens: TokenLookup = { current: () => state };
  return { secret: (n) => secrets[n], credentialsNamespace: 'regcred-system', credential, tokens };
}

const ready: TokenState = { state: 'ready', token: { username: 'AWS', password: TOKEN, expiresAt }, fetchedAt: new Date(Date.UTC(2029, 11, 31)) };

describe('ecr entries', () => {
  it('render the token as AWS:<token> for the registry, merged with other entries', () => {
    const entries: RegistryEntry[] = [ecr(), { dockerConfigFrom: { secretRef: { name: 'hub' } } } as RegistryEntry];
    const hub: SourceSecret = {
      metadata: { labels: { [SOURCE_LABEL]: 'true' } },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': b64(JSON.stringify({ auths: { 'ghcr.io': { username: 'u', password: 'p' } } })) },
    };
    const r = resolveEntries(entries, inputs(ready, { 'aws-keys': keys, hub }));
    expect(r).toEqual({ ok: true, entries: [
      { label: 'registries[0]', auths: { [REGISTRY]: authEntry('AWS', TOKEN) } },
      { label: 'registries[1]', auths: { 'ghcr.io': authEntry('u', 'p') } },
    ] });
    if (!r.ok) return;
    const config = JSON.parse(renderDockerConfig(r.entries, { of: () => 'hmac-sha256:x' } as never).bytes.toString()) as { auths: Record<string, { auth: string }> };
    expect(config.auths[REGISTRY]!.auth).toBe(b64(`AWS:${TOKEN}`));
  });

  it('are pending before the first token, and failed with the cloud code when no good token is left', () => {
    expect(resolveEntries([ecr()], inputs({ state: 'pending' }))).toEqual({ ok: false, reason: 'TokenPending', message: 'spec.registries[0]: waiting for the first ecr token' });
    const failed = resolveEntries([ecr()], inputs({ state: 'failed', failure: { code: 'UnrecognizedClientException', message: 'ECR GetAuthorizationToken failed: UnrecognizedClientException (HTTP 400)', since: new Date() } }));
    expect(failed).toMatchObject({ ok: false, reason: 'TokenFetchFailed' });
    expect(!failed.ok && failed.message).toContain('UnrecognizedClientException');
    expect(resolveEntries([ecr()], inputs({ state: 'unavailable' }))).toMatchObject({ ok: false, reason: 'ProviderUnavailable' });
  });

  it('are pending without a token manager', () => {
    const { tokens: _none, ...withoutTokens } = inputs(ready);
    expect(resolveEntries([ecr()], withoutTokens)).toMatchObject({ ok: false, reason: 'TokenPending' });
  });

  it('hand out no token to a credential the access-key Secret does not allow, or when the Secret is missing or not opted in', () => {
    const restricted = { ...keys, metadata: { ...keys.metadata, annotations: { [ALLOWED_CREDENTIALS_ANNOTATION]: 'other' } } };
    expect(resolveEntries([ecr()], inputs(ready, { 'aws-keys': restricted }))).toMatchObject({ ok: false, reason: 'SourceNotAllowed' });
    expect(resolveEntries([ecr()], inputs(ready, {}))).toMatchObject({ ok: false, reason: 'SourceNotFound' });
    expect(resolveEntries([ecr()], inputs(ready, { 'aws-keys': { ...keys, metadata: {} } }))).toMatchObject({ ok: false, reason: 'SourceNotAllowed' });
    expect(tokenUses([ecr()], inputs(ready, { 'aws-keys': restricted }))).toEqual([]);
    expect(tokenViews([ecr()], inputs(ready, { 'aws-keys': restricted }))).toEqual([]);
  });

  it('tell the token manager what they use, with a version that follows the Secret', () => {
    const [use] = tokenUses([ecr()], inputs(ready));
    expect(use).toMatchObject({ provider: 'ecr', entry: { registry: REGISTRY } });
    const changed = { ...keys, data: { ...keys.data, aws_secret_access_key: b64('rotated') } };
    expect(tokenUses([ecr()], inputs(ready, { 'aws-keys': changed }))[0]!.version).not.toBe(use!.version);
    expect(tokenUses([ecr()], inputs(ready))[0]!.version).toBe(use!.version);
    // A keyless entry reads no Secret.
    const keyless = ecr({ auth: { serviceAccountRef: { name: 'puller', roleARN: 'arn:aws:iam::123456789012:role/pull' } } });
    expect(tokenUses([keyless], inputs(ready, {}))).toHaveLength(1);
    expect(referencedSecrets([ecr(), keyless])).toEqual(new Set(['aws-keys']));
  });

  it('are named in status by position, kind and registry', () => {
    expect(tokenViews([{ server: 'r.io' } as RegistryEntry, ecr()], inputs(ready))).toEqual([{ source: `registries[1] ecr ${REGISTRY}`, state: ready }]);
  });
});

describe('the ECR provider', () => {
  it('keys by region, auth and endpoints, not by registry host: one call for an account and region', () => {
    const a = { registry: REGISTRY, auth: { secretRef: { name: 'k' } } };
    const b = { registry: '210987654321.dkr.ecr.eu-west-1.amazonaws.com', auth: { secretRef: { name: 'k' } } };
    expect(ecrProvider.key(a)).toBe(ecrProvider.key(b));
    expect(ecrProvider.key(a)).not.toBe(ecrProvider.key({ ...a, registry: '123456789012.dkr.ecr.us-east-1.amazonaws.com' }));
    expect(ecrProvider.key(a)).not.toBe(ecrProvider.key({ ...a, auth: { secretRef: { name: 'other' } } }));
    expect(ecrProvider.key(a)).not.toBe(ecrProvider.key({ ...a, endpoint: 'https://vpce.example' }));
    expect(ecrProvider.key({ ...a, region: 'eu-west-1', registry: 'mirror.example' })).toBe(ecrProvider.key(a));
    expect(ecrProvider.servers(a)).toEqual([REGISTRY]);
  });

  it('decodes base64 AWS:<token> and its expiry, and refuses anything else', () => {
    expect(decodeAuthorization({ authorizationToken: b64(`AWS:${TOKEN}`), expiresAt })).toEqual({ username: 'AWS', password: TOKEN, expiresAt });
    for (const bad of [undefined, { expiresAt }, { authorizationToken: b64('no-colon'), expiresAt }, { authorizationToken: b64(`AWS:${TOKEN}`) }]) {
      expect(() => decodeAuthorization(bad)).toThrow(TokenFetchError);
    }
  });

  it('reports an SDK error by its name, errno code and HTTP status, never its message', () => {
    const sdk = Object.assign(new Error(`The security token included in the request is invalid: ${TOKEN}`), { name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 403 } });
    const e = awsError(sdk, 'ECR GetAuthorizationToken');
    expect(e.code).toBe('UnrecognizedClientException');
    expect(e.message).toBe('ECR GetAuthorizationToken failed: UnrecognizedClientException (HTTP 403)');
    expect(awsError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }), 'x').code).toBe('ECONNREFUSED');
  });
});
