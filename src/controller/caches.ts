// The operator's watch-fed caches and the mapping from each watch event to the RegistryCredentials
// it may affect. Handlers only enqueue keys; the reconcile reads everything from the caches.
import type { Logger } from 'pino';
import { CREDENTIAL_LABEL, MANAGED_SELECTOR } from '../api/labels.ts';
import { resolveSpec, type RegistryCredential, type ResolvedSpec } from '../api/schema.ts';
import { RESOURCES, type KubeClient } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { NamedSecrets } from '../kube/named-secrets.ts';
import type { Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import { namespaceRulesMatch } from './selection.ts';
import { referencedSecrets } from './sources.ts';

export interface Caches {
  credentials: Informer<RegistryCredential>;
  namespaces: Informer<Namespace>;
  serviceAccounts: Informer<ServiceAccount>;
  /** Every Secret of the credentials namespace. */
  sourceSecrets: Informer<Secret>;
  /** Only Secrets carrying our managed-by label, cluster-wide. */
  managedSecrets: Informer<Secret>;
  namedSecrets: NamedSecrets;
  specs: SpecCache;
}

/** Parsed specs, kept per object generation so event mapping does not re-validate on every event. */
export class SpecCache {
  private readonly parsed = new Map<string, { generation: number | undefined; spec: ResolvedSpec | undefined }>();

  get(rc: RegistryCredential): ResolvedSpec | undefined {
    const key = rc.metadata.uid ?? rc.metadata.name;
    const hit = this.parsed.get(key);
    if (hit && hit.generation === rc.metadata.generation && rc.metadata.generation !== undefined) return hit.spec;
    const r = resolveSpec(rc.metadata.name, rc.spec);
    const spec = r.ok ? r.spec : undefined;
    this.parsed.set(key, { generation: rc.metadata.generation, spec });
    return spec;
  }

  forget(rc: RegistryCredential): void {
    this.parsed.delete(rc.metadata.uid ?? rc.metadata.name);
  }
}

export function createCaches(client: KubeClient, log: Logger, credentialsNamespace: string, enqueue: (key: string) => void): Caches {
  const specs = new SpecCache();
  const credentials = new Informer<RegistryCredential>(client, RESOURCES.registryCredentials, log);
  const namespaces = new Informer<Namespace>(client, RESOURCES.namespaces, log);
  const serviceAccounts = new Informer<ServiceAccount>(client, RESOURCES.serviceAccounts, log);
  const sourceSecrets = new Informer<Secret>(client, RESOURCES.secrets, log, { namespace: credentialsNamespace });
  const managedSecrets = new Informer<Secret>(client, RESOURCES.secrets, log, { labelSelector: MANAGED_SELECTOR });

  const withSpecs = (fn: (rc: RegistryCredential, spec: ResolvedSpec) => boolean) => {
    for (const rc of credentials.list()) {
      const spec = specs.get(rc);
      if (spec && fn(rc, spec)) enqueue(rc.metadata.name);
    }
  };
  const managesIn = (namespace: string, credential: string) =>
    managedSecrets.inNamespace(namespace).some((s) => s.metadata.labels?.[CREDENTIAL_LABEL] === credential);

  credentials.on((rc, _old, deleted) => {
    if (deleted) specs.forget(rc);
    enqueue(rc.metadata.name);
  });
  namespaces.on((ns, old) =>
    withSpecs((rc, spec) => namespaceRulesMatch(spec, ns) || (!!old && namespaceRulesMatch(spec, old)) || managesIn(ns.metadata.name, rc.metadata.name)),
  );
  serviceAccounts.on((sa) => {
    const namespace = sa.metadata.namespace!;
    const ns = namespaces.get(undefined, namespace);
    withSpecs((rc, spec) => (!!ns && namespaceRulesMatch(spec, ns)) || managesIn(namespace, rc.metadata.name));
  });
  sourceSecrets.on((secret) => withSpecs((_rc, spec) => referencedSecrets(spec.registries).has(secret.metadata.name)));
  managedSecrets.on((secret, old) => {
    for (const s of [secret, old]) {
      const owner = s?.metadata.labels?.[CREDENTIAL_LABEL];
      if (owner) enqueue(owner);
    }
  });
  const namedSecrets = new NamedSecrets(client, log, (name) => withSpecs((_rc, spec) => spec.secretName === name));

  return { credentials, namespaces, serviceAccounts, sourceSecrets, managedSecrets, namedSecrets, specs };
}

export function fixedInformers(c: Caches): Informer<never>[] {
  return [c.credentials, c.namespaces, c.serviceAccounts, c.sourceSecrets, c.managedSecrets] as unknown as Informer<never>[];
}
