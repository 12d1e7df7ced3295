// What a token fetch may read, for the token manager: keys of opted-in source Secrets of the
// credentials namespace (from the cache), and ServiceAccount tokens of that namespace (TokenRequest).
// Failures become TokenFetchErrors that name what is missing, never a value.
import { KubeError, type KubeClient } from '../../kube/client.ts';
import { mayBeSource, type SourceSecret } from '../sources.ts';
import { TokenFetchError } from './provider.ts';

/** Tokens are asked for this long: ample for the exchange that follows at once. */
export const SERVICE_ACCOUNT_TOKEN_SECONDS = 600;

export function sourceSecretKey(secret: (name: string) => SourceSecret | undefined, namespace: string) {
  return (name: string, key: string): string => {
    const where = `Secret ${namespace}/${name}`;
    const s = secret(name);
    if (!s) throw new TokenFetchError('SourceNotFound', `${where} not found`);
    if (!mayBeSource(s)) throw new TokenFetchError('SourceNotAllowed', `${where} is not an opted-in source`);
    const encoded = s.data?.[key];
    if (encoded === undefined) throw new TokenFetchError('SourceNotFound', `${where} has no key ${key}`);
    const value = Buffer.from(encoded, 'base64').toString('utf8').trim();
    if (value.length === 0) throw new TokenFetchError('InvalidSource', `${where} key ${key} is empty`);
    return value;
  };
}

export function serviceAccountTokens(client: Pick<KubeClient, 'requestServiceAccountToken'>, namespace: string) {
  return async (name: string, audience: string, signal: AbortSignal): Promise<string> => {
    try {
      return await client.requestServiceAccountToken(namespace, name, audience, SERVICE_ACCOUNT_TOKEN_SECONDS, signal);
    } catch (err) {
      if (err instanceof KubeError) {
        throw new TokenFetchError(err.reason || `HTTP${err.status}`, `TokenRequest for ServiceAccount ${namespace}/${name}: ${err.message}`);
      }
      throw err;
    }
  };
}
