// Credential sources: each kind of registry entry knows which inputs it reads and how to turn them
// into registries. New kinds (cloud token sources) are added to SOURCE_KINDS, not special-cased.
// A Secret of the credentials namespace is read only when it opted in (the source label), its type
// can hold registry credentials, and its allowed-credentials annotation, if any, names the reader.
import { ALLOWED_CREDENTIALS_ANNOTATION, COMPONENT_LABEL, DIGEST_KEY_COMPONENT, SOURCE_LABEL, SOURCE_LABEL_VALUE } from '../api/labels.ts';
import type { RegistryEntry } from '../api/schema.ts';
import { createHash } from 'node:crypto';
import { authEntry, parseDockerConfigSecret, registryKey, type Auths, type ResolvedEntry } from './dockerconfig.ts';
import { tokenEntryOf, tokenSecretNames, tokenServers, tokenSourceLabel, type TokenEntry } from './tokens/entries.ts';
import type { TokenLookup, TokenUse } from './tokens/manager.ts';
import type { TokenView } from './tokens/status.ts';
import { builtInProviders, type ProviderLookup } from './tokens/providers/index.ts';

/** A Secret as the API server returns it: data values are base64. */
export interface SourceSecret {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  type?: string;
  data?: Record<string, string>;
}

export interface SourceInputs {
  /** Secrets of the credentials namespace, by name. */
  secret(name: string): SourceSecret | undefined;
  credentialsNamespace: string;
  /** The RegistryCredential that reads them: a Secret's allowed-credentials annotation must name it. */
  credential: string;
  /** Current cloud tokens (the token manager); without it every token entry is pending. */
  tokens?: TokenLookup;
  /** The token providers of this build (tests give their own). */
  providers?: ProviderLookup;
}

export type SourceFailureReason =
  | 'SourceNotFound'
  | 'InvalidSource'
  | 'SourceNotAllowed'
  /** No token yet: a fetch is under way and wakes the credential when it ends. */
  | 'TokenPending'
  /** The cloud refused or failed every fetch so far and no good token is left; retried with backoff. */
  | 'TokenFetchFailed'
  /** This build has no provider for the entry's cloud. */
  | 'ProviderUnavailable';

type SourceFailure = { ok: false; reason: SourceFailureReason; message: string };

export type SourceResult = { ok: true; auths: Auths } | SourceFailure;

export interface CredentialSourceKind {
  handles(entry: RegistryEntry): boolean;
  /** Names of credentials-namespace Secrets the entry reads; a change to one of them re-renders. */
  secretNames(entry: RegistryEntry): string[];
  resolve(entry: RegistryEntry, inputs: SourceInputs): SourceResult;
}

const secretKeySource: CredentialSourceKind = {
  handles: (e) => e.server !== undefined,
  secretNames: (e) => [e.usernameFrom?.secretKeyRef.name, e.passwordFrom?.secretKeyRef.name].filter((n): n is string => !!n),
  resolve(e, inputs) {
    const username = e.username !== undefined ? { ok: true as const, value: e.username } : readKey(e.usernameFrom!.secretKeyRef, inputs);
    if (!username.ok) return username;
    const password = readKey(e.passwordFrom!.secretKeyRef, inputs);
    if (!password.ok) return password;
    return { ok: true, auths: { [registryKey(e.server!)]: authEntry(username.value, password.value, e.email) } };
  },
};

const dockerConfigSource: CredentialSourceKind = {
  handles: (e) => e.dockerConfigFrom !== undefined,
  secretNames: (e) => [e.dockerConfigFrom!.secretRef.name],
  resolve(e, inputs) {
    const source = readableSecret(e.dockerConfigFrom!.secretRef.name, inputs);
    if (!source.ok) return source;
    const parsed = parseDockerConfigSecret(source.secret.type, source.secret.data);
    if (!parsed.ok) return { ok: false, reason: 'InvalidSource', message: `${source.where} ${parsed.message}` };
    return { ok: true, auths: parsed.auths };
  },
};

/**
 * ecr, artifactRegistry and acr: the token the manager holds for the entry. The Secrets the fetch
 * reads are checked for this credential first (a token fetched for another credential that may read
 * them is no reason to hand it to one that may not).
 */
