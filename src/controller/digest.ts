// The change-detection digest of rendered pull secrets: an HMAC-SHA256 under a random key of this
// installation, so the digests the operator shows (status.credentialHash, the credential-hash
// annotation, the Rotated Event) cannot be used to test password guesses offline, as a plain hash
// of bytes whose server and username are public could. The key lives in one immutable Secret of the
// operator's namespace, created by whichever replica starts first and read by every other, so
// digests stay the same across restarts and replicas.
import { createHmac, randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { COMPONENT_LABEL, DIGEST_KEY_COMPONENT, NAME_LABEL, NAME_VALUE } from '../api/labels.ts';
import { RESOURCES, isAlreadyExists, isNotFound, type KubeClient } from '../kube/client.ts';
import { describe } from '../kube/errors.ts';
import type { Secret } from '../kube/objects.ts';

export const DIGEST_PREFIX = 'hmac-sha256:';
/** The data key of the digest key Secret. */
export const DIGEST_KEY_DATA = 'key';
export const DIGEST_KEY_BYTES = 32;

export class Digest {
  // A private field: the key never shows up when the object is logged, serialized or inspected.
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length < DIGEST_KEY_BYTES) throw new Error(`a digest key needs at least ${DIGEST_KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  /** A random key, for tests and for a first start. */
  static random(): Digest {
    return new Digest(randomBytes(DIGEST_KEY_BYTES));
  }

  of(bytes: Buffer): string {
    return `${DIGEST_PREFIX}${createHmac('sha256', this.#key).update(bytes).digest('hex')}`;
  }
}

/** The Secret a first start creates: immutable, Opaque, and not labelled as managed (not a pull secret). */
export function digestKeySecret(name: string, key: Buffer): Secret {
  return {
    metadata: { name, labels: { [NAME_LABEL]: NAME_VALUE, [COMPONENT_LABEL]: DIGEST_KEY_COMPONENT } },
    type: 'Opaque',
    immutable: true,
    data: { [DIGEST_KEY_DATA]: key.toString('base64') },
  };
}

async function readKey(client: KubeClient, namespace: string, name: string): Promise<Buffer | undefined> {
  let secret: Secret;
  try {
    secret = await client.get<Secret>(RESOURCES.secrets, namespace, name);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
  const key = Buffer.from(secret.data?.[DIGEST_KEY_DATA] ?? '', 'base64');
  if (key.length < DIGEST_KEY_BYTES) {
    throw new Error(`Secret ${namespace}/${name} has no key "${DIGEST_KEY_DATA}" of at least ${DIGEST_KEY_BYTES} bytes; delete it and a new key is made (every managed Secret is then rewritten once)`);
  }
  return key;
}

/**
 * The installation's digest: the key Secret's if it exists, else a new random key saved in it. When
 * another replica creates it first (409 AlreadyExists), its key is the one used.
 */
export async function loadDigest(client: KubeClient, namespace: string, name: string): Promise<{ digest: Digest; created: boolean }> {
  const existing = await readKey(client, namespace, name);
  if (existing) return { digest: new Digest(existing), created: false };
  const key = randomBytes(DIGEST_KEY_BYTES);
  try {
    await client.create(RESOURCES.secrets, namespace, digestKeySecret(name, key));
    return { digest: new Digest(key), created: true };
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
  }
  const winner = await readKey(client, namespace, name);
  if (!winner) throw new Error(`Secret ${namespace}/${name} already exists but cannot be found`);
  return { digest: new Digest(winner), created: false };
}

export interface LoadOptions {
  /** Give up after this long (the cache-sync timeout: the key is the first thing the caches need). */
  timeoutMs: number;
  /** Stop retrying when this says so (a SIGTERM meanwhile): resolves to undefined. */
  cancelled: () => boolean;
  retryMs?: number;
}

/** loadDigest, retried until it succeeds, `timeoutMs` passes (it throws) or it is cancelled. */
export async function loadDigestRetrying(client: KubeClient, log: Logger, namespace: string, name: string, options: LoadOptions): Promise<Digest | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  let delay = options.retryMs ?? 500;
  for (;;) {
    try {
      const { digest, created } = await loadDigest(client, namespace, name);
      log.info({ secret: `${namespace}/${name}`, created }, created ? 'digest key created' : 'digest key loaded');
      return digest;
    } catch (err) {
      if (Date.now() + delay > deadline) throw err;
      log.warn({ secret: `${namespace}/${name}`, error: describe(err), retryInMs: delay }, 'could not load the digest key; retrying');
    }
    await new Promise((r) => setTimeout(r, delay));
    if (options.cancelled()) return undefined;
    delay = Math.min(delay * 2, 10_000);
  }
}
