// Google Artifact Registry: an OAuth 2.0 access token as the password of user `oauth2accesstoken`,
// fetched with google-auth-library. Two ways to get one:
//  - secretRef: a service-account JSON key → JWT-bearer grant (RFC 7523) at the key's token_uri;
//  - serviceAccountRef (keyless): a ServiceAccount token of the credentials namespace → STS token
//    exchange (RFC 8693) through a workload identity pool, then optionally generateAccessToken to
//    impersonate a Google service account.
import { createPrivateKey } from 'node:crypto';
// google-auth-library is loaded on the first fetch: an operator with no Artifact Registry entry never pays its memory.
const googleAuth = () => import('google-auth-library');
import { DEFAULT_GCP_KEY, type ArtifactRegistrySource } from '../../../api/schema.ts';
import { registryKey } from '../../dockerconfig.ts';
import { TokenFetchError, type FetchedToken, type TokenContext, type TokenProvider } from '../provider.ts';
import { abortable } from './abortable.ts';
import { googleErrorCode, ownFailure } from './error-codes.ts';
import { futureExpiry } from './jwt-expiry.ts';

export const ARTIFACT_REGISTRY_USERNAME = 'oauth2accesstoken';
export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
/** The token endpoint google-auth-library's JWT client posts to (and names as the assertion's `aud`). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
export const GOOGLE_STS_URL = 'https://sts.googleapis.com/v1/token';
export const IAM_CREDENTIALS_URL = 'https://iamcredentials.googleapis.com';
const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';

/** The generateAccessToken URL for `email`: `base` is the IAM credentials endpoint, or already the full method URL. */
export function impersonationUrl(email: string, base = IAM_CREDENTIALS_URL): string {
  if (/:generateAccessToken$/.test(base)) return base;
  return `${base.replace(/\/+$/, '')}/v1/projects/-/serviceAccounts/${encodeURIComponent(email)}:generateAccessToken`;
}

function renderedServers(entry: ArtifactRegistrySource): string[] {
  return [...new Set(entry.servers.map(registryKey))];
}

interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

/** The fields of a service-account JSON key a JWT-bearer grant needs; the message names the problem, never the content. */
export function parseServiceAccountKey(text: string): ServiceAccountKey | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'is not a JSON object';
  const key = parsed as Record<string, unknown>;
  if (key.type !== undefined && key.type !== 'service_account') return 'is not a service-account key (type is not service_account)';
  if (typeof key.client_email !== 'string' || !key.client_email) return 'has no client_email';
  if (typeof key.private_key !== 'string' || !key.private_key) return 'has no private_key';
  try {
    createPrivateKey(key.private_key);
  } catch {
    return 'has a private_key that is not a PEM private key';
  }
  return {
    client_email: key.client_email,
    private_key: key.private_key,
    ...(typeof key.private_key_id === 'string' ? { private_key_id: key.private_key_id } : {}),
    ...(typeof key.token_uri === 'string' && key.token_uri ? { token_uri: key.token_uri } : {}),
  };
}

function token(accessToken: string | null | undefined, expiryDate: unknown): FetchedToken {
  if (!accessToken) throw new TokenFetchError('InvalidResponse', 'the token endpoint answered without an access token');
  const expiresAt = futureExpiry(expiryDate, Date.now());
  if (!expiresAt) throw new TokenFetchError('InvalidResponse', 'the token endpoint answered without a future expiry');
  return { username: ARTIFACT_REGISTRY_USERNAME, password: accessToken, expiresAt };
}

function failure(err: unknown, what: string): TokenFetchError {
  const own = ownFailure(err);
  if (own) return own;
  const code = googleErrorCode(err);
  return new TokenFetchError(code, `${what} failed: ${code}`);
}

async function withKey(entry: ArtifactRegistrySource, ref: { name: string; key?: string | undefined }, ctx: TokenContext): Promise<FetchedToken> {
  const keyName = ref.key ?? DEFAULT_GCP_KEY;
  const key = parseServiceAccountKey(ctx.secretKey(ref.name, keyName));
  if (typeof key === 'string') throw new TokenFetchError('InvalidKey', `key ${keyName} of Secret ${ref.name} ${key}`);
  const tokenUri = entry.tokenURI ?? key.token_uri ?? GOOGLE_TOKEN_URL;
  const { JWT } = await googleAuth();
  const client = new JWT({ email: key.client_email, key: key.private_key, keyId: key.private_key_id, scopes: [CLOUD_PLATFORM_SCOPE] });
  // The JWT client always posts to Google's default token endpoint; a key's token_uri (or the
  // entry's override) names another one, so the request goes there instead (same grant, same body).
  client.transporter.interceptors.request.add({
    resolved: async (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(tokenUri);
      options.signal = ctx.signal;
      return options;
    },
  });
  try {
    const tokens = await abortable(ctx.signal, () => client.authorize());
    return token(tokens.access_token, tokens.expiry_date);
  } catch (err) {
    throw failure(err, `the JWT-bearer grant at ${new URL(tokenUri).host}`);
  }
}

async function withServiceAccount(
  entry: ArtifactRegistrySource,
  ref: NonNullable<ArtifactRegistrySource['auth']['serviceAccountRef']>,
  ctx: TokenContext,
): Promise<FetchedToken> {
  const { IdentityPoolClient } = await googleAuth();
  const client = new IdentityPoolClient({
    type: 'external_account',
    audience: ref.audience,
    subject_token_type: JWT_TOKEN_TYPE,
    token_url: entry.tokenURI ?? GOOGLE_STS_URL,
    scopes: [CLOUD_PLATFORM_SCOPE],
    subject_token_supplier: { getSubjectToken: () => ctx.serviceAccountToken(ref.name, ref.audience) },
    ...(ref.serviceAccountEmail ? { service_account_impersonation_url: impersonationUrl(ref.serviceAccountEmail, ref.impersonationURL) } : {}),
  });
  try {
    const { token: accessToken } = await abortable(ctx.signal, () => client.getAccessToken());
    return token(accessToken, client.credentials.expiry_date);
  } catch (err) {
    throw failure(err, ref.serviceAccountEmail ? 'the STS token exchange or the impersonation' : 'the STS token exchange');
  }
}

export const artifactRegistryProvider: TokenProvider<ArtifactRegistrySource> = {
  provider: 'artifactRegistry',
  key(entry) {
    const { secretRef, serviceAccountRef: sa } = entry.auth;
    const auth = secretRef
      ? ['secretRef', secretRef.name, secretRef.key ?? DEFAULT_GCP_KEY]
      : ['serviceAccountRef', sa?.name ?? '', sa?.audience ?? '', sa?.serviceAccountEmail ?? '', sa?.impersonationURL ?? ''];
    return JSON.stringify(['artifactRegistry', auth, [...renderedServers(entry)].sort(), entry.tokenURI ?? '']);
  },
  servers: renderedServers,
  secretNames(entry) {
    return entry.auth.secretRef ? [entry.auth.secretRef.name] : [];
  },
  async fetch(entry, ctx) {
    const { secretRef, serviceAccountRef } = entry.auth;
    if (secretRef) return withKey(entry, secretRef, ctx);
    if (serviceAccountRef) return withServiceAccount(entry, serviceAccountRef, ctx);
    throw new TokenFetchError('InvalidSource', 'artifactRegistry.auth needs secretRef or serviceAccountRef');
  },
};
