// What a credential's validation checks: one target per registry of the rendered config, with the
// TLS settings of the entry it came from (the first entry naming a registry wins, as in the
// rendered config). Pure: the CA bundles are looked up through the caller.
import type { RegistryEntry } from '../../api/schema.ts';
import type { Digest } from '../digest.ts';
import type { ResolvedEntry } from '../dockerconfig.ts';

export interface ValidationTarget {
  server: string;
  username: string;
  password: string;
  caBundle?: string;
  insecureSkipTLSVerify?: boolean;
  /** Why the entry's caBundleFrom could not be read; the check reports it instead of probing. */
  caProblem?: string;
}

export type CaBundleResult = { ok: true; pem: string } | { ok: false; message: string };

export interface CaBundleLookup {
  secretKey(name: string, key: string): CaBundleResult;
  configMapKey(name: string, key: string): CaBundleResult;
}

export interface ValidationInputs {
  targets: ValidationTarget[];
  /**
   * Digest of everything a check depends on (credentials, CA bundles, TLS settings): a new one
   * means the last results no longer describe what is rendered.
   */
  digest: string;
}

export function validationTargets(registries: RegistryEntry[], resolved: ResolvedEntry[], ca: CaBundleLookup, digest: Digest): ValidationInputs {
  const targets: ValidationTarget[] = [];
  const seen = new Set<string>();
  for (const [i, entry] of registries.entries()) {
    const tls = tlsOf(entry, ca);
    for (const [server, auth] of Object.entries(resolved[i]?.auths ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (seen.has(server)) continue;
      seen.add(server);
      targets.push({ server, username: auth.username, password: auth.password, ...tls });
    }
  }
  targets.sort((a, b) => (a.server < b.server ? -1 : a.server > b.server ? 1 : 0));
  return { targets, digest: digest.of(Buffer.from(JSON.stringify(targets))) };
}

function tlsOf(entry: RegistryEntry, ca: CaBundleLookup): Pick<ValidationTarget, 'caBundle' | 'insecureSkipTLSVerify' | 'caProblem'> {
  const out: Pick<ValidationTarget, 'caBundle' | 'insecureSkipTLSVerify' | 'caProblem'> = {};
  if (entry.insecureSkipTLSVerify) out.insecureSkipTLSVerify = true;
  const from = entry.caBundleFrom;
  if (!from) return out;
  const found = from.secretKeyRef
    ? ca.secretKey(from.secretKeyRef.name, from.secretKeyRef.key)
    : ca.configMapKey(from.configMapKeyRef!.name, from.configMapKeyRef!.key);
  if (found.ok) out.caBundle = found.pem;
  else out.caProblem = `caBundleFrom: ${found.message}`;
  return out;
}
