// Answers pod admissions from the operator's caches: which RegistryCredentials can render and
// select the pod's namespace and ServiceAccount, and so which entries the pod must carry. The
// namespace was created moments before the pod (that is the race this closes), so a namespace or
// ServiceAccount the cache has not seen yet is waited for, briefly, well within the webhook's
// timeout; anything still unknown is let through unpatched (the webhook fails open).
import type { Caches } from '../caches.ts';
import { podInjection, type PodLike } from '../injection.ts';
import { resolveEntries } from '../sources.ts';
import type { ResolvedSpec } from '../../api/schema.ts';
import type { AdmissionHandler, AdmissionRequestLike } from '../../server/webhook.ts';

export interface InjectorOptions {
  credentialsNamespace: string;
  /** How long an admission waits for the cache to see a namespace or ServiceAccount (default 1 s). */
  cacheWaitMs?: number;
  /** Told every admission's result and how long it took. */
  observe?: (result: string, seconds: number) => void;
  synced: () => boolean;
}

export class PodInjector {
  private readonly caches: Caches;
  private readonly options: InjectorOptions;

  constructor(caches: Caches, options: InjectorOptions) {
    this.caches = caches;
    this.options = options;
  }

  readonly handle: AdmissionHandler = async (request) => {
    const start = process.hrtime.bigint();
    const answer = await this.decide(request);
    this.options.observe?.(answer.reason, Number(process.hrtime.bigint() - start) / 1e9);
    return answer;
  };

  private async decide(request: AdmissionRequestLike): Promise<{ patch?: ReturnType<typeof podInjection>['patch']; reason: string }> {
    if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE') return { reason: 'NotAPodCreate' };
    if (!this.options.synced()) return { reason: 'CachesNotSynced' };
    const pod = (request.object ?? {}) as PodLike;
    const namespaceName = request.namespace ?? pod.metadata?.namespace;
    if (!namespaceName) return { reason: 'NamespaceUnknown' };
    const wait = this.options.cacheWaitMs ?? 1000;
    const namespace = await this.caches.namespaces.getSoon(undefined, namespaceName, wait);
    const saName = pod.spec?.serviceAccountName || pod.spec?.serviceAccount || 'default';
    const serviceAccount = namespace ? await this.caches.serviceAccounts.getSoon(namespaceName, saName, wait) : undefined;
    const decision = podInjection({ pod, namespace, serviceAccount, credentials: this.renderable() });
    return decision.patch.length ? { patch: decision.patch, reason: 'Patched' } : { reason: decision.skipped ?? 'NotSelected' };
  }

  /** The credentials whose Secrets exist or are about to: valid, allowed, readable, not being deleted. */
  private renderable(): Array<{ name: string; spec: ResolvedSpec }> {
    return this.caches.credentials.list().flatMap((rc) => {
      if (rc.metadata.deletionTimestamp) return [];
      const spec = this.caches.specs.get(rc);
      if (!spec || !this.caches.secretNameAllowed(spec.secretName)) return [];
      const sources = resolveEntries(spec.registries, {
        secret: (n) => this.caches.sourceSecrets.get(this.options.credentialsNamespace, n),
        credentialsNamespace: this.options.credentialsNamespace,
        credential: rc.metadata.name,
      });
      return sources.ok ? [{ name: rc.metadata.name, spec }] : [];
    });
  }
}
