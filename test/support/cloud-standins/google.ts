// A stand-in for the Google endpoints Artifact Registry tokens come from, on loopback (plain HTTP:
// google-auth-library accepts any URL it is given):
//  - POST /token: OAuth 2.0 JWT-bearer grant (RFC 7523) as oauth2.googleapis.com/token answers it:
//    the assertion's RS256 signature is verified against the public keys of the service account its
//    iss names (the one with kid = private_key_id when given), with aud = Google's token URL, the
//    cloud-platform scope and a live iat/exp;
//  - POST /v1/token: STS token exchange (RFC 8693) as sts.googleapis.com answers it: subject token
//    type JWT, the workload identity provider's audience, and a subject token that the control
//    plane confirms (TokenReview) is a ServiceAccount token for that audience;
//  - POST /v1/projects/-/serviceAccounts/<email>:generateAccessToken (IAM credentials): only with a
//    bearer token this stand-in's STS issued to a principal allowed to impersonate <email>.
// Errors have Google's shapes: {error, error_description} for OAuth, {error: {code, message, status}}
// for IAM. Every endpoint counts its calls.
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { CallCounter, decodeJwt, hasAudience, listen, verifyRs256, type Listening, type StandinAnswer, type SubjectVerifier } from './http.ts';

export const GOOGLE_TOKEN_AUDIENCE = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const TOKEN_LIFETIME_S = 3599;

export interface TestServiceAccountKey {
  email: string;
  /** The JSON key file's text, as a Secret holds it. */
  json: string;
  publicKey: KeyObject;
}

/** A service-account JSON key as the IAM console downloads it, with a fresh RSA key pair. */
export function generateServiceAccountKey(email: string, tokenUri = GOOGLE_TOKEN_AUDIENCE): TestServiceAccountKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const id = randomBytes(20).toString('hex');
  const json = JSON.stringify({
    type: 'service_account',
    project_id: email.split('@')[1]?.split('.')[0] ?? 'test-project',
    private_key_id: id,
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
    client_email: email,
    client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
    universe_domain: 'googleapis.com',
  });
  return { email, json, publicKey };
}

const oauthError = (status: number, error: string, description: string): StandinAnswer => ({ status, body: { error, error_description: description } });
const apiError = (code: number, status: string, message: string): StandinAnswer => ({ status: code, body: { error: { code, message, status } } });

export interface GoogleStandinOptions {
  /** Confirms a subject token with the control plane (TokenReview); returns the ServiceAccount's user name. */
  verifySubject: SubjectVerifier;
}

export class GoogleStandin {
  readonly calls = new CallCounter();
  /** Access tokens issued, by token: who they were issued to. */
  readonly issued = new Map<string, { principal: string; expiresAt: Date }>();
  private readonly keys = new Map<string, { email: string; publicKey: KeyObject }>();
  /** Workload identity provider audiences this STS accepts. */
  private readonly audiences = new Set<string>();
  /** Google service account → principals (STS subjects) allowed to impersonate it. */
  private readonly impersonators = new Map<string, Set<string>>();
  private listening: Listening | undefined;
  private readonly verifySubject: SubjectVerifier;

  private constructor(options: GoogleStandinOptions) {
    this.verifySubject = options.verifySubject;
  }

  static async start(options: GoogleStandinOptions): Promise<GoogleStandin> {
    const standin = new GoogleStandin(options);
    standin.listening = await listen((req) => {
      if (req.method === 'POST' && req.path === '/token') return standin.jwtBearer(req.form);
      if (req.method === 'POST' && req.path === '/v1/token') return standin.stsExchange(req.form);
      const impersonation = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(req.path);
      if (req.method === 'POST' && impersonation?.[1]) return standin.generateAccessToken(decodeURIComponent(impersonation[1]), req.headers.authorization, req.json);
      return apiError(404, 'NOT_FOUND', `no route ${req.method} ${req.path}`);
    });
    return standin;
  }

  get url(): string {
    if (!this.listening) throw new Error('not started');
    return this.listening.url;
  }

  get tokenUrl(): string {
    return `${this.url}/token`;
  }

  get stsUrl(): string {
    return `${this.url}/v1/token`;
  }

  /** Accepts this service-account key's signed assertions from now on. */
  trustKey(key: TestServiceAccountKey): void {
    const id = (JSON.parse(key.json) as { private_key_id: string }).private_key_id;
    this.keys.set(id, { email: key.email, publicKey: key.publicKey });
  }

