// Answers pod admissions from the operator's caches: which RegistryCredentials can render and
// select the pod's namespace and ServiceAccount, and so which entries the pod must carry. The
// namespace was created moments before the pod (that is the race this closes), so a namespace or
// ServiceAccount the cache has not seen yet is waited for, briefly, well within the webhook's
// timeout; anything still unknown is let through unpatched (the webhook fails open).
import type { Caches } from '../caches.ts';
import { podInjection, podServiceAccountName, type PodLike } from '../injection.ts';
import type { AdmissionHandler, AdmissionRequestLike } from '../../server/webhook.ts';

export interface InjectorOptions {
  /** How long an admission waits for the cache to see a namespace or ServiceAccount (default 1 s). */
  cacheWaitMs?: number;
  synced: () => boolean;
}

export class PodInjector {
  private readonly caches: Caches;
  private readonly options: InjectorOptions;

  constructor(caches: Caches, options: InjectorOptions) {
    this.caches = caches;
    this.options = options;
  }

  readonly handle: AdmissionHandler = async (request: AdmissionRequestLike) => {
    if (request.kind?.kind !== 'Pod' || request.operation !== 'CREATE') return { reason: 'NotAPodCreate' };
    if (!this.options.synced()) return { reason: 'CachesNotSynced' };
    const pod = (request.object ?? {}) as PodLike;
    const namespaceName = request.namespace ?? pod.metadata?.namespace;
    if (!namespaceName) return { reason: 'NamespaceUnknown' };
    const wait = this.options.cacheWaitMs ?? 1000;
    const namespace = await this.caches.namespaces.getSoon(undefined, namespaceName, wait);
    const serviceAccount = namespace ? await this.caches.serviceAccounts.getSoon(namespaceName, podServiceAccountName(pod), wait) : undefined;
    const decision = podInjection({ pod, namespace, serviceAccount, credentials: this.caches.renderableCredentials() });
    return decision.patch.length ? { patch: decision.patch, reason: 'Patched' } : { reason: decision.skipped ?? 'NotSelected' };
  };
}
