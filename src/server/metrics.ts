// Prometheus metrics (prom-client). One registry per operator so tests can run several.
// Besides the regcred_* metrics, the operator exports the names, labels and buckets of
// controller-runtime (controller_runtime_*, workqueue_*) and client-go (rest_client_*), so the
// dashboards and alerts written for controller-runtime operators work on it unchanged.
import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VALIDATION_RESULTS, type RegistryCredentialStatus, type ValidationResult } from '../api/schema.ts';
import type { RequestRecord } from '../kube/client.ts';
import type { WorkOutcome } from '../queue/workqueue.ts';

/** The controller (and work queue) name in the controller-runtime metrics' labels. */
export const CONTROLLER = 'registrycredential';

/** controller-runtime's controller_runtime_reconcile_time_seconds buckets. */
const RECONCILE_TIME_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
  1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60,
];
/** client-go's workqueue buckets: ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s. */
const WORKQUEUE_BUCKETS = Array.from({ length: 12 }, (_, i) => Number((1e-8 * 10 ** i).toPrecision(1)));
/** client-go's rest_client_request_duration_seconds buckets. */
const REST_CLIENT_BUCKETS = [0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0];
const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export const RECONCILE_RESULTS = ['success', 'error', 'requeue', 'requeue_after'] as const;

/** Read at scrape time, so gauges never lag the caches. */
export interface MetricSources {
  queueDepth(): number;
  managedSecrets(): number;
  serviceAccountEntries(): number;
  informers(): InformerStats[];
  /** The reconcile work queue, for the controller-runtime and workqueue metrics. */
  workQueue?: QueueStats;
}

/** What the work queue tells at scrape time (WorkQueue has all of it). */
export interface QueueStats {
  readonly depth: number;
  readonly active: number;
  readonly concurrency: number;
  readonly adds: number;
  unfinishedWorkMs(): number;
  oldestRunningMs(): number;
}

