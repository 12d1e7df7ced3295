// Amazon ECR: GetAuthorizationToken answers a base64 "AWS:<token>" valid for 12 hours, for every
// registry the caller may pull from. Its key is region + auth + endpoints, not the registry host, so
// several registries of one account and region share one call. Credentials are static keys from a
// source Secret, or keyless: a ServiceAccount token traded with STS AssumeRoleWithWebIdentity.
// The AWS SDK is loaded on the first fetch: an operator with no ECR entry never pays its memory.
const ecrSdk = () => import('@aws-sdk/client-ecr');
const stsSdk = () => import('@aws-sdk/client-sts');
import { DEFAULT_AWS_AUDIENCE, ECR_HOST, type EcrSource } from '../../../api/schema.ts';
import { registryKey } from '../../dockerconfig.ts';
import { TokenFetchError, type FetchedToken, type TokenContext, type TokenProvider } from '../provider.ts';

/** Keys of the access-key Secret, as the AWS CLI's credentials file names them. */
export const AWS_KEYS = { accessKeyId: 'aws_access_key_id', secretAccessKey: 'aws_secret_access_key', sessionToken: 'aws_session_token' } as const;
/** The role session name CloudTrail shows for the operator's calls. */
const SESSION_NAME = 'regcred-operator';
/** The SDK retries once itself; the token manager's backoff does the rest. */
const MAX_ATTEMPTS = 2;

export function ecrRegion(e: EcrSource): string | undefined {
  return e.region ?? new RegExp(ECR_HOST).exec(e.registry)?.[2];
}

interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const ecrProvider: TokenProvider<EcrSource> = {
  provider: 'ecr',
  key(e) {
    const sa = e.auth.serviceAccountRef;
    const auth = sa
      ? ['serviceAccount', sa.name, sa.audience ?? DEFAULT_AWS_AUDIENCE, sa.roleARN, sa.stsEndpoint ?? '']
      : ['secret', e.auth.secretRef?.name ?? ''];
    return JSON.stringify([ecrRegion(e) ?? '', ...auth, e.endpoint ?? '']);
  },
  servers: (e) => [registryKey(e.registry)],
  secretNames: (e) => (e.auth.secretRef ? [e.auth.secretRef.name] : []),
  async fetch(e, ctx) {
    const region = ecrRegion(e);
    if (!region) throw new TokenFetchError('InvalidSource', `ecr.region is not set and the registry ${e.registry} does not name it`);
    const credentials = e.auth.serviceAccountRef ? await assumeRole(e, region, ctx) : staticCredentials(e, ctx);
    const { ECRClient, GetAuthorizationTokenCommand } = await ecrSdk();
    const client = new ECRClient({ region, credentials, maxAttempts: MAX_ATTEMPTS, ...(e.endpoint ? { endpoint: e.endpoint } : {}) });
    try {
      const out = await client.send(new GetAuthorizationTokenCommand({}), { abortSignal: ctx.signal });
      return decodeAuthorization(out.authorizationData?.[0]);
    } catch (err) {
      throw awsError(err, 'ECR GetAuthorizationToken');
    } finally {
      client.destroy();
    }
  },
};

function staticCredentials(e: EcrSource, ctx: TokenContext): AwsCredentials {
  const name = e.auth.secretRef!.name;
  const accessKeyId = ctx.secretKey(name, AWS_KEYS.accessKeyId);
  const secretAccessKey = ctx.secretKey(name, AWS_KEYS.secretAccessKey);
  let sessionToken: string | undefined;
  try {
    sessionToken = ctx.secretKey(name, AWS_KEYS.sessionToken);
  } catch (err) {
    // Optional: only a missing key is fine; a Secret that vanished or is refused says so.
    if (!(err instanceof TokenFetchError && err.code === 'SourceNotFound' && err.message.includes(AWS_KEYS.sessionToken))) throw err;
  }
  return { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
}

async function assumeRole(e: EcrSource, region: string, ctx: TokenContext): Promise<AwsCredentials> {
  const sa = e.auth.serviceAccountRef!;
  const webIdentity = await ctx.serviceAccountToken(sa.name, sa.audience ?? DEFAULT_AWS_AUDIENCE);
  const { AssumeRoleWithWebIdentityCommand, STSClient } = await stsSdk();
  const sts = new STSClient({ region, maxAttempts: MAX_ATTEMPTS, ...(sa.stsEndpoint ? { endpoint: sa.stsEndpoint } : {}) });
  try {
    const out = await sts.send(new AssumeRoleWithWebIdentityCommand({
      RoleArn: sa.roleARN,
      RoleSessionName: SESSION_NAME,
      WebIdentityToken: webIdentity,
      // Only long enough for the one call that follows.
      DurationSeconds: 900,
    }), { abortSignal: ctx.signal });
    const c = out.Credentials;
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new TokenFetchError('InvalidResponse', 'STS AssumeRoleWithWebIdentity returned no credentials');
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, ...(c.SessionToken ? { sessionToken: c.SessionToken } : {}) };
  } catch (err) {
    throw awsError(err, 'STS AssumeRoleWithWebIdentity');
  } finally {
    sts.destroy();
  }
}

/** ECR's answer: base64 of "AWS:<token>" and when it expires. */
export function decodeAuthorization(data: { authorizationToken?: string | undefined; expiresAt?: Date | undefined } | undefined): FetchedToken {
  if (!data?.authorizationToken) throw new TokenFetchError('InvalidResponse', 'ECR GetAuthorizationToken returned no authorization token');
  if (!(data.expiresAt instanceof Date) || Number.isNaN(data.expiresAt.getTime())) {
    throw new TokenFetchError('InvalidResponse', 'ECR GetAuthorizationToken returned no expiry');
  }
  const decoded = Buffer.from(data.authorizationToken, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0 || colon === decoded.length - 1) throw new TokenFetchError('InvalidResponse', 'ECR GetAuthorizationToken returned a token that is not user:password');
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1), expiresAt: data.expiresAt };
}

/**
 * The cloud's error code and HTTP status, never its message: an SDK error's message can quote the
 * response body. A connection that failed says its errno code (ECONNREFUSED, …).
 */
export function awsError(err: unknown, what: string): TokenFetchError {
  if (err instanceof TokenFetchError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const errno = typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code) ? e.code : undefined;
  const name = typeof e.name === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(e.name) ? e.name : 'Error';
  const code = errno ?? name;
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  return new TokenFetchError(code, `${what} failed: ${code}${status ? ` (HTTP ${status})` : ''}`);
}
