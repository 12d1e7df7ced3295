// Wires caches, the work queue and the reconciler together. Caches run on every replica; the queue's
// workers run only while this process may write (always without leader election, else while leading).
import type { Logger } from 'pino';
import { SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import type { KubeClient } from '../kube/client.ts';
import { describe } from '../kube/errors.ts';
import { WorkQueue, type WorkResult } from '../queue/workqueue.ts';
import type { Metrics } from '../server/metrics.ts';
import { Caches } from './caches.ts';
import type { Digest } from './digest.ts';
import { parseWorkKey, wireEventKeys } from './event-keys.ts';
import { EventRecorder } from './events.ts';
import { Reconciler } from './reconciler.ts';
import { Validator } from './validation/validator.ts';
import { PendingWork } from './work.ts';

export interface OperatorOptions {
  credentialsNamespace: string;
  /** The installation's digest (loadDigest), the same in every replica. */
  digest: Digest;
  /** The only Secret names RegistryCredentials may render to (--allowed-secret-names). */
  allowedSecretNames: string[];
  concurrency: number;
  maxConcurrentWrites: number;
  /** Every credential is reconciled again after about this long, events or not (0: never). */
  resyncPeriodMs?: number;
  cacheSyncTimeoutMs?: number;
  /** At most one status write per credential this often. */
  statusIntervalMs?: number;
  /** Registries checked at once across every credential (validation). */
  validationConcurrency?: number;
  /** Backoff bounds of the work queue (tests shorten them). */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class Operator {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly options: OperatorOptions;
  private readonly pending = new PendingWork();
  private readonly validator: Validator;
  /** When each credential's next full pass (the resync) is due. */
  private readonly resyncDue = new Map<string, number>();
  private working = false;
  private synced = false;

  constructor(client: KubeClient, log: Logger, options: OperatorOptions, metrics?: Metrics) {
    this.log = log;
    this.metrics = metrics;
    this.options = options;
    this.queue = new WorkQueue((key) => this.reconcileKey(key), {
      concurrency: options.concurrency,
      ...(options.baseDelayMs !== undefined ? { baseDelayMs: options.baseDelayMs } : {}),
      ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
      onDone: (key, o) => {
        metrics?.queueLatency.observe(o.waitedMs / 1000);
        metrics?.reconcileDuration.observe(o.durationMs / 1000);
        if (o.error) {
          metrics?.reconcileErrors.inc();
          metrics?.retries.inc();
          metrics?.reconciles.inc({ result: 'error' });
          log.warn({ key, durationMs: o.durationMs, retries: o.retries, error: describe(o.error) }, 'reconcile failed; retrying with backoff');
        }
      },
    });
    // Until the workers start, events are not queued: startWorkers() queues every RegistryCredential.
    // The queue's key is the credential; what to do for it accumulates in `pending`.
    const enqueue = (key: string) => {
      if (!this.working) return;
      const { credential, namespace } = parseWorkKey(key);
      this.pending.mark(credential, namespace);
      this.queue.add(credential);
    };
    this.caches = new Caches(client, log, {
      credentialsNamespace: options.credentialsNamespace,
      syncTimeoutMs: options.cacheSyncTimeoutMs ?? 120_000,
      digest: options.digest,
      allowedSecretNames: options.allowedSecretNames,
    });
    wireEventKeys(this.caches, enqueue);
    // A finished check only needs its status written: a run with no pending namespaces does that.
    this.validator = new Validator({
      wake: (credential) => {
        if (this.working) this.queue.add(credential);
      },
      ...(options.validationConcurrency !== undefined ? { concurrency: options.validationConcurrency } : {}),
      onResults: (credential, results) => metrics?.setRegistryResults(credential, results),
      onForget: (credential) => metrics?.forgetRegistryResults(credential),
    });
    this.reconciler = new Reconciler(client, this.caches, new EventRecorder(client, log), log, { ...options, validator: this.validator });
    metrics?.bind({
      queueDepth: () => this.queue.depth,
      managedSecrets: () => this.caches.managedSecretCount,
      serviceAccountEntries: () => this.caches.serviceAccounts.list().filter((sa) => sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION]).length,
      informers: () => this.informers(),
    });
  }

  informers() {
    return this.caches.all();
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the caches and waits (bounded by the cache-sync timeout) for their first list. */
  async startCaches(): Promise<void> {
    await this.caches.start();
    this.synced = true;
    this.log.info({ informers: this.caches.all().map((i) => i.name) }, 'caches synced');
  }

  /** Starts reconciling: every RegistryCredential once, then whatever events bring. */
  startWorkers(): void {
    this.working = true;
    for (const rc of this.caches.credentials.list()) {
      this.pending.mark(rc.metadata.name);
      this.queue.add(rc.metadata.name);
    }
  }

  private async reconcileKey(key: string): Promise<WorkResult> {
    const start = Date.now();
    if ((this.resyncDue.get(key) ?? Infinity) <= start) this.pending.mark(key);
    const work = this.pending.take(key);
    let report;
    try {
      report = await this.reconciler.reconcile(key, work);
    } catch (err) {
      // Unfinished work waits for the retry, together with whatever arrived meanwhile.
      this.pending.restore(key, work);
      throw err;
    }
    this.metrics?.reconciles.inc({ result: report.result });
    this.metrics?.writes.inc(report.writes);
    const rc = this.caches.credentials.get(undefined, key);
    const ready = rc?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (rc) this.metrics?.credentialReady.set({ credential: key }, ready ? 1 : 0);
    else this.metrics?.credentialReady.remove({ credential: key });
    this.log.info({ key, full: work.full, namespaces: work.namespaces.size, result: report.result, durationMs: Date.now() - start, writes: report.writes }, 'reconciled');
    if (report.result === 'absent' || report.result === 'deleted') {
      this.queue.forget(key);
      this.pending.forget(key);
      this.resyncDue.delete(key);
      return {};
    }
    // The resync is a full pass when it is due; a sooner requeue (status interval, handover) only
    // looks again at what is pending.
    if (work.full || !this.resyncDue.has(key)) this.resyncDue.set(key, Date.now() + this.resyncDelay());
    const untilResync = this.resyncDue.get(key)! - Date.now();
    const after = Math.min(report.requeueAfterMs ?? Infinity, untilResync);
    return Number.isFinite(after) ? { requeueAfterMs: Math.max(0, after) } : {};
  }

  /** The safety net: a jittered resync, so replicas and credentials do not all wake at once. */
  private resyncDelay(): number {
    const period = this.options.resyncPeriodMs ?? 0;
    if (period <= 0) return Infinity;
    return Math.round(period * (0.9 + Math.random() * 0.2));
  }

  /** Stops taking work and waits up to `timeoutMs` for reconciles in flight. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.working = false;
    this.validator.stop();
    const finished = await this.queue.shutdown(timeoutMs);
    this.caches.stop();
    return finished;
  }
}
