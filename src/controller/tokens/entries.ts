// Which registry entries are cloud token entries, and what each names, whether or not this build
// has its provider (an entry without one still has a label and reads no Secret of its own).
import type { RegistryEntry } from '../../api/schema.ts';
import { registryKey } from '../dockerconfig.ts';
import type { TokenProviderName } from './provider.ts';
import type { ProviderLookup } from './providers/index.ts';

export interface TokenEntry {
  provider: TokenProviderName;
  /** The object under ecr, artifactRegistry or acr. */
  entry: unknown;
}

export function tokenEntryOf(e: RegistryEntry): TokenEntry | undefined {
  if (e.ecr !== undefined) return { provider: 'ecr', entry: e.ecr };
  if (e.artifactRegistry !== undefined) return { provider: 'artifactRegistry', entry: e.artifactRegistry };
  if (e.acr !== undefined) return { provider: 'acr', entry: e.acr };
  return undefined;
}

/** The registries the token is written for. */
export function tokenServers(t: TokenEntry, providers: ProviderLookup): string[] {
  const p = providers(t.provider);
  if (p) return p.servers(t.entry);
  const e = t.entry as { registry?: string; servers?: string[]; server?: string };
  return [e.registry, ...(e.servers ?? []), e.server].filter((s): s is string => !!s).map(registryKey);
}

/** Credentials-namespace Secrets the fetch reads. */
export function tokenSecretNames(t: TokenEntry, providers: ProviderLookup): string[] {
  const p = providers(t.provider);
  if (p) return p.secretNames(t.entry);
  const name = (t.entry as { auth?: { secretRef?: { name?: string } } }).auth?.secretRef?.name;
  return name ? [name] : [];
}

/** How status and messages name the entry: "registries[0] ecr 123456789012.dkr.ecr.eu-west-1.amazonaws.com". */
export function tokenSourceLabel(index: number, t: TokenEntry, providers: ProviderLookup): string {
  return `registries[${index}] ${t.provider} ${tokenServers(t, providers).join(',')}`;
}