  /** Accepts STS exchanges for this workload identity provider audience. */
  addWorkloadIdentityProvider(audience: string): void {
    this.audiences.add(audience);
  }

  /** Lets `principal` (system:serviceaccount:<ns>:<name>) impersonate the Google service account `email`. */
  allowImpersonation(email: string, principal: string): void {
    const set = this.impersonators.get(email) ?? new Set<string>();
    set.add(principal);
    this.impersonators.set(email, set);
  }

  async close(): Promise<void> {
    await this.listening?.close();
  }

  private issue(principal: string, prefix: string): { token: string; expiresAt: Date } {
    const token = `ya29.${prefix}${randomBytes(24).toString('base64url')}`;
    const expiresAt = new Date(Date.now() + TOKEN_LIFETIME_S * 1000);
    this.issued.set(token, { principal, expiresAt });
    return { token, expiresAt };
  }

  private jwtBearer(form: Record<string, string>): StandinAnswer {
    this.calls.add('token');
    if (form.grant_type !== JWT_BEARER) return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type');
    const jwt = decodeJwt(form.assertion ?? '');
    if (!jwt) return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token and in a reasonable timeframe');
    // Like Google: the key named by kid when the header has one (google-auth-library's JWT client
    // sends none), else any active key of the service account the assertion's iss names.
    const iss = jwt.claims.iss;
    const candidates = [...this.keys].filter(([id, k]) => k.email === iss && (jwt.header.kid === undefined || jwt.header.kid === id));
    if (!candidates.some(([, k]) => verifyRs256(jwt, k.publicKey))) return oauthError(400, 'invalid_grant', 'Invalid JWT Signature.');
    const { aud, scope, iat, exp } = jwt.claims;
    const now = Date.now() / 1000;
    if (aud !== GOOGLE_TOKEN_AUDIENCE) return oauthError(400, 'invalid_grant', 'Invalid JWT: aud');
    if (typeof iat !== 'number' || typeof exp !== 'number' || iat > now + 300 || exp < now || exp - iat > 3600) {
      return oauthError(400, 'invalid_grant', 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.');
    }
    if (typeof scope !== 'string' || !scope.split(' ').includes('https://www.googleapis.com/auth/cloud-platform')) {
      return oauthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const { token } = this.issue(String(iss), '');
    return { status: 200, body: { access_token: token, expires_in: TOKEN_LIFETIME_S, token_type: 'Bearer' } };
  }

  private async stsExchange(form: Record<string, string>): Promise<StandinAnswer> {
    this.calls.add('sts');
    if (form.grant_type !== TOKEN_EXCHANGE) return oauthError(400, 'unsupported_grant_type', 'Invalid grant_type');
    if (form.subject_token_type !== JWT_TYPE) return oauthError(400, 'invalid_request', 'Invalid subject_token_type');
    if (form.requested_token_type !== ACCESS_TOKEN_TYPE) return oauthError(400, 'invalid_request', 'Invalid requested_token_type');
    const audience = form.audience ?? '';
    if (!this.audiences.has(audience)) return oauthError(400, 'invalid_target', 'The target service indicated by the "audience" parameters is invalid.');
    const subject = decodeJwt(form.subject_token ?? '');
    if (!subject || !hasAudience(subject.claims, audience)) return oauthError(400, 'invalid_grant', 'The audience in ID Token does not match the expected audience.');
    const principal = await this.verifySubject(form.subject_token ?? '', audience);
    if (!principal) return oauthError(400, 'invalid_grant', 'ID Token issued at an unknown issuer or with an invalid signature.');
    const { token } = this.issue(principal, 'sts-');
    return { status: 200, body: { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: 'Bearer', expires_in: TOKEN_LIFETIME_S } };
  }

  private generateAccessToken(email: string, authorization: string | undefined, body: unknown): StandinAnswer {
    this.calls.add('generateAccessToken');
    const bearer = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const caller = bearer ? this.issued.get(bearer) : undefined;
    if (!caller || caller.expiresAt.getTime() < Date.now()) return apiError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
    if (!this.impersonators.get(email)?.has(caller.principal)) {
      return apiError(403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
    }
    const scope = (body as { scope?: unknown } | undefined)?.scope;
    if (!Array.isArray(scope) || scope.length === 0) return apiError(400, 'INVALID_ARGUMENT', 'Scope required.');
    const { token, expiresAt } = this.issue(email, 'sa-');
    return { status: 200, body: { accessToken: token, expireTime: expiresAt.toISOString().replace(/\.\d+Z$/, 'Z') } };
  }
}