const tokenSource: CredentialSourceKind = {
  handles: (e) => tokenEntryOf(e) !== undefined,
  secretNames: (e) => tokenSecretNames(tokenEntryOf(e)!, builtInProviders),
  resolve(e, inputs) {
    const t = tokenEntryOf(e)!;
    const providers = inputs.providers ?? builtInProviders;
    for (const name of tokenSecretNames(t, providers)) {
      const readable = readableSecret(name, inputs);
      if (!readable.ok) return readable;
    }
    const state = inputs.tokens?.current(t.provider, t.entry) ?? { state: 'pending' as const };
    switch (state.state) {
      case 'ready': {
        const auth = authEntry(state.token.username, state.token.password);
        return { ok: true, auths: Object.fromEntries(tokenServers(t, providers).map((server) => [registryKey(server), auth])) };
      }
      case 'pending':
        return { ok: false, reason: 'TokenPending', message: `waiting for the first ${t.provider} token` };
      case 'failed':
        return { ok: false, reason: 'TokenFetchFailed', message: `no ${t.provider} token: ${state.failure.code}: ${state.failure.message}; retrying with backoff` };
      case 'unavailable':
        return { ok: false, reason: 'ProviderUnavailable', message: `this build of the operator has no ${t.provider} token provider` };
    }
  },
};

export const SOURCE_KINDS: CredentialSourceKind[] = [secretKeySource, dockerConfigSource, tokenSource];

/**
 * The token entries the credential uses and may use (their Secrets readable by it), for the token
 * manager. `version` fingerprints the contents of those Secrets, so a changed key fetches again; it
 * stays in memory and is never shown.
 */
export function tokenUses(entries: RegistryEntry[], inputs: SourceInputs): TokenUse[] {
  const providers = inputs.providers ?? builtInProviders;
  return entries.flatMap((e) => {
    const t: TokenEntry | undefined = tokenEntryOf(e);
    if (!t) return [];
    const hash = createHash('sha256');
    for (const name of tokenSecretNames(t, providers)) {
      const readable = readableSecret(name, inputs);
      if (!readable.ok) return [];
      hash.update(JSON.stringify([name, Object.entries(readable.secret.data ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))]));
    }
    return [{ provider: t.provider, entry: t.entry, version: hash.digest('hex') }];
  });
}

/** What status.tokens shows: each token entry the credential may use, with the manager's current state. */
export function tokenViews(entries: RegistryEntry[], inputs: SourceInputs): TokenView[] {
  const providers = inputs.providers ?? builtInProviders;
  return entries.flatMap((e, i) => {
    const t = tokenEntryOf(e);
    if (!t || tokenSecretNames(t, providers).some((name) => !readableSecret(name, inputs).ok)) return [];
    return [{ source: tokenSourceLabel(i, t, providers), state: inputs.tokens?.current(t.provider, t.entry) ?? { state: 'pending' as const } }];
  });
}

function kindOf(entry: RegistryEntry): CredentialSourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.handles(entry));
}

/** Secret types that hold something other than registry credentials: never a source, whatever their labels. */
export const REFUSED_SOURCE_TYPES: ReadonlySet<string> = new Set([
  'kubernetes.io/service-account-token',
  'helm.sh/release.v1',
  'bootstrap.kubernetes.io/token',
  'kubernetes.io/tls',
]);

/** Whether any RegistryCredential may read the Secret: it opted in and its type can hold credentials. */
export function mayBeSource(secret: SourceSecret): boolean {
  return refusedKind(secret) === undefined && secret.metadata?.labels?.[SOURCE_LABEL] === SOURCE_LABEL_VALUE;
}

/** Why no label can make this Secret a source: its type, or it is the operator's digest key. */
function refusedKind(secret: SourceSecret): string | undefined {
  if (secret.type !== undefined && REFUSED_SOURCE_TYPES.has(secret.type)) return `has type ${secret.type}, which is refused as a source`;
  // Rendering the key would hand it to every namespace and make the digests guessable again.
  if (secret.metadata?.labels?.[COMPONENT_LABEL] === DIGEST_KEY_COMPONENT) return 'is the operator\'s digest key, which is never a source';
  return undefined;
}

