// Opt-in pod remediation (--remediate-pods): a pod created before our entry landed on its
// ServiceAccount lacks the pull secret and waits on an image pull forever. When its controller can
// recreate it, evicting it (policy/v1 Eviction, which honours PodDisruptionBudgets) gives a pod the
// ServiceAccount admission plugin fills from the patched ServiceAccount. Bare pods are never touched.
//
// Watch-driven and level-triggered: a pod event, a ServiceAccount event, or word that we patched a
// ServiceAccount queues the pods concerned, and each is judged on what the caches hold when its
// turn comes. The pod cache holds Pending pods (a server-side field selector) that are controlled
// and failing a pull, in a lean shape. Evictions go through a token bucket; a pod (by uid) is
// evicted at most once; a PodDisruptionBudget's 429 is retried with backoff.
import type { Logger } from 'pino';
import { KubeError, RESOURCES, type KubeClient } from '../../kube/client.ts';
import { describe } from '../../kube/errors.ts';
import { Informer } from '../../kube/informer.ts';
import { objectKey, type ServiceAccount } from '../../kube/objects.ts';
import { TokenBucket } from '../../kube/ratelimit.ts';
import { PodEventRecorder } from './events.ts';
import { leanPod, managedEntries, podsToEvict, serviceAccountOf, type Pod } from './pods.ts';

export type RemediationResult = 'Evicted' | 'Blocked' | 'Gone' | 'Failed';

export interface RemediatorOptions {
  /** Evictions per second (default 1). */
  qps?: number;
  /** Evictions allowed above the rate in a burst (default 5). */
  burst?: number;
  /** First retry delay after a 429 or an error (default 5 s), doubled up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  onResult?: (result: RemediationResult) => void;
  /** The pod cache; by default a cluster-wide informer of Pending pods. */
  pods?: Informer<Pod>;
}

export class Remediator {
  readonly pods: Informer<Pod>;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly serviceAccounts: Informer<ServiceAccount>;
  private readonly bucket: TokenBucket;
  private readonly recorder: PodEventRecorder;
  private readonly options: RemediatorOptions;
  /** Pod keys waiting to be judged, in arrival order; at most one entry per cached pod. */
  private readonly queue = new Set<string>();
  /** uids evicted (or being evicted): never again. Forgotten when the pod leaves the cache. */
  private readonly evicted = new Set<string>();
  /** Retries after a 429 or an error, by uid: the timer and the next delay. */
  private readonly retries = new Map<string, { timer: NodeJS.Timeout | undefined; backoffMs: number }>();
  private running = false;
  private stopped = true;
  private draining: Promise<void> | undefined;

  constructor(client: KubeClient, log: Logger, serviceAccounts: Informer<ServiceAccount>, options: RemediatorOptions = {}) {
    this.client = client;
    this.log = log.child({ component: 'remediation' });
    this.serviceAccounts = serviceAccounts;
    this.options = options;
    this.bucket = new TokenBucket(options.qps ?? 1, options.burst ?? 5);
    this.recorder = new PodEventRecorder(client, this.log);
    this.pods = options.pods ?? new Informer<Pod>(client, RESOURCES.pods, this.log, { fieldSelector: 'status.phase=Pending', transform: leanPod });
    this.pods.on((pod, _old, deleted) => {
      if (deleted) return this.forget(pod);
      this.enqueue(objectKey(pod));
    });
    this.serviceAccounts.on((sa, _old, deleted) => {
      if (!deleted) this.serviceAccountChanged(sa);
    });
  }

  /** Starts the pod cache; every pod it lists is judged once it arrives. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.pods.start();
  }

  stop(): void {
    this.stopped = true;
    this.pods.stop();
    this.queue.clear();
    for (const r of this.retries.values()) clearTimeout(r.timer);
    this.retries.clear();
  }

  /** Resolves once the queue is empty and no eviction is in flight (for tests). */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /**
   * The operator added `secretName` to this ServiceAccount: its own write wakes no informer handler,
   * so it says so here. Pods using it are judged against what the ServiceAccount cache holds.
   */
  serviceAccountPatched(namespace: string, name: string, _secretName: string): void {
    this.enqueueUsersOf(namespace, name);
  }

  /** A ServiceAccount changed (someone's write, or ours recorded in the cache). */
  serviceAccountChanged(sa: ServiceAccount): void {
    if (managedEntries(sa).length === 0) return;
    this.enqueueUsersOf(sa.metadata.namespace!, sa.metadata.name);
  }

