// Azure Container Registry: an ACR refresh token as the password of the all-zero user, which ACR
// accepts for `docker login`. A Microsoft Entra access token for the registry scope, fetched with
// @azure/identity (client secret, or a federated ServiceAccount token as the client assertion), is
// exchanged at the registry's /oauth2/exchange for the refresh token.
import type { TokenCredential } from '@azure/identity';
import { DEFAULT_ACR_SECRET_KEY, DEFAULT_AZURE_AUDIENCE, type AcrSource } from '../../../api/schema.ts';
import { registryKey } from '../../dockerconfig.ts';
import { TokenFetchError, type FetchedToken, type TokenContext, type TokenProvider } from '../provider.ts';
import { abortable } from './abortable.ts';
import { azureErrorCode, networkErrorCode, oauthErrorCode, ownFailure } from './error-codes.ts';
import { jwtExpiry } from './jwt-expiry.ts';

export const ACR_USERNAME = '00000000-0000-0000-0000-000000000000';
export const ACR_SCOPE = 'https://containerregistry.azure.net/.default';
const EXCHANGE_TIMEOUT_MS = 30_000;

/** The registry's base URL: `https://<server>`, or the server as given when it names its scheme. */
export function acrBaseUrl(server: string): URL {
  const withScheme = /^https?:\/\//i.test(server) ? server : `https://${server}`;
  const url = new URL(withScheme);
  return new URL(`${url.protocol}//${url.host}`);
}

async function credential(entry: AcrSource, ctx: TokenContext): Promise<TokenCredential> {
  // @azure/identity is loaded on the first fetch: an operator with no ACR entry never pays its memory.
  const { ClientAssertionCredential, ClientSecretCredential } = await import('@azure/identity');
  // A custom authority (sovereign cloud, private endpoint, test) is not in Microsoft's instance
  // discovery list: ask its own OpenID configuration instead of login.microsoftonline.com.
  const options = entry.authorityHost ? { authorityHost: entry.authorityHost, disableInstanceDiscovery: true } : {};
  const { secretRef, serviceAccountRef } = entry.auth;
  if (secretRef) {
    const secret = ctx.secretKey(secretRef.name, secretRef.key ?? DEFAULT_ACR_SECRET_KEY);
    return new ClientSecretCredential(entry.tenantID, entry.clientID, secret, options);
  }
  if (serviceAccountRef) {
    const audience = serviceAccountRef.audience ?? DEFAULT_AZURE_AUDIENCE;
    // @azure/identity asks for the assertion more than once per token request: one TokenRequest
    // per fetch is enough (the token lives for minutes, a fetch takes seconds).
    let assertion: Promise<string> | undefined;
    const getAssertion = () => (assertion ??= ctx.serviceAccountToken(serviceAccountRef.name, audience));
    return new ClientAssertionCredential(entry.tenantID, entry.clientID, getAssertion, options);
  }
  throw new TokenFetchError('InvalidSource', 'acr.auth needs secretRef or serviceAccountRef');
}

async function entraToken(entry: AcrSource, ctx: TokenContext): Promise<string> {
  // @azure/identity refuses an authority that is not https (its constructor throws): say so as ours.
  if (entry.authorityHost && !/^https:\/\//i.test(entry.authorityHost)) {
    throw new TokenFetchError('InvalidSource', 'acr.authorityHost must be an https URL');
  }
  try {
    const cred = await credential(entry, ctx);
    const accessToken = await abortable(ctx.signal, () => cred.getToken(ACR_SCOPE, { abortSignal: ctx.signal }));
    if (accessToken?.token) return accessToken.token;
  } catch (err) {
    const own = ownFailure(err);
    if (own) throw own;
    const code = azureErrorCode(err);
    throw new TokenFetchError(code, `the Microsoft Entra token request for client ${entry.clientID} failed: ${code}`);
  }
  throw new TokenFetchError('InvalidResponse', `the Microsoft Entra token request for client ${entry.clientID} answered without a token`);
}

/** ACR's token exchange: an Entra access token for the registry → an ACR refresh token. */
async function exchange(entry: AcrSource, accessToken: string, ctx: TokenContext): Promise<string> {
  const base = acrBaseUrl(entry.server);
  const body = new URLSearchParams({ grant_type: 'access_token', service: base.host, tenant: entry.tenantID, access_token: accessToken });
  let res: Response;
  try {
    res = await fetch(new URL('/oauth2/exchange', base), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body,
      signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(EXCHANGE_TIMEOUT_MS)]),
    });
  } catch (err) {
    const code = ctx.signal.aborted ? 'Aborted' : networkErrorCode(err);
    throw new TokenFetchError(code, `the token exchange at ${base.host} failed: ${code}`);
  }
  const answer: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const code = oauthErrorCode(answer) ?? `HTTP${res.status}`;
    throw new TokenFetchError(code, `the token exchange at ${base.host} failed: ${code}`);
  }
  const refreshToken = typeof answer === 'object' && answer !== null ? (answer as { refresh_token?: unknown }).refresh_token : undefined;
  if (typeof refreshToken !== 'string' || !refreshToken) throw new TokenFetchError('InvalidResponse', `the token exchange at ${base.host} answered without a refresh token`);
  return refreshToken;
}

export const acrProvider: TokenProvider<AcrSource> = {
  provider: 'acr',
  key(entry) {
    const { secretRef, serviceAccountRef: sa } = entry.auth;
    const auth = secretRef
      ? ['secretRef', secretRef.name, secretRef.key ?? DEFAULT_ACR_SECRET_KEY]
      : ['serviceAccountRef', sa?.name ?? '', sa?.audience ?? DEFAULT_AZURE_AUDIENCE];
    return JSON.stringify(['acr', acrBaseUrl(entry.server).href, entry.tenantID, entry.clientID, auth, entry.authorityHost ?? '']);
  },
  servers(entry) {
    return [registryKey(entry.server)];
  },
  secretNames(entry) {
    return entry.auth.secretRef ? [entry.auth.secretRef.name] : [];
  },
  async fetch(entry, ctx): Promise<FetchedToken> {
    const accessToken = await entraToken(entry, ctx);
    const refreshToken = await exchange(entry, accessToken, ctx);
    const expiresAt = jwtExpiry(refreshToken);
    if (!expiresAt) throw new TokenFetchError('InvalidResponse', `the token exchange at ${acrBaseUrl(entry.server).host} answered with a refresh token without an expiry`);
    return { username: ACR_USERNAME, password: refreshToken, expiresAt };
  },
};
