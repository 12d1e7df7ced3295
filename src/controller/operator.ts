// Wires caches, the work queue and the reconciler together. Caches run on every replica; the queue's
// workers run only while this process may write (always without leader election, else while leading).
import type { Logger } from 'pino';
import { SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import type { KubeClient } from '../kube/client.ts';
import { describe } from '../kube/informer.ts';
import { WorkQueue } from '../queue/workqueue.ts';
import type { Metrics } from '../server/metrics.ts';
import { createCaches, fixedInformers, type Caches } from './caches.ts';
import { EventRecorder } from './events.ts';
import { Reconciler } from './reconciler.ts';

export interface OperatorOptions {
  credentialsNamespace: string;
  concurrency: number;
  maxConcurrentWrites: number;
}

export class Operator {
  readonly caches: Caches;
  readonly queue: WorkQueue;
  private readonly reconciler: Reconciler;
  private readonly log: Logger;
  private readonly metrics: Metrics | undefined;
  private working = false;
  private synced = false;

  constructor(client: KubeClient, log: Logger, options: OperatorOptions, metrics?: Metrics) {
    this.log = log;
    this.metrics = metrics;
    this.queue = new WorkQueue((key) => this.reconcileKey(key), {
      concurrency: options.concurrency,
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
    this.caches = createCaches(client, log, options.credentialsNamespace, (key) => {
      if (this.working) this.queue.add(key);
    });
    this.reconciler = new Reconciler(client, this.caches, new EventRecorder(client, log), log, options);
    metrics?.bind({
      queueDepth: () => this.queue.depth,
      managedSecrets: () => this.caches.managedSecrets.size,
      serviceAccountEntries: () => this.caches.serviceAccounts.list().filter((sa) => sa.metadata.annotations?.[SA_ENTRIES_ANNOTATION]).length,
      informers: () => this.informers(),
    });
  }

  informers() {
    return [...fixedInformers(this.caches), ...this.caches.namedSecrets.all()];
  }

  get hasSynced(): boolean {
    return this.synced;
  }

  /** Starts the caches and waits for their first list. */
  async startCaches(): Promise<void> {
    const informers = fixedInformers(this.caches);
    for (const i of informers) i.start();
    await Promise.all(informers.map((i) => i.waitForSync()));
    this.synced = true;
    this.log.info({ informers: informers.map((i) => i.name) }, 'caches synced');
  }

  /** Starts reconciling: every RegistryCredential once, then whatever events bring. */
  startWorkers(): void {
    this.working = true;
    for (const rc of this.caches.credentials.list()) this.queue.add(rc.metadata.name);
  }

  private async reconcileKey(key: string) {
    const start = Date.now();
    const report = await this.reconciler.reconcile(key);
    this.metrics?.reconciles.inc({ result: report.result });
    this.metrics?.writes.inc(report.writes);
    const rc = this.caches.credentials.get(undefined, key);
    const ready = rc?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    if (rc) this.metrics?.credentialReady.set({ credential: key }, ready ? 1 : 0);
    else this.metrics?.credentialReady.remove({ credential: key });
    this.log.info({ key, result: report.result, durationMs: Date.now() - start, writes: report.writes }, 'reconciled');
    return report;
  }

  /** Stops taking work and waits up to `timeoutMs` for reconciles in flight. */
  async stop(timeoutMs: number): Promise<boolean> {
    this.working = false;
    const finished = await this.queue.shutdown(timeoutMs);
    for (const i of this.informers()) i.stop();
    this.caches.namedSecrets.stop();
    return finished;
  }
}
