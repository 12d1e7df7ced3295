// The pure parts of the Artifact Registry and ACR token providers: which entries share a token
// (keys), what is rendered (user names, servers), expiry parsing, and the error codes read from
// the SDKs' errors. Fetching is tested against stand-ins in test/integration/cloud-providers.test.ts.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AcrSource, ArtifactRegistrySource } from '../../src/api/schema.ts';
import { acrBaseUrl, acrProvider } from '../../src/controller/tokens/providers/acr.ts';
import { artifactRegistryProvider, impersonationUrl, parseServiceAccountKey } from '../../src/controller/tokens/providers/artifact-registry.ts';
import { TokenFetchError } from '../../src/controller/tokens/provider.ts';
import { aadstsCode, azureErrorCode, googleErrorCode, networkErrorCode, oauthErrorCode, ownFailure } from '../../src/controller/tokens/providers/error-codes.ts';
import { futureExpiry, jwtExpiry } from '../../src/controller/tokens/providers/jwt-expiry.ts';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (claims: unknown) => `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}.c2lnbmF0dXJl`;

const gar = (over: Partial<ArtifactRegistrySource> = {}): ArtifactRegistrySource => ({
  servers: ['europe-docker.pkg.dev', 'us-docker.pkg.dev'],
  auth: { secretRef: { name: 'gcp-key' } },
  ...over,
});
const WIP = '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k';
const acr = (over: Partial<AcrSource> = {}): AcrSource => ({
  server: 'myregistry.azurecr.io',
  tenantID: '11111111-1111-1111-1111-111111111111',
  clientID: '22222222-2222-2222-2222-222222222222',
  auth: { secretRef: { name: 'acr-sp' } },
  ...over,
});

