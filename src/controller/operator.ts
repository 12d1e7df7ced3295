// Wires caches, the work queue and the reconciler together. Caches run on every replica; the queue's
// workers run only while this process may write (always without leader election, else while leading).
import type { Logger } from 'pino';
import { SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import type { KubeClient } from '../kube/client.ts';
import { describe } from '../kube/errors.ts';
import { inReconcile, outsideReconcile } from '../log.ts';
import { WorkQueue, type WorkResult } from '../queue/workqueue.ts';
import type { Metrics } from '../server/metrics.ts';
import { Caches } from './caches.ts';
import type { Digest } from './digest.ts';
import { parseWorkKey, wireEventKeys } from './event-keys.ts';
import { EventRecorder } from './events.ts';
import { NewNamespaces } from './new-namespaces.ts';
import { Reconciler } from './reconciler.ts';
import { serviceAccountTokens, sourceSecretKey } from './tokens/context.ts';
import { TokenManager } from './tokens/manager.ts';
import { TokenMetrics } from './tokens/metrics.ts';
import { builtInProviders } from './tokens/providers/index.ts';
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
  /** Cloud tokens are refreshed as if they expired after at most this long (--token-max-lifetime). */
  tokenMaxLifetimeMs?: number;
  /** Longest wait of a new namespace for the API server to take writes in it (tests lengthen it). */
  newNamespaceWaitMs?: number;
}

const NOTHING_HELD = { held: [] as string[], readyInMs: Infinity };

export class Operator {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private readonly options: OperatorOptions;
  private readonly pending = new PendingWork();
  private readonly newNamespaces: NewNamespaces;
  private readonly validator: Validator;
  /** Cloud registry tokens, one per distinct key, shared by every credential that uses it. */
  private readonly tokens: TokenManager;
  /** When each credential's next full pass (the resync) is due. */
  private readonly resyncDue = new Map<string, number>();
  private working = false;
  private synced = false;

  constructor(client: KubeClient, log: Logger, options: OperatorOptions, metrics?: Metrics) {
    this.log = log;
    this.metrics = metrics;
    this.options = options;
    this.newNamespaces = new NewNamespaces(options.newNamespaceWaitMs);
    // Each run gets a reconcileID on every line it logs (log.ts), its failure's line included.
    this.queue = new WorkQueue((key) => this.reconcileKey(key), {
      scope: inReconcile,
      concurrency: options.concurrency,
      ...(options.baseDelayMs !== undefined ? { baseDelayMs: options.baseDelayMs } : {}),
      ...(options.maxDelayMs !== undefined ? { maxDelayMs: options.maxDelayMs } : {}),
      onDone: (key, o) => {
        metrics?.observeWork(o);
        if (o.error) {
          log.warn({ credential: key, durationMs: o.durationMs, retries: o.retries, error: describe(o.error) }, 'reconcile failed; retrying with backoff');
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
    this.caches.namespaces.on((ns, old, deleted) => {
      if (this.working && !old && !deleted) this.newNamespaces.appeared(ns.metadata.name);
    });
    wireEventKeys(this.caches, enqueue);
    // A finished check only needs its status written: a run with no pending namespaces does that.
    this.validator = new Validator({
      wake: (credential) => {
        // A check a reconcile started may wake another credential: not part of that reconcile.
        if (this.working) outsideReconcile(() => this.queue.add(credential));
      },
      ...(options.validationConcurrency !== undefined ? { concurrency: options.validationConcurrency } : {}),
      onResults: (credential, results) => metrics?.setRegistryResults(credential, results),
      onForget: (credential) => metrics?.forgetRegistryResults(credential),
    });
    // A new token changes what every namespace holds: a full pass.
    this.tokens = new TokenManager({
      log,
      providers: builtInProviders,
      wake: (credential) => {
        if (!this.working) return;
        this.pending.mark(credential);
        outsideReconcile(() => this.queue.add(credential));
      },
      secretKey: sourceSecretKey((n) => this.caches.sourceSecrets.get(options.credentialsNamespace, n), options.credentialsNamespace),
      serviceAccountToken: serviceAccountTokens(client, options.credentialsNamespace),
      ...(options.tokenMaxLifetimeMs !== undefined ? { schedule: { maxLifetimeMs: options.tokenMaxLifetimeMs } } : {}),
      ...(metrics ? { metrics: new TokenMetrics(metrics.registry) } : {}),
    });
    this.caches.tokens = this.tokens;
    this.reconciler = new Reconciler(client, this.caches, new EventRecorder(client, log), log, { ...options, validator: this.validator, tokens: this.tokens });
    metrics?.bind({
      queueDepth: () => this.queue.depth,
      managedSecrets: () => this.caches.managedSecretCount,
      serviceAccountEntries: () => this.caches.serviceAccounts.list().filter((sa) => sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION]).length,
      informers: () => this.informers(),
      workQueue: this.queue,
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
    // Namespaces too new for the API server to take writes in wait, still pending, for the sign
    // that it does (new-namespaces.ts), and the key looks again when the longest wait is over.
    const { held, readyInMs } = work.full ? NOTHING_HELD : this.newNamespaces.hold(work.namespaces, (ns) => this.caches.serviceAccounts.inNamespace(ns).length > 0);
    for (const ns of held) {
      work.namespaces.delete(ns);
      this.pending.mark(key, ns);
    }
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
    if (rc && report.result !== 'absent' && report.result !== 'deleted') this.metrics?.setCredentialStatus(key, rc.status);
    else this.metrics?.forgetCredential(key);
    this.log.info({ credential: key, full: work.full, namespaces: work.namespaces.size, result: report.result, durationMs: Date.now() - start, writes: report.writes }, 'reconciled');
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
    const after = Math.min(report.requeueAfterMs ?? Infinity, untilResync, readyInMs);
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
    this.tokens.stop();
    const finished = await this.queue.shutdown(timeoutMs);
    this.caches.stop();
    return finished;
  }
}
