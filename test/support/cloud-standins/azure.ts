// Stand-ins for Microsoft Entra ID and an Azure Container Registry's token exchange, on loopback.
//
// Entra is served over HTTPS with a certificate from a test CA: @azure/identity refuses an
// authority that is not https. The test process trusts the CA the standard way, through
// Node's default CA list (tls.setDefaultCACertificates, see trustTestCA); an operator process
// would get NODE_EXTRA_CA_CERTS. Routes, as login.microsoftonline.com answers them:
//  - GET /<tenant>/v2.0/.well-known/openid-configuration (MSAL reads the token endpoint from it);
//  - POST /<tenant>/oauth2/v2.0/token: client_credentials with client_secret, or with a
//    client_assertion (jwt-bearer) that must be a ServiceAccount token the control plane confirms
//    (TokenReview) for a federated identity credential of the app (issuer-independent here:
//    subject system:serviceaccount:<ns>:<name> and audience). Errors carry AADSTS codes in
//    error_codes and at the start of error_description. The access token is an RS256 JWT for
//    https://containerregistry.azure.net with tid/appid.
// The ACR stand-in answers POST /oauth2/exchange (grant_type=access_token, service, tenant,
// access_token) with a refresh_token JWT carrying exp, after verifying the access token's signature
// and claims against the Entra stand-in. Every endpoint counts its calls.
import { generateKeyPairSync, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { generateCA, generateServingCertificate } from '../../../src/server/certs.ts';
import { CallCounter, decodeJwt, hasAudience, listen, signJwt, verifyRs256, type Listening, type StandinAnswer, type SubjectVerifier } from './http.ts';

const ACR_RESOURCE = 'https://containerregistry.azure.net';
const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const ACCESS_TOKEN_LIFETIME_S = 3599;
const REFRESH_TOKEN_LIFETIME_S = 3 * 3600;

let trusted = false;

/**
 * Adds `caPem` to this process's default trusted CAs (Node ≥ 22.19 / 24.5), so any client that
 * does not pin its own CA list (@azure/identity's, fetch) trusts the stand-in. The operator process
 * gets the same through NODE_EXTRA_CA_CERTS.
 */
export function trustTestCA(caPem: string): void {
  setDefaultCACertificates([...getCACertificates('default'), caPem]);
  trusted = true;
}

function entraError(status: number, error: string, code: number, text: string): StandinAnswer {
  const traceId = randomUUID();
  return {
    status,
    body: {
      error,
      error_description: `AADSTS${code}: ${text} Trace ID: ${traceId} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`,
      error_codes: [code],
      timestamp: new Date().toISOString(),
      trace_id: traceId,
      correlation_id: randomUUID(),
    },
  };
}

interface App {
  tenant: string;
  secret?: string;
  /** Federated identity credentials: subject → audience. */
  federated: Map<string, string>;
}

export interface AzureStandinOptions {
  verifySubject: SubjectVerifier;
}

export class AzureStandin {
  readonly calls = new CallCounter();
  /** The test CA's certificate (PEM) the Entra stand-in's certificate chains to. */
  readonly caPem: string;
  /** Refresh tokens the ACR stand-in issued. */
  readonly refreshTokens = new Set<string>();
  private readonly signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  private readonly apps = new Map<string, App>();
  private readonly verifySubject: SubjectVerifier;
  private entra: Listening | undefined;
  private acr: Listening | undefined;

  private constructor(caPem: string, options: AzureStandinOptions) {
    this.caPem = caPem;
    this.verifySubject = options.verifySubject;
  }

  static async start(options: AzureStandinOptions): Promise<AzureStandin> {
    const ca = await generateCA({ commonName: 'regcred test Entra CA' });
    const serving = await generateServingCertificate({ commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], issuer: ca });
    const standin = new AzureStandin(ca.cert, options);
    standin.entra = await listen((req) => {
      const config = /^\/([^/]+)\/v2\.0\/\.well-known\/openid-configuration$/.exec(req.path);
      if (req.method === 'GET' && config?.[1]) return standin.openidConfiguration(config[1]);
      const token = /^\/([^/]+)\/oauth2\/v2\.0\/token$/.exec(req.path);
      if (req.method === 'POST' && token?.[1]) return standin.token(token[1], req.form);
      return { status: 404, body: { error: 'not_found' } };
    }, serving);
    standin.acr = await listen((req) => {
      if (req.method === 'POST' && req.path === '/oauth2/exchange') return standin.exchange(req.form);
      return { status: 404, body: { errors: [{ code: 'NOT_FOUND', message: 'not found' }] } };
    });
    return standin;
  }

  /** The authority host (https://127.0.0.1:PORT) to give @azure/identity. */
  get authorityHost(): string {
    if (!this.entra) throw new Error('not started');
    if (!trusted) throw new Error('call trustTestCA(standin.caPem) first: @azure/identity needs https');
    return this.entra.url;
  }

  /** The registry's server as an acr entry names it: http://127.0.0.1:PORT. */
  get acrServer(): string {
    if (!this.acr) throw new Error('not started');
    return this.acr.url;
  }

  /** Registers an app (client) of `tenant` with a client secret and/or federated credentials. */
  registerApp(clientId: string, app: { tenant: string; secret?: string; federated?: Record<string, string> }): void {
    this.apps.set(clientId, { tenant: app.tenant, ...(app.secret ? { secret: app.secret } : {}), federated: new Map(Object.entries(app.federated ?? {})) });
  }

  async close(): Promise<void> {
    await Promise.all([this.entra?.close(), this.acr?.close()]);
  }

  private openidConfiguration(tenant: string): StandinAnswer {
    this.calls.add('openid-configuration');
    const base = `${this.entra?.url}/${tenant}`;
    return {
      status: 200,
      body: {
        token_endpoint: `${base}/oauth2/v2.0/token`,
        authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
        end_session_endpoint: `${base}/oauth2/v2.0/logout`,
        jwks_uri: `${this.entra?.url}/${tenant}/discovery/v2.0/keys`,
        issuer: `${base}/v2.0`,
        token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
        response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
        tenant_region_scope: null,
      },
    };
  }

  private async token(tenant: string, form: Record<string, string>): Promise<StandinAnswer> {
    this.calls.add('token');
    if (form.grant_type !== 'client_credentials') return entraError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    const clientId = form.client_id ?? '';
    const app = this.apps.get(clientId);
    if (!app || app.tenant !== tenant) {
      return entraError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${tenant}'.`);
    }
    if (form.scope !== `${ACR_RESOURCE}/.default`) return entraError(400, 'invalid_scope', 70011, 'The provided value for the input parameter scope is not valid.');
    if (form.client_assertion !== undefined) {
      if (form.client_assertion_type !== ASSERTION_TYPE) return entraError(400, 'invalid_request', 50027, 'Invalid JWT token.');
      const assertion = decodeJwt(form.client_assertion);
      const subject = typeof assertion?.claims.sub === 'string' ? assertion.claims.sub : '';
      const audience = app.federated.get(subject);
      if (!assertion || audience === undefined || !hasAudience(assertion.claims, audience)) {
        return entraError(400, 'invalid_client', 70021, 'No matching federated identity record found for presented assertion.');
      }
      if ((await this.verifySubject(form.client_assertion, audience)) !== subject) {
        return entraError(400, 'invalid_client', 700024, 'Client assertion is not within its valid time range or its signature is invalid.');
      }
    } else if (form.client_secret !== undefined) {
      const given = Buffer.from(form.client_secret);
      const want = Buffer.from(app.secret ?? '');
      if (!app.secret || given.length !== want.length || !timingSafeEqual(given, want)) {
        return entraError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
      }
    } else {
      return entraError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    const now = Math.floor(Date.now() / 1000);
    const accessToken = signJwt({
      aud: ACR_RESOURCE, iss: `https://sts.windows.net/${tenant}/`, iat: now, nbf: now, exp: now + ACCESS_TOKEN_LIFETIME_S,
      appid: clientId, oid: randomUUID(), sub: clientId, tid: tenant, ver: '1.0',
    }, this.signing.privateKey, 'standin');
    return { status: 200, body: { token_type: 'Bearer', expires_in: ACCESS_TOKEN_LIFETIME_S, ext_expires_in: ACCESS_TOKEN_LIFETIME_S, access_token: accessToken } };
  }

  private exchange(form: Record<string, string>): StandinAnswer {
    this.calls.add('exchange');
    const unauthorized = (message: string): StandinAnswer => ({ status: 401, body: { errors: [{ code: 'UNAUTHORIZED', message }] } });
    if (form.grant_type !== 'access_token') return { status: 400, body: { errors: [{ code: 'UNSUPPORTED', message: 'unsupported grant_type' }] } };
    const acrHost = this.acr ? new URL(this.acr.url).host : '';
    if (form.service !== acrHost) return unauthorized('service does not match this registry');
    const jwt = decodeJwt(form.access_token ?? '');
    if (!jwt || !verifyRs256(jwt, this.signing.publicKey)) return unauthorized('invalid access token');
    const { aud, tid, exp, appid } = jwt.claims;
    if (aud !== ACR_RESOURCE || tid !== form.tenant || typeof exp !== 'number' || exp * 1000 < Date.now()) return unauthorized('invalid access token');
    const now = Math.floor(Date.now() / 1000);
    // jti first: the token's leading bytes differ per token (a bcrypt-hashed registry password only uses 72).
    const refreshToken = signJwt({
      jti: randomBytes(16).toString('hex'), sub: appid, aud: acrHost, iss: 'Azure Container Registry', tenant: tid,
      grant_type: 'refresh_token', iat: now, nbf: now, exp: now + REFRESH_TOKEN_LIFETIME_S, version: '1.0',
    }, this.signing.privateKey);
    this.refreshTokens.add(refreshToken);
    return { status: 200, body: { refresh_token: refreshToken } };
  }
}