describe('artifactRegistryProvider: rendering and keys', () => {
  it('writes the token for every server, as registryKey renders them, with one entry per host', () => {
    expect(artifactRegistryProvider.servers(gar({ servers: ['Europe-Docker.pkg.dev', 'us-docker.pkg.dev', 'https://europe-docker.pkg.dev/'] })))
      .toEqual(['europe-docker.pkg.dev', 'us-docker.pkg.dev']);
  });

  it('the same auth and server set share a key whatever the order; the default data key equals key.json', () => {
    const a = artifactRegistryProvider.key(gar());
    expect(artifactRegistryProvider.key(gar({ servers: ['us-docker.pkg.dev', 'europe-docker.pkg.dev'] }))).toBe(a);
    expect(artifactRegistryProvider.key(gar({ auth: { secretRef: { name: 'gcp-key', key: 'key.json' } } }))).toBe(a);
  });

  it.each<[string, Partial<ArtifactRegistrySource>]>([
    ['another Secret', { auth: { secretRef: { name: 'other' } } }],
    ['another data key', { auth: { secretRef: { name: 'gcp-key', key: 'sa.json' } } }],
    ['another server set', { servers: ['europe-docker.pkg.dev'] }],
    ['a token endpoint override', { tokenURI: 'https://oauth2.example/token' }],
    ['keyless auth', { auth: { serviceAccountRef: { name: 'gcp-key', audience: WIP } } }],
  ])('%s is another token', (_what, over) => {
    expect(artifactRegistryProvider.key(gar(over))).not.toBe(artifactRegistryProvider.key(gar()));
  });

  it('keyless keys differ by ServiceAccount, audience, impersonated account and IAM endpoint', () => {
    const sa = (ref: Partial<NonNullable<ArtifactRegistrySource['auth']['serviceAccountRef']>>) =>
      artifactRegistryProvider.key(gar({ auth: { serviceAccountRef: { name: 'gar', audience: WIP, ...ref } } }));
    const keys = [sa({}), sa({ name: 'other' }), sa({ audience: `${WIP}2` }), sa({ serviceAccountEmail: 'a@p.iam.gserviceaccount.com' }),
      sa({ serviceAccountEmail: 'a@p.iam.gserviceaccount.com', impersonationURL: 'https://iam.example' })];
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('reads only the key Secret, and none for keyless auth', () => {
    expect(artifactRegistryProvider.secretNames(gar())).toEqual(['gcp-key']);
    expect(artifactRegistryProvider.secretNames(gar({ auth: { serviceAccountRef: { name: 'gar', audience: WIP } } }))).toEqual([]);
  });

  it('builds generateAccessToken URLs from the IAM endpoint, or takes a full method URL as it is', () => {
    expect(impersonationUrl('a@p.iam.gserviceaccount.com')).toBe('https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/a%40p.iam.gserviceaccount.com:generateAccessToken');
    expect(impersonationUrl('a@p.iam.gserviceaccount.com', 'http://127.0.0.1:8080/')).toBe('http://127.0.0.1:8080/v1/projects/-/serviceAccounts/a%40p.iam.gserviceaccount.com:generateAccessToken');
    const full = 'https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/b@p.iam.gserviceaccount.com:generateAccessToken';
    expect(impersonationUrl('a@p.iam.gserviceaccount.com', full)).toBe(full);
  });
});

describe('parseServiceAccountKey', () => {
  const pem = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const key = { type: 'service_account', client_email: 'a@p.iam.gserviceaccount.com', private_key: pem, private_key_id: 'k1', token_uri: 'https://oauth2.googleapis.com/token' };

  it('keeps the fields a JWT-bearer grant needs', () => {
    expect(parseServiceAccountKey(JSON.stringify(key))).toEqual({ client_email: key.client_email, private_key: key.private_key, private_key_id: 'k1', token_uri: key.token_uri });
  });

  it.each<[string, string, string]>([
    ['not JSON', '{not json secret', 'is not JSON'],
    ['a JSON string', '"a string"', 'is not a JSON object'],
    ['another credential type', JSON.stringify({ ...key, type: 'external_account' }), 'is not a service-account key (type is not service_account)'],
    ['no client_email', JSON.stringify({ ...key, client_email: undefined }), 'has no client_email'],
    ['an empty private_key', JSON.stringify({ ...key, private_key: '' }), 'has no private_key'],
    ['a private_key that is no key', JSON.stringify({ ...key, private_key: '-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n' }), 'has a private_key that is not a PEM private key'],
  ])('%s: says so, never the content', (_what, text, message) => {
    expect(parseServiceAccountKey(text)).toBe(message);
  });
});

describe('acrProvider: rendering and keys', () => {
  it('writes the token for the registry host under the all-zero user name', () => {
    expect(acrProvider.servers(acr())).toEqual(['myregistry.azurecr.io']);
    expect(acrProvider.servers(acr({ server: 'http://127.0.0.1:5000' }))).toEqual(['127.0.0.1:5000']);
  });

  it('exchanges at https://<server> unless the server names its scheme', () => {
    expect(acrBaseUrl('myregistry.azurecr.io').href).toBe('https://myregistry.azurecr.io/');
    expect(acrBaseUrl('http://127.0.0.1:5000').href).toBe('http://127.0.0.1:5000/');
    expect(acrBaseUrl('https://MyRegistry.azurecr.io/v2/').href).toBe('https://myregistry.azurecr.io/');
  });

  it('defaults count as written: clientSecret, api://AzureADTokenExchange', () => {
    expect(acrProvider.key(acr({ auth: { secretRef: { name: 'acr-sp', key: 'clientSecret' } } }))).toBe(acrProvider.key(acr()));
    expect(acrProvider.key(acr({ auth: { serviceAccountRef: { name: 'p', audience: 'api://AzureADTokenExchange' } } })))
      .toBe(acrProvider.key(acr({ auth: { serviceAccountRef: { name: 'p' } } })));
  });

  it.each<[string, Partial<AcrSource>]>([
    ['another registry', { server: 'other.azurecr.io' }],
    ['another tenant', { tenantID: '33333333-3333-3333-3333-333333333333' }],
    ['another client', { clientID: '33333333-3333-3333-3333-333333333333' }],
    ['another authority', { authorityHost: 'https://login.microsoftonline.us' }],
    ['another Secret key', { auth: { secretRef: { name: 'acr-sp', key: 'secret' } } }],
    ['keyless auth', { auth: { serviceAccountRef: { name: 'acr-sp' } } }],
  ])('%s is another token', (_what, over) => {
    expect(acrProvider.key(acr(over))).not.toBe(acrProvider.key(acr()));
  });

  it('refuses a plain-HTTP authority before asking anything (@azure/identity needs https)', async () => {
    const ctx = {
      secretKey: () => { throw new Error('must not read a Secret'); },
      serviceAccountToken: () => Promise.reject(new Error('must not request a token')),
      signal: new AbortController().signal,
    };
    await expect(acrProvider.fetch(acr({ authorityHost: 'http://login.example' }), ctx)).rejects.toMatchObject({ name: 'TokenFetchError', code: 'InvalidSource' });
  });

  it('reads only the client-secret Secret', () => {
    expect(acrProvider.secretNames(acr())).toEqual(['acr-sp']);
    expect(acrProvider.secretNames(acr({ auth: { serviceAccountRef: { name: 'p' } } }))).toEqual([]);
  });
});

describe('expiry', () => {
  it('is the JWT exp claim', () => {
    expect(jwtExpiry(jwt({ exp: 1_900_000_000, sub: 'x' }))).toEqual(new Date(1_900_000_000_000));
  });

  it.each([
    ['not a JWT', 'opaque-token'],
    ['two parts', 'a.b'],
    ['claims not JSON', `${b64({ alg: 'none' })}.bm90IGpzb24.x`],
    ['no exp', jwt({ sub: 'x' })],
    ['exp a string', jwt({ exp: '1900000000' })],
    ['exp zero', jwt({ exp: 0 })],
  ])('is unknown for %s', (_what, token) => {
    expect(jwtExpiry(token)).toBeUndefined();
  });

  it('an SDK-computed expiry counts only when it is in the future', () => {
    const now = 1_000_000;
    expect(futureExpiry(now + 3_599_000, now)).toEqual(new Date(now + 3_599_000));
    for (const v of [now, now - 1, undefined, null, Number.NaN, '4000000']) expect(futureExpiry(v, now)).toBeUndefined();
  });
});

describe('error codes', () => {
  it.each<[unknown, string | undefined]>([
    [{ error: 'invalid_grant', error_description: 'Invalid JWT Signature.' }, 'invalid_grant'],
    [{ error: { code: 403, message: 'denied', status: 'PERMISSION_DENIED' } }, 'PERMISSION_DENIED'],
    [{ error: { code: 404, message: 'gone' } }, 'HTTP404'],
    [{ errors: [{ code: 'UNAUTHORIZED', message: 'x' }] }, 'UNAUTHORIZED'],
    [{ error: 'has spaces and a secret' }, undefined],
    ['text', undefined],
    [undefined, undefined],
  ])('oauthErrorCode(%j) = %s', (body, want) => {
    expect(oauthErrorCode(body)).toBe(want);
  });

  it.each<[unknown, string | undefined]>([
    ['AADSTS7000215: Invalid client secret provided.', 'AADSTS7000215'],
    ['invalid_client: AADSTS70021: No matching federated identity record found', 'AADSTS70021'],
    [{ error_codes: [700016] }, 'AADSTS700016'],
    [{ errorCodes: ['7000215'] }, 'AADSTS7000215'],
    ['no code here', undefined],
    [{ error_codes: ['x'] }, undefined],
  ])('aadstsCode(%j) = %s', (value, want) => {
    expect(aadstsCode(value)).toBe(want);
  });

  // Shapes google-auth-library throws: a GaxiosError (response.data), an OAuthError that copied
  // the GaxiosError's fields, or a network failure before any answer.
  it.each<[string, unknown, string]>([
    ['OAuth error answer', { name: 'GaxiosError', response: { status: 400, data: { error: 'invalid_grant', error_description: 'x' } } }, 'invalid_grant'],
    ['IAM API error answer', Object.assign(new Error('Error code PERMISSION_DENIED'), { response: { status: 403, data: { error: { code: 403, status: 'PERMISSION_DENIED' } } } }), 'PERMISSION_DENIED'],
    ['answer without a code', { response: { status: 502, data: '<html>' } }, 'HTTP502'],
    ['connection refused', Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }), 'ECONNREFUSED'],
    ['gaxios network code', { code: 'ENOTFOUND', message: 'getaddrinfo' }, 'ENOTFOUND'],
    ['aborted', { name: 'AbortError' }, 'Aborted'],
    ['nothing known', new Error('boom'), 'Unreachable'],
    ['not an error', 'boom', 'Unknown'],
  ])('googleErrorCode: %s', (_what, err, want) => {
    expect(googleErrorCode(err)).toBe(want);
  });

  // Shapes @azure/identity throws: AuthenticationError (errorResponse), or AuthenticationRequiredError
  // whose cause is MSAL's ServerError (errorCode, errorNo, AADSTS-led message).
  it.each<[string, unknown, string]>([
    ['AuthenticationError with error_codes', { name: 'AuthenticationError', statusCode: 401, errorResponse: { error: 'invalid_client', errorDescription: 'AADSTS7000215: Invalid client secret', error_codes: [7000215] } }, 'AADSTS7000215'],
    ['MSAL ServerError as cause', { name: 'AuthenticationRequiredError', message: 'x', cause: { name: 'ServerError', errorCode: 'invalid_client', errorNo: '70021', errorMessage: '' } }, 'AADSTS70021'],
    ['code only in the message', { name: 'AuthenticationRequiredError', message: 'invalid_client: AADSTS700016: Application not found', cause: {} }, 'AADSTS700016'],
    ['OAuth code without AADSTS', { name: 'AuthenticationRequiredError', message: 'x', cause: { name: 'ServerError', errorCode: 'invalid_scope', errorMessage: 'bad' } }, 'invalid_scope'],
    ['HTTP status only', { name: 'AuthenticationError', statusCode: 503, errorResponse: { error: 'has a space', errorDescription: 'down' } }, 'HTTP503'],
    ['network failure', { name: 'RestError', message: 'connect', code: 'ECONNREFUSED' }, 'ECONNREFUSED'],
    ['aborted', { name: 'AbortError', message: 'aborted' }, 'Aborted'],
    ['nothing known', new Error('boom'), 'Unknown'],
  ])('azureErrorCode: %s', (_what, err, want) => {
    expect(azureErrorCode(err)).toBe(want);
  });

  it('finds our own failure under an SDK\'s wrappers', () => {
    const ours = new TokenFetchError('SourceNotFound', 'Secret ns/x not found');
    expect(ownFailure(ours)).toBe(ours);
    expect(ownFailure({ name: 'AuthenticationRequiredError', cause: { name: 'Error', cause: ours } })).toBe(ours);
    expect(ownFailure(new Error('boom', { cause: new Error('deeper') }))).toBeUndefined();
  });

  it.each<[unknown, string]>([
    [Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } }), 'ECONNRESET'],
    [Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'Timeout'],
    [new TypeError('fetch failed'), 'Unreachable'],
  ])('networkErrorCode(%s) = %s', (err, want) => {
    expect(networkErrorCode(err)).toBe(want);
  });
});
