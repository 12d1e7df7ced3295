// Credential sources: each kind of registry entry knows which inputs it reads and how to turn them
// into registries. New kinds (cloud token sources) are added to SOURCE_KINDS, not special-cased.
import type { RegistryEntry } from '../api/schema.ts';
import { authEntry, parseDockerConfigSecret, registryKey, type Auths, type ResolvedEntry } from './dockerconfig.ts';

/** A Secret as the API server returns it: data values are base64. */
export interface SourceSecret {
  type?: string;
  data?: Record<string, string>;
}

export interface SourceInputs {
  /** Secrets of the credentials namespace, by name. */
  secret(name: string): SourceSecret | undefined;
  credentialsNamespace: string;
}

export type SourceFailureReason = 'SourceNotFound' | 'InvalidSource';

export type SourceResult =
  | { ok: true; auths: Auths }
  | { ok: false; reason: SourceFailureReason; message: string };

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
    const name = e.dockerConfigFrom!.secretRef.name;
    const secret = inputs.secret(name);
    if (!secret) return notFound(`Secret ${inputs.credentialsNamespace}/${name} not found`);
    const parsed = parseDockerConfigSecret(secret.type, secret.data);
    if (!parsed.ok) return { ok: false, reason: 'InvalidSource', message: `Secret ${inputs.credentialsNamespace}/${name} ${parsed.message}` };
    return { ok: true, auths: parsed.auths };
  },
};

export const SOURCE_KINDS: CredentialSourceKind[] = [secretKeySource, dockerConfigSource];

function kindOf(entry: RegistryEntry): CredentialSourceKind | undefined {
  return SOURCE_KINDS.find((k) => k.handles(entry));
}

type KeyValue = { ok: true; value: string } | { ok: false; reason: SourceFailureReason; message: string };

function readKey(ref: { name: string; key: string }, inputs: SourceInputs): KeyValue {
  const where = `Secret ${inputs.credentialsNamespace}/${ref.name}`;
  const secret = inputs.secret(ref.name);
  if (!secret) return notFound(`${where} not found`);
  const encoded = secret.data?.[ref.key];
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

/** Every credentials-namespace Secret name the entries read. */
export function referencedSecrets(entries: RegistryEntry[]): Set<string> {
  return new Set(entries.flatMap((e) => kindOf(e)?.secretNames(e) ?? []));
}

export type ResolveAllResult =
  | { ok: true; entries: ResolvedEntry[] }
  | { ok: false; reason: SourceFailureReason; message: string };

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
