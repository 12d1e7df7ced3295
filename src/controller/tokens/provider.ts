// Short-lived registry tokens from a cloud (ECR, Artifact Registry, ACR). A provider knows how to
// fetch one token for a registry entry; the token manager fetches each distinct token once, shares
// it with every credential and namespace that uses it, and refreshes it before it expires.

/** A token as a registry accepts it: the user name and password written into the auths entry. */
export interface FetchedToken {
  username: string;
  password: string;
  /** Read from the token itself (or the cloud's answer), never assumed. */
  expiresAt: Date;
}

/** What a fetch may read: never anything outside the credentials namespace. */
export interface TokenContext {
  /**
   * A key of an opted-in source Secret of the credentials namespace (the same rules as every other
   * source). Throws TokenFetchError with code SourceNotFound / SourceNotAllowed / InvalidSource.
   */
  secretKey(name: string, key: string): string;
  /** A short-lived token of a ServiceAccount of the credentials namespace, for `audience` (TokenRequest API). */
  serviceAccountToken(name: string, audience: string): Promise<string>;
  signal: AbortSignal;
}

export type TokenProviderName = 'ecr' | 'artifactRegistry' | 'acr';

export interface TokenProvider<E> {
  readonly provider: TokenProviderName;
  /** Same (kind, auth, registry set, endpoints) → same key → one fetch shared by every user. */
  key(entry: E): string;
  /** The registries (auths keys, as registryKey() renders them) the token is written for. */
  servers(entry: E): string[];
  /** Credentials-namespace Secrets a fetch reads: a change to one of them fetches again. */
  secretNames(entry: E): string[];
  fetch(entry: E, ctx: TokenContext): Promise<FetchedToken>;
}

/**
 * A fetch that failed. `code` is the cloud's error code (e.g. ExpiredTokenException,
 * invalid_grant, AADSTS7000215) or a short reason of ours; never a response body, a token or a key.
 */
export class TokenFetchError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'TokenFetchError';
    this.code = code;
  }
}
