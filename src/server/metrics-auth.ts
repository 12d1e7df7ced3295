// Who may read the metrics under --metrics-secure, decided as controller-runtime's
// filters.WithAuthenticationAndAuthorization decides it: the API server authenticates the caller's
// bearer token (TokenReview), then says whether that user may `get` the request's path as a
// non-resource URL (SubjectAccessReview). Decisions are cached briefly, so a Prometheus scraping
// every few seconds costs the API server two requests a minute rather than two per scrape.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { RESOURCES, type Resource } from '../kube/client.ts';
import { describe } from '../kube/errors.ts';
import type { Guard, Reply } from './http.ts';

/** The one call of KubeClient this needs; tests pass a fake. */
export interface ReviewClient {
  create<T>(res: Resource, namespace: string | undefined, body: unknown): Promise<T>;
}

export type Decision =
  | { allowed: true; user: string }
  | { allowed: false; status: 401 | 403 | 500; message: string };

interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

interface TokenReview {
  status?: { authenticated?: boolean; user?: UserInfo };
}

interface SubjectAccessReview {
  status?: { allowed?: boolean };
}

export interface MetricsAuthOptions {
  /** How long an allowed caller is let in without asking again (default 1 min). */
  allowedTtlMs?: number;
  /** How long a refused token stays refused (default 10 s): short, so a new RoleBinding soon counts. */
  deniedTtlMs?: number;
  /** Decisions kept at most; the oldest goes first (default 1024). */
  maxEntries?: number;
  now?: () => number;
  log?: Logger;
}

interface Entry {
  decision: Promise<Decision>;
  /** Infinity while the reviews are in flight: callers with the same token wait for the same answer. */
  expires: number;
}

const UNAUTHORIZED: Decision = { allowed: false, status: 401, message: 'Unauthorized' };

export class MetricsAuth {
  private readonly cache = new Map<string, Entry>();
  private readonly client: ReviewClient;
  private readonly allowedTtlMs: number;
  private readonly deniedTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(client: ReviewClient, options: MetricsAuthOptions = {}) {
    this.client = client;
    this.allowedTtlMs = options.allowedTtlMs ?? 60_000;
    this.deniedTtlMs = options.deniedTtlMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 1024;
    this.now = options.now ?? Date.now;
    this.log = options.log;
  }

  /** For serve(): only GET routes reach it, so the verb is `get`. */
  readonly guard: Guard = async (req: IncomingMessage, path: string): Promise<Reply | undefined> => {
    const decision = await this.check(req.headers.authorization, 'get', path);
    return decision.allowed ? undefined : { status: decision.status, body: `${decision.message}\n` };
  };

  async check(authorization: string | undefined, verb: string, path: string): Promise<Decision> {
    const token = bearerToken(authorization);
    if (!token) return UNAUTHORIZED;
    // The cache holds a digest of the token, never the token itself.
    const key = `${createHash('sha256').update(token).digest('hex')} ${verb} ${path}`;
    const cached = this.cache.get(key);
    if (cached && cached.expires > this.now()) return cached.decision;
    const entry: Entry = { decision: this.review(token, verb, path), expires: Infinity };
    this.remember(key, entry);
    const decision = await entry.decision;
    if (!decision.allowed && decision.status === 500) {
      // The API server did not answer: the next request asks again.
      if (this.cache.get(key) === entry) this.cache.delete(key);
    } else {
      entry.expires = this.now() + (decision.allowed ? this.allowedTtlMs : this.deniedTtlMs);
    }
    return decision;
  }

  /** Never rejects: a failed call is a 500 decision. */
  private async review(token: string, verb: string, path: string): Promise<Decision> {
    let user: UserInfo;
    try {
      const review = await this.client.create<TokenReview>(RESOURCES.tokenReviews, undefined, { spec: { token } });
      if (!review.status?.authenticated || !review.status.user) return UNAUTHORIZED;
      user = review.status.user;
    } catch (err) {
      this.log?.warn({ error: describe(err) }, 'metrics: TokenReview failed');
      return { allowed: false, status: 500, message: 'Authentication failed: the API server could not be asked' };
    }
    const username = user.username ?? '';
    try {
      const review = await this.client.create<SubjectAccessReview>(RESOURCES.subjectAccessReviews, undefined, {
        spec: {
          user: username,
          ...(user.uid ? { uid: user.uid } : {}),
          ...(user.groups ? { groups: user.groups } : {}),
          ...(user.extra ? { extra: user.extra } : {}),
          nonResourceAttributes: { path, verb },
        },
      });
      if (review.status?.allowed) return { allowed: true, user: username };
    } catch (err) {
      this.log?.warn({ error: describe(err), user: username }, 'metrics: SubjectAccessReview failed');
      return { allowed: false, status: 500, message: 'Authorization failed: the API server could not be asked' };
    }
    this.log?.debug({ user: username, verb, path }, 'metrics: request not authorized');
    return { allowed: false, status: 403, message: `Forbidden: user "${username}" may not ${verb} ${path}` };
  }

  private remember(key: string, entry: Entry): void {
    this.cache.delete(key);
    if (this.cache.size >= this.maxEntries) {
      const now = this.now();
      for (const [k, e] of this.cache) if (e.expires <= now) this.cache.delete(k);
      // Map order is insertion order: the first key is the oldest.
      while (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    }
    this.cache.set(key, entry);
  }

  /** Decisions held, in flight included (for tests). */
  get size(): number {
    return this.cache.size;
  }
}

/** The token of an `Authorization: Bearer <token>` header (the scheme in any case, RFC 7235). */
function bearerToken(header: string | undefined): string | undefined {
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}
