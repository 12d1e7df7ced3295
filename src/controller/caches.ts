// The operator's watch-fed caches and the lookups the reconcile makes on them. Writes the operator
// makes are recorded here at once (record*/forget*): the next reconcile sees them before the watch
// does, and the watch event they cause carries no news, so it wakes nobody.
import type { Logger } from 'pino';
import { CREDENTIAL_LABEL, MANAGED_SELECTOR, SA_ENTRIES_ANNOTATION, UNMANAGED_SELECTOR } from '../api/labels.ts';
import { resolveSpec, type RegistryCredential, type ResolvedSpec } from '../api/schema.ts';
import { RESOURCES, type KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { NamedSecrets } from '../kube/named-secrets.ts';
import type { Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import type { ApplyCaches } from './apply.ts';
import type { Digest } from './digest.ts';
import { ourEntries } from './desired.ts';
import { leanCredential, leanManagedSecret, leanNamedSecret, leanNamespace, leanServiceAccount, leanSourceSecret } from './lean.ts';

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
  /** What the managed cache keeps of a Secret's data. */
  digest: Digest;
}

export class Caches implements ApplyCaches {
  readonly credentials: Informer<RegistryCredential>;
  readonly namespaces: Informer<Namespace>;
  readonly serviceAccounts: Informer<ServiceAccount>;
  /** Every Secret of the credentials namespace. */
  readonly sourceSecrets: Informer<Secret>;
  /** Only Secrets carrying our managed-by label, cluster-wide. */
  readonly managedSecrets: Informer<Secret>;
  /** Secrets of each name a RegistryCredential renders to, whoever manages them. */
  readonly namedSecrets: NamedSecrets;
  readonly specs = new SpecCache();
  private readonly syncTimeoutMs: number;

  constructor(client: KubeClient, log: Logger, options: CacheOptions, onNamedSecret: (name: string, namespace: string) => void) {
    this.syncTimeoutMs = options.syncTimeoutMs;
    this.credentials = new Informer<RegistryCredential>(client, RESOURCES.registryCredentials, log, { transform: leanCredential });
    this.namespaces = new Informer<Namespace>(client, RESOURCES.namespaces, log, { transform: leanNamespace });
    this.serviceAccounts = new Informer<ServiceAccount>(client, RESOURCES.serviceAccounts, log, { transform: leanServiceAccount });
    this.sourceSecrets = new Informer<Secret>(client, RESOURCES.secrets, log, { namespace: options.credentialsNamespace, transform: leanSourceSecret });
    this.managedSecrets = new Informer<Secret>(client, RESOURCES.secrets, log, { labelSelector: MANAGED_SELECTOR, transform: leanManagedSecret(options.digest) });
    this.namedSecrets = new NamedSecrets(client, log, onNamedSecret, {
      syncTimeoutMs: options.syncTimeoutMs,
      // Ours come from the managed cache: the server leaves them out of these watches, so every write
      // of ours is delivered (and parsed) once, not twice.
      informer: { metadataOnly: true, labelSelector: UNMANAGED_SELECTOR, transform: leanNamedSecret },
    });
  }

  /** The informers every replica runs from the start. */
  fixed(): Informer<never>[] {
    return [this.credentials, this.namespaces, this.serviceAccounts, this.sourceSecrets, this.managedSecrets] as unknown as Informer<never>[];
  }

  all(): Informer<never>[] {
    return [...this.fixed(), ...(this.namedSecrets.all() as unknown as Informer<never>[])];
  }

  async start(): Promise<void> {
    const informers = this.fixed();
    for (const i of informers) i.start();
    await Promise.all(informers.map((i) => i.waitForSync(this.syncTimeoutMs)));
  }

  stop(): void {
    for (const i of this.fixed()) i.stop();
    this.namedSecrets.stop();
  }

  /** Starts watching Secrets of this name if needed; bounded by the cache-sync timeout. */
  async watchSecretName(name: string): Promise<void> {
    await this.namedSecrets.ensure(name);
  }

  /** Stops the per-name watches no RegistryCredential needs any more. */
  retainSecretNames(): void {
    this.namedSecrets.retain(new Set(this.credentials.list().map((rc) => secretNameOf(rc, this.specs))));
  }

  /** The Secret of that name in the namespace, whoever manages it: ours from the managed cache. */
  secretNamed(namespace: string, name: string): Secret | undefined {
    return this.managedSecrets.get(namespace, name) ?? this.namedSecrets.get(namespace, name);
  }

  /** Secrets held by the credential, cluster-wide or in the given namespaces only. */
  managedSecretsOf(credential: string, only?: Set<string>): Secret[] {
    const candidates = only ? [...only].flatMap((ns) => this.managedSecrets.inNamespace(ns)) : this.managedSecrets.list();
    return candidates.filter((s) => s.metadata.labels?.[CREDENTIAL_LABEL] === credential);
  }

  managesIn(namespace: string, credential: string): boolean {
    return this.managedSecrets.inNamespace(namespace).some((s) => s.metadata.labels?.[CREDENTIAL_LABEL] === credential);
  }

  /** ServiceAccounts whose annotation says we added an entry named secretName. */
  annotatedServiceAccounts(secretName: string, only?: Set<string>): ServiceAccount[] {
    const candidates = only ? [...only].flatMap((ns) => this.serviceAccounts.inNamespace(ns)) : this.serviceAccounts.list();
    return candidates.filter((sa) => sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION] && ourEntries(sa).includes(secretName));
  }

  serviceAccount(namespace: string, name: string): ServiceAccount | undefined {
    return this.serviceAccounts.get(namespace, name);
  }

  recordSecret(secret: Secret): void {
    this.managedSecrets.observe(secret);
    this.namedSecrets.observe(secret);
  }

  forgetSecret(namespace: string, name: string): void {
    this.managedSecrets.forget(namespace, name);
    this.namedSecrets.forget(namespace, name);
  }

  recordServiceAccount(sa: ServiceAccount): void {
    this.serviceAccounts.observe(sa);
  }
}
