// The operator's watch-fed caches and the lookups the reconcile makes on them. Writes the operator
// makes are recorded here at once (record*/forget*): the next reconcile sees them before the watch
// does, and the watch event they cause carries no news, so it wakes nobody.
import type { Logger } from 'pino';
import { CREDENTIAL_LABEL, SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import { resolveSpec, type RegistryCredential, type ResolvedSpec } from '../api/schema.ts';
import { RESOURCES, type KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { SecretsByName } from '../kube/named-secrets.ts';
import type { ConfigMap, Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import type { ApplyCaches } from './apply.ts';
import type { Digest } from './digest.ts';
import { ourEntries, ours, ownedBy, validHolder } from './desired.ts';
import { resolveEntries } from './sources.ts';
import type { TokenLookup } from './tokens/manager.ts';
import { leanConfigMap, leanCredential, leanNamespace, leanServiceAccount, leanSourceSecret, leanTargetSecret } from './lean.ts';

type Resolved = ReturnType<typeof resolveSpec>;

/**
 * Validated specs, kept per object generation so neither event mapping nor a reconcile of a few
 * namespaces validates the spec again.
 */
export class SpecCache {
  private readonly parsed = new Map<string, { generation: number | undefined; resolved: Resolved }>();

  /** The validation result of the spec at this generation. */
  resolve(rc: RegistryCredential): Resolved {
    const key = rc.metadata.uid ?? rc.metadata.name;
    const hit = this.parsed.get(key);
    if (hit && hit.generation === rc.metadata.generation && rc.metadata.generation !== undefined) return hit.resolved;
    const resolved = resolveSpec(rc.metadata.name, rc.spec);
    this.parsed.set(key, { generation: rc.metadata.generation, resolved });
    return resolved;
  }

  get(rc: RegistryCredential): ResolvedSpec | undefined {
    const r = this.resolve(rc);
    return r.ok ? r.spec : undefined;
  }

  forget(rc: RegistryCredential): void {
    this.parsed.delete(rc.metadata.uid ?? rc.metadata.name);
  }
}

/** The Secret name a RegistryCredential renders to, read even from a spec that fails validation. */
export function secretNameOf(rc: RegistryCredential, specs: SpecCache): string {
  const spec = specs.get(rc);
  if (spec) return spec.secretName;
  const raw = (rc.spec as { secretName?: unknown } | undefined)?.secretName;
  return typeof raw === 'string' ? raw : rc.metadata.name;
}

export interface CacheOptions {
  credentialsNamespace: string;
  syncTimeoutMs: number;
  /** What the target cache keeps of the data of a Secret of ours. */
  digest: Digest;
  /** The only Secret names RegistryCredentials may render to: the only ones watched. */
  allowedSecretNames: string[];
}

export class Caches implements ApplyCaches {
  readonly credentials: Informer<RegistryCredential>;
  readonly namespaces: Informer<Namespace>;
  readonly serviceAccounts: Informer<ServiceAccount>;
  /** Every Secret of the credentials namespace; the data of sources only. */
  readonly sourceSecrets: Informer<Secret>;
  /** ConfigMaps of the credentials namespace: CA bundles for validation. */
  readonly configMaps: Informer<ConfigMap>;
  /**
   * Every Secret of an allowed name, cluster-wide, whoever made it: ours as metadata and the digest
   * of their data, anyone else's as metadata alone.
   */
  readonly targetSecrets: SecretsByName;
  readonly specs = new SpecCache();
  private readonly syncTimeoutMs: number;
  private readonly credentialsNamespace: string;
  private readonly serviceAccountWrites: Array<(sa: ServiceAccount) => void> = [];
  /** The cloud tokens the operator holds: a credential made of token entries renders once they are there. */
  tokens: TokenLookup | undefined;

  constructor(client: KubeClient, log: Logger, options: CacheOptions) {
    this.syncTimeoutMs = options.syncTimeoutMs;
    this.credentialsNamespace = options.credentialsNamespace;
    this.credentials = new Informer<RegistryCredential>(client, RESOURCES.registryCredentials, log, { transform: leanCredential });
    this.namespaces = new Informer<Namespace>(client, RESOURCES.namespaces, log, { transform: leanNamespace });
    this.serviceAccounts = new Informer<ServiceAccount>(client, RESOURCES.serviceAccounts, log, { transform: leanServiceAccount });
    this.sourceSecrets = new Informer<Secret>(client, RESOURCES.secrets, log, { namespace: options.credentialsNamespace, transform: leanSourceSecret });
    this.configMaps = new Informer<ConfigMap>(client, RESOURCES.configMaps, log, { namespace: options.credentialsNamespace, transform: leanConfigMap });
    this.targetSecrets = new SecretsByName(client, log, options.allowedSecretNames, { transform: leanTargetSecret(options.digest) });
  }

  all(): Informer<never>[] {
    return [this.credentials, this.namespaces, this.serviceAccounts, this.sourceSecrets, this.configMaps, ...this.targetSecrets.all()] as unknown as Informer<never>[];
  }

  async start(): Promise<void> {
    const informers = this.all();
    for (const i of informers) i.start();
    await Promise.all(informers.map((i) => i.waitForSync(this.syncTimeoutMs)));
  }

  stop(): void {
    for (const i of this.all()) i.stop();
  }

  /** Whether RegistryCredentials may render to a Secret of this name. */
  secretNameAllowed(name: string): boolean {
    return this.targetSecrets.has(name);
  }

  /** The Secret of that name in the namespace, whoever manages it. */
  secretNamed(namespace: string, name: string): Secret | undefined {
    return this.targetSecrets.get(namespace, name);
  }

  /**
   * The credentials whose Secrets exist or are about to: valid spec, allowed secretName, readable
   * sources, not being deleted. What pod injection (webhook or policy) adds entries for.
   */
  renderableCredentials(): Array<{ name: string; spec: ResolvedSpec }> {
    return this.credentials.list().flatMap((rc) => {
      if (rc.metadata.deletionTimestamp) return [];
      const spec = this.specs.get(rc);
      if (!spec || !this.secretNameAllowed(spec.secretName)) return [];
      const sources = resolveEntries(spec.registries, {
        secret: (n) => this.sourceSecrets.get(this.credentialsNamespace, n),
        credentialsNamespace: this.credentialsNamespace,
        credential: rc.metadata.name,
        ...(this.tokens ? { tokens: this.tokens } : {}),
      });
      return sources.ok ? [{ name: rc.metadata.name, spec }] : [];
    });
  }

  /** The UID of the RegistryCredential of that name, when it exists. */
  credentialUid(name: string): string | undefined {
    return this.credentials.get(undefined, name)?.metadata.uid;
  }

  /** Secrets the credential owns, cluster-wide or in the given namespaces only. */
  managedSecretsOf(credential: { name: string; uid: string }, only?: Set<string>): Secret[] {
    const candidates = only ? [...only].flatMap((ns) => this.targetSecrets.inNamespace(ns)) : this.targetSecrets.list();
    return candidates.filter((s) => ownedBy(s, credential));
  }

  /** How many Secrets an existing RegistryCredential owns: for metrics. */
  get managedSecretCount(): number {
    return this.targetSecrets.list().filter((s) => validHolder(s, (n) => this.credentialUid(n)) !== undefined).length;
  }

  /** Whether a Secret whose labels name the credential is in the namespace; wakes it for events there. */
  managesIn(namespace: string, credential: string): boolean {
    return this.targetSecrets.inNamespace(namespace).some((s) => ours(s) && s.metadata.labels?.[CREDENTIAL_LABEL] === credential);
  }

  /** ServiceAccounts whose annotation says we added an entry named secretName. */
  annotatedServiceAccounts(secretName: string, only?: Set<string>): ServiceAccount[] {
    const candidates = only ? [...only].flatMap((ns) => this.serviceAccounts.inNamespace(ns)) : this.serviceAccounts.list();
    return candidates.filter((sa) => sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION] && ourEntries(sa).includes(secretName));
  }

  serviceAccount(namespace: string, name: string): ServiceAccount | undefined {
    return this.serviceAccounts.get(namespace, name);
  }

  /** A write of ours is on its way (Informer.writing()): call the function once it is answered and recorded, or failed. */
  writing(kind: 'Secret' | 'ServiceAccount', namespace: string, name: string): () => void {
    return kind === 'Secret' ? this.targetSecrets.writing(namespace, name) : this.serviceAccounts.writing(namespace, name);
  }

  recordSecret(secret: Secret): void {
    this.targetSecrets.observe(secret);
  }

  forgetSecret(namespace: string, name: string): void {
    this.targetSecrets.forget(namespace, name);
  }

  recordServiceAccount(sa: ServiceAccount): void {
    this.serviceAccounts.observe(sa);
    for (const listener of this.serviceAccountWrites) listener(sa);
  }

  /**
   * Told every ServiceAccount the operator wrote. Its own writes wake no informer handler (they
   * are no news to the reconcile), but they are news to whoever waits for an entry to land.
   */
  onServiceAccountWritten(listener: (sa: ServiceAccount) => void): void {
    this.serviceAccountWrites.push(listener);
  }
}