/**
 * Why this RegistryCredential may not read the Secret (to follow "Secret <ns>/<name>"), or
 * undefined when it may. Names what is missing, never what the Secret holds.
 */
export function sourceRefusal(secret: SourceSecret, credential: string): string | undefined {
  const refused = refusedKind(secret);
  if (refused) return refused;
  if (secret.metadata?.labels?.[SOURCE_LABEL] !== SOURCE_LABEL_VALUE) return `is not a source: it lacks the label ${SOURCE_LABEL}=${SOURCE_LABEL_VALUE}`;
  const allowed = secret.metadata.annotations?.[ALLOWED_CREDENTIALS_ANNOTATION];
  if (allowed !== undefined && !allowed.split(',').some((n) => n.trim() === credential)) {
    return `does not list RegistryCredential ${credential} in its annotation ${ALLOWED_CREDENTIALS_ANNOTATION}`;
  }
  return undefined;
}

/** The named Secret of the credentials namespace, if it exists and this credential may read it. */
function readableSecret(name: string, inputs: SourceInputs): { ok: true; secret: SourceSecret; where: string } | SourceFailure {
  const where = `Secret ${inputs.credentialsNamespace}/${name}`;
  const secret = inputs.secret(name);
  if (!secret) return notFound(`${where} not found`);
  const refusal = sourceRefusal(secret, inputs.credential);
  if (refusal) return { ok: false, reason: 'SourceNotAllowed', message: `${where} ${refusal}` };
  return { ok: true, secret, where };
}

type KeyValue = { ok: true; value: string } | SourceFailure;

function readKey(ref: { name: string; key: string }, inputs: SourceInputs): KeyValue {
  const source = readableSecret(ref.name, inputs);
  if (!source.ok) return source;
  const where = source.where;
  const encoded = source.secret.data?.[ref.key];
  if (encoded === undefined) return notFound(`${where} has no key ${ref.key}`);
  const value = Buffer.from(encoded, 'base64').toString('utf8');
  if (value.length === 0) return { ok: false, reason: 'InvalidSource', message: `${where} key ${ref.key} is empty` };
  if (/[\r\n]/.test(value)) {
    // Usually a trailing newline from `echo` into a file; no registry accepts it, so say so early.
    return { ok: false, reason: 'InvalidSource', message: `${where} key ${ref.key} contains a line break` };
  }
  return { ok: true, value };
}

function notFound(message: string): { ok: false; reason: 'SourceNotFound'; message: string } {
  return { ok: false, reason: 'SourceNotFound', message };
}

/** Every credentials-namespace Secret name the entries read, CA bundles for validation included. */
export function referencedSecrets(entries: RegistryEntry[]): Set<string> {
  return new Set(entries.flatMap((e) => [...(kindOf(e)?.secretNames(e) ?? []), ...(e.caBundleFrom?.secretKeyRef ? [e.caBundleFrom.secretKeyRef.name] : [])]));
}

/** Every credentials-namespace ConfigMap name the entries read (CA bundles for validation). */
export function referencedConfigMaps(entries: RegistryEntry[]): Set<string> {
  return new Set(entries.flatMap((e) => (e.caBundleFrom?.configMapKeyRef ? [e.caBundleFrom.configMapKeyRef.name] : [])));
}

export type ResolveAllResult = { ok: true; entries: ResolvedEntry[] } | SourceFailure;

/** Resolves every entry; the first failure wins so the status names one concrete thing to fix. */
export function resolveEntries(entries: RegistryEntry[], inputs: SourceInputs): ResolveAllResult {
  const resolved: ResolvedEntry[] = [];
  for (const [i, entry] of entries.entries()) {
    const kind = kindOf(entry);
    if (!kind) return { ok: false, reason: 'InvalidSource', message: `spec.registries[${i}] has no credential source` };
    const result = kind.resolve(entry, inputs);
    if (!result.ok) return { ok: false, reason: result.reason, message: `spec.registries[${i}]: ${result.message}` };
    resolved.push({ label: `registries[${i}]`, auths: result.auths });
  }
  return { ok: true, entries: resolved };
}