  private enqueueUsersOf(namespace: string, name: string): void {
    for (const pod of this.pods.inNamespace(namespace)) if (serviceAccountOf(pod) === name) this.enqueue(objectKey(pod));
  }

  private enqueue(key: string): void {
    if (this.stopped) return;
    this.queue.add(key);
    if (!this.running) {
      this.running = true;
      this.draining = this.drain().finally(() => {
        this.running = false;
        this.draining = undefined;
      });
    }
  }

  private forget(pod: Pod): void {
    const uid = pod.metadata.uid;
    if (!uid) return;
    this.evicted.delete(uid);
    const retry = this.retries.get(uid);
    if (retry) clearTimeout(retry.timer);
    this.retries.delete(uid);
  }

  private async drain(): Promise<void> {
    while (!this.stopped && this.queue.size) {
      const key = this.queue.values().next().value!;
      this.queue.delete(key);
      const pod = this.candidate(key);
      if (!pod) continue;
      await this.bucket.take();
      // The wait may have been long: judge again on what the caches hold now.
      const still = this.candidate(key);
      if (!still || still.metadata.uid !== pod.metadata.uid || this.stopped) continue;
      await this.evict(still.pod, still.secretName);
    }
  }

  /** The pod under `key` if it should be evicted now, with the entry it lacks. */
  private candidate(key: string): { pod: Pod; secretName: string; metadata: Pod['metadata'] } | undefined {
    const [namespace, name] = key.split('/') as [string, string];
    const pod = this.pods.get(namespace, name);
    const uid = pod?.metadata.uid;
    if (!pod || !uid || this.evicted.has(uid) || this.retries.get(uid)?.timer) return undefined;
    const sa = this.serviceAccounts.get(namespace, serviceAccountOf(pod));
    if (!sa) return undefined;
    for (const secretName of managedEntries(sa)) {
      if (podsToEvict([pod], sa, secretName).length) return { pod, secretName, metadata: pod.metadata };
    }
    return undefined;
  }

  private async evict(pod: Pod, secretName: string): Promise<void> {
    const { namespace, name, uid } = pod.metadata as { namespace: string; name: string; uid: string };
    this.evicted.add(uid);
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}/eviction`;
    try {
      await this.client.request('POST', path, {
        body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace }, deleteOptions: { preconditions: { uid } } },
        resource: 'pods/eviction',
      });
    } catch (err) {
      if (err instanceof KubeError && (err.status === 404 || err.status === 409)) {
        // Gone, or another pod of that name now: nothing of ours to do.
        this.options.onResult?.('Gone');
        return;
      }
      this.evicted.delete(uid);
      const blocked = err instanceof KubeError && err.status === 429;
      this.options.onResult?.(blocked ? 'Blocked' : 'Failed');
      const delay = this.retryLater(pod, err instanceof KubeError ? err.retryAfterSeconds : undefined);
      this.log.info({ pod: `${namespace}/${name}`, blocked, error: describe(err), retryInMs: delay }, blocked ? 'eviction refused (disruption budget); retrying later' : 'eviction failed; retrying later');
      return;
    }
    this.retries.delete(uid);
    this.options.onResult?.('Evicted');
    this.log.info({ pod: `${namespace}/${name}`, secret: secretName }, 'evicted a pod that lacked the pull secret');
    await this.recorder.record(pod, {
      type: 'Normal',
      reason: 'PodEvicted',
      action: 'Evict',
      note: `Evicted so that its controller recreates it with the pull secret ${secretName} its ServiceAccount ${serviceAccountOf(pod)} now lists`,
    });
  }

  private retryLater(pod: Pod, retryAfterSeconds: number | undefined): number {
    const uid = pod.metadata.uid!;
    const initial = this.options.initialBackoffMs ?? 5000;
    const max = this.options.maxBackoffMs ?? 300_000;
    const previous = this.retries.get(uid);
    const backoff = previous ? Math.min(max, previous.backoffMs * 2) : initial;
    const delay = Math.max(backoff, (retryAfterSeconds ?? 0) * 1000);
    const entry = { timer: undefined as NodeJS.Timeout | undefined, backoffMs: backoff };
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.enqueue(objectKey(pod));
    }, delay);
    entry.timer.unref?.();
    this.retries.set(uid, entry);
    return delay;
  }
}
