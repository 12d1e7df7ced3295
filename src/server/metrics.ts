// Prometheus metrics (prom-client). One registry per operator so tests can run several.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { VALIDATION_RESULTS, type ValidationResult } from '../api/schema.ts';

/** Read at scrape time, so gauges never lag the caches. */
export interface MetricSources {
  queueDepth(): number;
  managedSecrets(): number;
  serviceAccountEntries(): number;
  informers(): InformerStats[];
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
    help: 'Requests to the Kubernetes API by verb, resource and status code.',
    labelNames: ['verb', 'resource', 'code'],
    registers: [this.registry],
  });
  readonly writes = new Counter({ name: 'regcred_writes_total', help: 'Writes made by reconciles.', registers: [this.registry] });
  readonly managedSecrets = this.sourced('regcred_managed_secrets', 'Secrets the operator manages.', (s) => s.managedSecrets());
  readonly serviceAccountEntries = this.sourced('regcred_serviceaccount_entries', 'ServiceAccount entries the operator added.', (s) => s.serviceAccountEntries());
  readonly credentialReady = new Gauge({ name: 'regcred_credential_ready', help: '1 when a RegistryCredential is Ready.', labelNames: ['credential'], registers: [this.registry] });
  readonly informerLastEventAge = this.perInformer('regcred_informer_last_event_age_seconds', 'Seconds since an informer last had a successful list, watch connect or event.', (i) => (Date.now() - i.lastSuccess) / 1000);
  readonly informerRestarts = this.perInformer('regcred_informer_restarts', 'Watch reconnects and relists per informer.', (i) => i.restarts);
  readonly informerHandlerErrors = this.perInformer('regcred_informer_handler_errors', 'Watch events that could not be applied or whose handler threw, per informer.', (i) => i.handlerErrors);
  readonly leader = new Gauge({ name: 'regcred_leader', help: '1 while this process holds the leader lease.', registers: [this.registry] });
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
  /** The servers each credential has series for, so the ones it no longer has are removed. */
  private readonly validatedServers = new Map<string, Set<string>>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'regcred_' });
  }

  bind(sources: MetricSources): void {
    this.sources = sources;
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
}
