// Pure functions that turn credentials into .dockerconfigjson bytes. Output is canonical (sorted
// keys, no whitespace) so identical inputs always give identical bytes and no needless writes.
import type { Digest } from './digest.ts';

export interface AuthEntry {
  username: string;
  password: string;
  auth: string;
  email?: string;
}

/** Registry key (as written in .dockerconfigjson) → credentials. */
export type Auths = Record<string, AuthEntry>;

/** The data key of a kubernetes.io/dockerconfigjson Secret. */
export const DOCKERCONFIGJSON_KEY = '.dockerconfigjson';

export const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';
const DOCKER_HUB_HOSTS = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** The key a server is written under; all spellings of Docker Hub become its one legacy key. */
export function registryKey(server: string): string {
  const withoutScheme = server.trim().replace(/^https?:\/\//i, '');
  const slash = withoutScheme.indexOf('/');
  const host = (slash === -1 ? withoutScheme : withoutScheme.slice(0, slash)).toLowerCase();
  const path = slash === -1 ? '' : withoutScheme.slice(slash).replace(/\/+$/, '');
  // kubelet reads a trailing /v1/ or /v2/ as the whole host (the form docker login writes), and
  // without the slash as a repository path: it goes. A Docker Hub repository path is matched only
  // under docker.io, the host kubelet names Docker Hub images with.
  const wholeHost = path === '' || /^\/v[12]$/.test(path);
  if (DOCKER_HUB_HOSTS.has(host)) return wholeHost ? DOCKER_HUB_KEY : `docker.io${path}`;
  return wholeHost ? host : host + path;
}

export function basicAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
}

export function authEntry(username: string, password: string, email?: string): AuthEntry {
  return { username, password, auth: basicAuth(username, password), ...(email ? { email } : {}) };
}

export type ParseResult = { ok: true; auths: Auths } | { ok: false; message: string };

/**
 * Reads the registries of a kubernetes.io/dockerconfigjson or legacy kubernetes.io/dockercfg
 * Secret. Messages name the key and the problem, never the content.
 */
export function parseDockerConfigSecret(type: string | undefined, data: Record<string, string> | undefined): ParseResult {
  const key = type === 'kubernetes.io/dockercfg' ? '.dockercfg' : '.dockerconfigjson';
  if (type !== 'kubernetes.io/dockerconfigjson' && type !== 'kubernetes.io/dockercfg') {
    return { ok: false, message: `has type ${type ?? '(none)'}, want kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg` };
  }
  const encoded = data?.[key];
  if (encoded === undefined) return { ok: false, message: `has no key ${key}` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch {
    return { ok: false, message: `key ${key} is not valid JSON` };
  }
  if (!isRecord(parsed)) return { ok: false, message: `key ${key} is not a JSON object` };
  const registries = key === '.dockercfg' ? parsed : parsed.auths;
  if (!isRecord(registries)) return { ok: false, message: `key ${key} has no "auths" object` };
  const auths: Auths = {};
  for (const [server, value] of Object.entries(registries)) {
    const entry = readEntry(value);
    if (!entry) return { ok: false, message: `key ${key}: the entry for ${server} has neither username and password nor a valid auth` };
    auths[registryKey(server)] = entry;
  }
  return { ok: true, auths };
}

function readEntry(value: unknown): AuthEntry | undefined {
  if (!isRecord(value)) return undefined;
  const email = typeof value.email === 'string' && value.email ? value.email : undefined;
  if (typeof value.username === 'string' && typeof value.password === 'string') {
    return authEntry(value.username, value.password, email);
  }
  if (typeof value.auth !== 'string') return undefined;
  const decoded = Buffer.from(value.auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  return authEntry(decoded.slice(0, colon), decoded.slice(colon + 1), email);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One resolved spec entry: its position and name for messages, and the registries it yields. */
export interface ResolvedEntry {
  label: string;
  auths: Auths;
}

export interface ShadowedRegistry {
  registry: string;
  keptFrom: string;
  ignoredFrom: string;
}

export interface RenderedConfig {
  bytes: Buffer;
  /** The bytes in base64, as a Secret's data holds them. */
  encoded: string;
  /** The installation's digest of the bytes (never a plain hash of them): status and annotation. */
  hash: string;
  registries: string[];
  shadowed: ShadowedRegistry[];
}

/** Merges entries in order; the first entry to name a registry wins and later ones are reported. */
export function renderDockerConfig(entries: ResolvedEntry[], digest: Digest): RenderedConfig {
  const merged: Auths = {};
  const from: Record<string, string> = {};
  const shadowed: ShadowedRegistry[] = [];
  for (const entry of entries) {
    for (const [registry, auth] of Object.entries(entry.auths)) {
      const kept = from[registry];
      if (kept !== undefined) {
        if (!sameAuth(merged[registry]!, auth)) shadowed.push({ registry, keptFrom: kept, ignoredFrom: entry.label });
        continue;
      }
      merged[registry] = auth;
      from[registry] = entry.label;
    }
  }
  const bytes = Buffer.from(canonicalJson({ auths: merged }), 'utf8');
  return { bytes, encoded: bytes.toString('base64'), hash: digest.of(bytes), registries: Object.keys(merged).sort(), shadowed };
}

function sameAuth(a: AuthEntry, b: AuthEntry): boolean {
  return a.auth === b.auth && (a.email ?? '') === (b.email ?? '');
}

/** JSON with object keys sorted at every level. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isRecord(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}