export interface InformerStats {
  name: string;
  /** Last successful list, watch connect or watch event. */
  lastSuccess: number;
  restarts: number;
  /** Watch events that could not be applied, and handlers that threw. */
  handlerErrors: number;
}

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricSources | undefined;
  readonly reconciles = new Counter({ name: 'regcred_reconcile_total', help: 'Reconciles by result.', labelNames: ['result'], registers: [this.registry] });
  readonly reconcileDuration = new Histogram({
    name: 'regcred_reconcile_duration_seconds',
    help: 'Time one reconcile takes.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({ name: 'regcred_reconcile_errors_total', help: 'Reconciles that ended in an error and were retried.', registers: [this.registry] });
  readonly queueDepth = this.sourced('regcred_workqueue_depth', 'Keys waiting in the work queue.', (s) => s.queueDepth());
  readonly queueLatency = new Histogram({
    name: 'regcred_workqueue_queue_duration_seconds',
    help: 'Time a key waits in the queue before it is processed.',
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
    registers: [this.registry],
  });
  readonly retries = new Counter({ name: 'regcred_workqueue_retries_total', help: 'Keys re-queued with backoff after an error.', registers: [this.registry] });
  readonly apiRequests = new Counter({
    name: 'regcred_api_requests_total',
    help: 'Requests to the Kubernetes API that got a response (watches excepted), by verb, resource and status code.',
    labelNames: ['verb', 'resource', 'code'],
    registers: [this.registry],
  });
  readonly writes = new Counter({ name: 'regcred_writes_total', help: 'Writes made by reconciles.', registers: [this.registry] });
  readonly managedSecrets = this.sourced('regcred_managed_secrets', 'Secrets the operator manages.', (s) => s.managedSecrets());
  readonly serviceAccountEntries = this.sourced('regcred_serviceaccount_entries', 'ServiceAccount entries the operator added.', (s) => s.serviceAccountEntries());
  readonly credentialReady = new Gauge({ name: 'regcred_credential_ready', help: '1 when a RegistryCredential is Ready.', labelNames: ['credential'], registers: [this.registry] });
  readonly credentialCondition = new Gauge({
    name: 'regcred_credential_condition',
    help: "1 for the current status of each condition in a RegistryCredential's status (Ready, Reconciling, Stalled, CredentialsValid, …), 0 for the other statuses.",
    labelNames: ['credential', 'type', 'status'],
    registers: [this.registry],
  });
  readonly credentialLastSync = new Gauge({
    name: 'regcred_credential_last_sync_timestamp_seconds',
    help: "status.lastSyncTime of a RegistryCredential, as a Unix time: when a reconcile last wrote something or changed the status.",
    labelNames: ['credential'],
    registers: [this.registry],
  });
  readonly credentialLastRotation = new Gauge({
    name: 'regcred_credential_last_rotation_timestamp_seconds',
    help: "status.lastRotationTime of a RegistryCredential, as a Unix time: when its rendered credentials last changed.",
    labelNames: ['credential'],
    registers: [this.registry],
  });
  readonly informerLastEventAge = this.perInformer('regcred_informer_last_event_age_seconds', 'Seconds since an informer last had a successful list, watch connect or event.', (i) => (Date.now() - i.lastSuccess) / 1000);
  readonly informerRestarts = this.perInformerCounter('regcred_informer_restarts_total', 'Watch reconnects and relists per informer.', (i) => i.restarts);
  readonly informerHandlerErrors = this.perInformerCounter('regcred_informer_handler_errors_total', 'Watch events that could not be applied or whose handler threw, per informer.', (i) => i.handlerErrors);
  readonly leader = new Gauge({ name: 'regcred_leader', help: '1 while this process holds the leader lease.', registers: [this.registry] });
  readonly buildInfo = new Gauge({
    name: 'regcred_build_info',
    help: 'Always 1; the labels say which version of the operator runs on which Node.js.',
    labelNames: ['version', 'node_version'],
    registers: [this.registry],
  });
  readonly registryValidation = new Gauge({
    name: 'regcred_registry_validation',
    help: '1 for the result of the last check of each registry of each RegistryCredential, 0 for the other results.',
    labelNames: ['credential', 'server', 'result'],
    registers: [this.registry],
  });
  readonly podAdmissions = new Counter({
    name: 'regcred_pod_admissions_total',
    help: 'Pod admissions the webhook answered, by result: Patched, or why not (NotSelected, AlreadyPresent, NamespaceUnknown, HandlerTimeout, …).',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly podAdmissionDuration = new Histogram({
    name: 'regcred_pod_admission_duration_seconds',
    help: 'Time the webhook took to answer a pod admission.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly podRemediations = new Counter({
    name: 'regcred_pod_remediations_total',
    help: 'Pod evictions tried by --remediate-pods, by result: Evicted, Blocked (429, a disruption budget), Gone, Failed.',
    labelNames: ['result'],
    registers: [this.registry],
  });

  // controller-runtime's controller metrics.
  readonly crReconciles = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Total number of reconciliations per controller', labelNames: ['controller', 'result'], registers: [this.registry] });
  readonly crReconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Total number of reconciliation errors per controller', labelNames: ['controller'], registers: [this.registry] });
  /** Every failed reconcile is retried: none is terminal, so this stays 0 (it is there for the stock dashboards and alerts). */
  readonly crTerminalErrors = new Counter({ name: 'controller_runtime_terminal_reconcile_errors_total', help: 'Total number of terminal reconciliation errors per controller', labelNames: ['controller'], registers: [this.registry] });
  readonly crReconcileTime = new Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of time per reconciliation per controller', labelNames: ['controller'], buckets: RECONCILE_TIME_BUCKETS, registers: [this.registry] });
  readonly crMaxConcurrent = this.fromQueue('controller_runtime_max_concurrent_reconciles', 'Maximum number of concurrent reconciles per controller', ['controller'], (q) => q.concurrency);
  readonly crActiveWorkers = this.fromQueue('controller_runtime_active_workers', 'Number of currently used workers per controller', ['controller'], (q) => q.active);

  // client-go's workqueue metrics, as controller-runtime registers them.
  readonly wqDepth = this.fromQueue('workqueue_depth', 'Current depth of workqueue', ['name', 'controller'], (q) => q.depth);
  readonly wqAdds = this.fromQueueCounter('workqueue_adds_total', 'Total number of adds handled by workqueue', (q) => q.adds);
  readonly wqQueueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'How long in seconds an item stays in workqueue before being requested', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers: [this.registry] });
  readonly wqWorkDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'How long in seconds processing an item from workqueue takes.', labelNames: ['name', 'controller'], buckets: WORKQUEUE_BUCKETS, registers: [this.registry] });
  readonly wqRetries = new Counter({ name: 'workqueue_retries_total', help: 'Total number of retries handled by workqueue', labelNames: ['name', 'controller'], registers: [this.registry] });
  readonly wqUnfinished = this.fromQueue(
    'workqueue_unfinished_work_seconds',
    "How many seconds of work has been done that is in progress and hasn't been observed by work_duration. Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at which this increases.",
    ['name', 'controller'],
    (q) => q.unfinishedWorkMs() / 1000,
  );
  readonly wqLongestRunning = this.fromQueue('workqueue_longest_running_processor_seconds', 'How many seconds has the longest running processor for workqueue been running.', ['name', 'controller'], (q) => q.oldestRunningMs() / 1000);

  // client-go's REST client metrics.
  readonly restRequests = new Counter({ name: 'rest_client_requests_total', help: 'Number of HTTP requests, partitioned by status code, method, and host.', labelNames: ['code', 'method', 'host'], registers: [this.registry] });
  readonly restDuration = new Histogram({ name: 'rest_client_request_duration_seconds', help: 'Request latency in seconds. Broken down by verb, and host.', labelNames: ['verb', 'host'], buckets: REST_CLIENT_BUCKETS, registers: [this.registry] });

  /**
   * The series each kind of API request counts into (status, verb, host, resource): a handful per
   * process, never removed, so they stay valid for as long as the registry.
   */
  private readonly requestSeries = new Map<string, { requests: { inc(): void }; duration: { observe(v: number): void }; api?: { inc(): void } }>();
  /** The servers each credential has series for, so the ones it no longer has are removed. */
  private readonly validatedServers = new Map<string, Set<string>>();
  /** The condition types each credential has series for. */
  private readonly conditionTypes = new Map<string, Set<string>>();

  constructor(version = packageVersion()) {
    collectDefaultMetrics({ register: this.registry });
    this.buildInfo.set({ version, node_version: process.version }, 1);
    // As controller-runtime does at start: every result is there from the first scrape, at 0, so
    // rate() and increase() see the first error.
    for (const result of RECONCILE_RESULTS) this.crReconciles.inc({ controller: CONTROLLER, result }, 0);
    this.crReconcileErrors.inc({ controller: CONTROLLER }, 0);
    this.crTerminalErrors.inc({ controller: CONTROLLER }, 0);
    this.wqRetries.inc({ name: CONTROLLER, controller: CONTROLLER }, 0);
  }

  bind(sources: MetricSources): void {
    this.sources = sources;
  }

  /** One run of the work queue's handler (a reconcile), as controller-runtime's controller counts it. */
  observeWork(o: WorkOutcome): void {
    const seconds = o.durationMs / 1000;
    const queue = { name: CONTROLLER, controller: CONTROLLER };
    this.queueLatency.observe(o.waitedMs / 1000);
    this.reconcileDuration.observe(seconds);
    this.wqQueueDuration.observe(queue, o.waitedMs / 1000);
    this.wqWorkDuration.observe(queue, seconds);
    this.crReconcileTime.observe({ controller: CONTROLLER }, seconds);
    const result = reconcileResult(o);
    this.crReconciles.inc({ controller: CONTROLLER, result });
    // controller-runtime re-adds with the rate limiter after an error and after Requeue without a delay.
    if (result === 'error' || result === 'requeue') this.wqRetries.inc(queue);
    if (result === 'error') {
      this.crReconcileErrors.inc({ controller: CONTROLLER });
      this.reconcileErrors.inc();
      this.retries.inc();
      this.reconciles.inc({ result: 'error' });
    }
  }

  /** One request to the API server (KubeClient.observe). */
  observeApiRequest(r: RequestRecord): void {
    // One lookup per request instead of three label sets hashed (sorted and joined) by prom-client:
    // a fan-out counts every one of its writes here.
    const key = `${r.status ?? ''} ${r.method} ${r.host} ${r.resource} ${r.watch === true}`;
    let series = this.requestSeries.get(key);
    if (!series) {
      // client-go's code for a request that got no response.
      const code = r.status === undefined ? '<error>' : String(r.status);
      series = {
        requests: this.restRequests.labels({ code, method: r.method, host: r.host }),
        duration: this.restDuration.labels({ verb: r.method, host: r.host }),
        ...(r.status !== undefined && !r.watch ? { api: this.apiRequests.labels({ verb: r.method, resource: r.resource, code }) } : {}),
      };
      this.requestSeries.set(key, series);
    }
    series.requests.inc();
    if (r.seconds !== undefined) series.duration.observe(r.seconds);
    series.api?.inc();
  }

  /** A credential's status as the cache holds it after a reconcile. */
  setCredentialStatus(credential: string, status: RegistryCredentialStatus | undefined): void {
    const conditions = status?.conditions ?? [];
    this.credentialReady.set({ credential }, conditions.find((c) => c.type === 'Ready')?.status === 'True' ? 1 : 0);
    const types = new Set(conditions.map((c) => c.type));
    for (const type of this.conditionTypes.get(credential) ?? []) if (!types.has(type)) this.removeCondition(credential, type);
    for (const c of conditions) {
      for (const s of CONDITION_STATUSES) this.credentialCondition.set({ credential, type: c.type, status: s }, c.status === s ? 1 : 0);
    }
    this.conditionTypes.set(credential, types);
    setTimestamp(this.credentialLastSync, credential, status?.lastSyncTime);
    setTimestamp(this.credentialLastRotation, credential, status?.lastRotationTime);
  }

  /** Removes every per-credential series of a credential that is gone. */
  forgetCredential(credential: string): void {
    this.credentialReady.remove({ credential });
    for (const type of this.conditionTypes.get(credential) ?? []) this.removeCondition(credential, type);
    this.conditionTypes.delete(credential);
    this.credentialLastSync.remove({ credential });
    this.credentialLastRotation.remove({ credential });
  }

  setRegistryResults(credential: string, results: Array<{ server: string; result: ValidationResult }>): void {
    const servers = new Set(results.map((r) => r.server));
    for (const server of this.validatedServers.get(credential) ?? []) if (!servers.has(server)) this.removeServer(credential, server);
    for (const r of results) {
      for (const result of VALIDATION_RESULTS) this.registryValidation.set({ credential, server: r.server, result }, r.result === result ? 1 : 0);
    }
    this.validatedServers.set(credential, servers);
  }

  observeAdmission(result: string, seconds: number): void {
    this.podAdmissions.inc({ result });
    this.podAdmissionDuration.observe(seconds);
  }

  forgetRegistryResults(credential: string): void {
    for (const server of this.validatedServers.get(credential) ?? []) this.removeServer(credential, server);
    this.validatedServers.delete(credential);
  }

  private removeServer(credential: string, server: string): void {
    for (const result of VALIDATION_RESULTS) this.registryValidation.remove({ credential, server, result });
  }

  private removeCondition(credential: string, type: string): void {
    for (const status of CONDITION_STATUSES) this.credentialCondition.remove({ credential, type, status });
  }

  private sourced(name: string, help: string, read: (s: MetricSources) => number): Gauge {
    const sources = () => this.sources;
    return new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        const s = sources();
        if (s) this.set(read(s));
      },
    });
  }

  /** A gauge of the work queue, labelled with the controller (and queue) name; no series before bind(). */
  private fromQueue(name: string, help: string, labelNames: Array<'name' | 'controller'>, read: (q: QueueStats) => number): Gauge<'name' | 'controller'> {
    const queue = () => this.sources?.workQueue;
    const labels = Object.fromEntries(labelNames.map((l) => [l, CONTROLLER]));
    return new Gauge({
      name,
      help,
      labelNames,
      registers: [this.registry],
      collect() {
        const q = queue();
        if (q) this.set(labels, read(q));
      },
    });
  }

  /** A counter whose total the work queue keeps. */
  private fromQueueCounter(name: string, help: string, read: (q: QueueStats) => number): Counter<'name' | 'controller'> {
    const queue = () => this.sources?.workQueue;
    const labels = { name: CONTROLLER, controller: CONTROLLER };
    return new Counter({
      name,
      help,
      labelNames: ['name', 'controller'],
      registers: [this.registry],
      collect() {
        const q = queue();
        if (!q) return;
        this.reset();
        this.inc(labels, read(q));
      },
    });
  }

  private perInformer(name: string, help: string, read: (i: InformerStats) => number): Gauge {
    const sources = () => this.sources;
    return new Gauge({
      name,
      help,
      labelNames: ['informer'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of sources()?.informers() ?? []) this.set({ informer: i.name }, read(i));
      },
    });
  }

  /** A counter whose totals each informer keeps: read, never incremented here. */
  private perInformerCounter(name: string, help: string, read: (i: InformerStats) => number): Counter {
    const sources = () => this.sources;
    return new Counter({
      name,
      help,
      labelNames: ['informer'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const i of sources()?.informers() ?? []) this.inc({ informer: i.name }, read(i));
      },
    });
  }
}

/** controller-runtime's result label: error, else requeue_after (a delay), requeue (none), else success. */
export function reconcileResult(o: Pick<WorkOutcome, 'error' | 'result'>): (typeof RECONCILE_RESULTS)[number] {
  if (o.error !== undefined) return 'error';
  const after = o.result?.requeueAfterMs;
  if (after === undefined) return 'success';
  return after > 0 ? 'requeue_after' : 'requeue';
}

function setTimestamp(gauge: Gauge, credential: string, time: string | undefined): void {
  const ms = time ? Date.parse(time) : NaN;
  if (Number.isFinite(ms)) gauge.set({ credential }, ms / 1000);
  else gauge.remove({ credential });
}

/** The operator's version, from the package.json next to src/ and dist/ (the image ships it). */
function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
