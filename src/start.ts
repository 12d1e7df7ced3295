// regcred-operator: flags, logging, the API client, the operator, leader election, the HTTP
// endpoints, and an orderly stop on SIGTERM. Loaded by main.ts once client-node can be loaded lean.
import { parseFlags, HELP, userAgent, versionText } from './config.ts';
import { KubeClient } from './kube/client.ts';
import { describe } from './kube/errors.ts';
import { LeaderElector } from './kube/leader.ts';
import { loadDigestRetrying } from './controller/digest.ts';
import { Operator } from './controller/operator.ts';
import { PodWebhook } from './controller/webhook/pod-webhook.ts';
import { InjectionPolicies } from './controller/webhook/policy.ts';
import { injectionExcludedNamespaces } from './controller/webhook/configuration.ts';
import { Remediator } from './controller/remediation/remediator.ts';
import { createLogger } from './log.ts';
import { loadTrim, startTrimming } from './malloc-trim.ts';
import { healthRoutes } from './server/health.ts';
import { boundPort, serve } from './server/http.ts';
import { Metrics } from './server/metrics.ts';
import { MetricsAuth } from './server/metrics-auth.ts';
import { servingCertificate } from './server/serving-cert.ts';

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

async function main(): Promise<number> {
  const parsed = parseFlags(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (parsed.version) {
      process.stdout.write(versionText());
      return 0;
    }
    process.stderr.write(`${parsed.message}\n\n${HELP}`);
    return 2;
  }
  const flags = parsed.flags;
  const log = createLogger(flags['log-level']);
  const trimming = loadTrim();
  if ('unavailable' in trimming) log.info({ reason: trimming.unavailable }, 'malloc_trim not available: memory glibc frees stays resident');
  const stopTrimming = 'trim' in trimming
    ? startTrimming(trimming.trim, {
        trimmed: ({ released, durationMs, rssBefore, rssAfter }) => log.debug({ released, durationMs: Math.round(durationMs * 100) / 100, rssBeforeMiB: mib(rssBefore), rssAfterMiB: mib(rssAfter) }, 'malloc heap trimmed'),
      })
    : undefined;
  const client = KubeClient.load(flags.kubeconfig);
  client.setUserAgent(userAgent());
  client.setWatchInactivityTimeout(flags['watch-inactivity-timeout']);
  client.setHttp2(flags.http2);
  client.setRateLimit(flags['kube-api-qps'], flags['kube-api-burst']);
  const metrics = new Metrics();
  client.observe((request) => metrics.observeApiRequest(request));

  // The operator is made once the digest key is loaded, which waits for the API server: the probes
  // answer meanwhile.
  const running: { operator?: Operator; webhook?: PodWebhook; remediator?: Remediator; policies?: InjectionPolicies } = {};

  // --metrics-secure: HTTPS, and only callers the API server authenticates and authorizes.
  const metricsSecurity = flags['metrics-secure'] && flags['metrics-bind-address'] !== '0'
    ? { tls: await servingCertificate(flags['metrics-cert-dir'], log), guard: new MetricsAuth(client, { log }).guard }
    : {};
  const metricsServer = await serve(flags['metrics-bind-address'], {
    '/metrics': async () => ({ status: 200, body: await metrics.registry.metrics(), contentType: metrics.registry.contentType }),
  }, metricsSecurity);
  const healthServer = await serve(flags['health-probe-bind-address'], healthRoutes(
    {
      synced: () => running.operator?.hasSynced ?? false,
      informers: () => running.operator?.informers() ?? [],
      oldestWaitMs: () => running.operator?.queue.oldestWaitMs() ?? 0,
      oldestRunningMs: () => running.operator?.queue.oldestRunningMs() ?? 0,
      extraProblems: () => [running.webhook?.problem(flags['watch-stale-limit'])].filter((p): p is string => !!p),
    },
    { watchStaleMs: flags['watch-stale-limit'], queueStallMs: flags['queue-stall-limit'], runningStuckMs: flags['reconcile-stuck-limit'] },
  ));
  log.info({
    credentialsNamespace: flags.credentialsNamespace,
    metricsPort: boundPort(metricsServer),
    healthPort: boundPort(healthServer),
    leaderElect: flags['leader-elect'],
  }, 'starting');

  const elector = flags['leader-elect']
    ? new LeaderElector(client, log, {
        namespace: flags['leader-election-namespace'] ?? flags.credentialsNamespace,
        name: flags['leader-election-id'],
        leaseDurationMs: flags['lease-duration'],
        renewDeadlineMs: flags['renew-deadline'],
        retryPeriodMs: flags['retry-period'],
      })
    : undefined;

  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping: no new work');
      const finished = running.operator ? await running.operator.stop(flags['shutdown-timeout']) : true;
      await running.webhook?.stop();
      running.policies?.stop();
      running.remediator?.stop();
      if (!finished) log.warn({ timeoutMs: flags['shutdown-timeout'] }, 'reconciles still running at the shutdown bound; abandoning them');
      await elector?.release();
      metricsServer?.close();
      healthServer?.close();
      stopTrimming?.();
      log.info('stopped');
      resolve(0);
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  });

  // Before the caches: the managed cache keeps each Secret's data as its digest. A SIGTERM meanwhile
  // does not wait for a request in flight.
  const digest = await Promise.race([
    loadDigestRetrying(client, log, flags.credentialsNamespace, flags['digest-key-secret'], {
      timeoutMs: flags['cache-sync-timeout'],
      cancelled: () => stopping,
    }),
    stopped.then(() => undefined),
  ]);
  if (!digest || stopping) return stopped;
  const operator = new Operator(client, log, {
    credentialsNamespace: flags.credentialsNamespace,
    digest,
    allowedSecretNames: flags['allowed-secret-names'],
    concurrency: flags.concurrency,
    maxConcurrentWrites: flags['max-concurrent-writes'],
    resyncPeriodMs: flags['resync-period'],
    cacheSyncTimeoutMs: flags['cache-sync-timeout'],
    statusIntervalMs: flags['status-interval'],
    ...(flags['token-max-lifetime'] !== undefined ? { tokenMaxLifetimeMs: flags['token-max-lifetime'] } : {}),
  }, metrics);
  running.operator = operator;
  await operator.startCaches();
  const operatorNamespace = process.env.POD_NAMESPACE ?? flags.credentialsNamespace;
  if (flags['pod-injection'] === 'webhook') {
    const webhook = new PodWebhook(client, log, operator.caches, {
      bindAddress: flags['webhook-bind-address'],
      credentialsNamespace: flags.credentialsNamespace,
      operatorNamespace,
      // A kubeconfig given means run from outside: the API server cannot resolve the Service.
      inCluster: !flags.kubeconfig && !!process.env.KUBERNETES_SERVICE_HOST,
      ...(flags['webhook-url'] ? { url: flags['webhook-url'] } : {}),
      serviceName: flags['webhook-service-name'],
      configurationName: flags['webhook-configuration-name'],
      secretName: flags['webhook-secret-name'],
      externalCertificates: flags['webhook-certificates'] === 'external',
      synced: () => operator.hasSynced,
      onAdmission: (o) => metrics.observeAdmission(o.reason, o.durationMs / 1000),
    });
    running.webhook = webhook;
    await webhook.start();
  }
  if (flags['pod-injection'] === 'policy') {
    // A MutatingAdmissionPolicy and binding per renderable credential, named
    // <--webhook-configuration-name>-<credential>; kept by the leader.
    const policies = new InjectionPolicies(client, log, {
      prefix: `${flags['webhook-configuration-name']}-`,
      excludedNamespaces: injectionExcludedNamespaces(operatorNamespace, flags.credentialsNamespace),
    });
    policies.follow(operator.caches);
    running.policies = policies;
  }
  if (elector) {
    metrics.leader.set(0);
    const leading = await elector.acquire(() => stopping);
    if (!leading) return stopped;
    metrics.leader.set(1);
    elector.keepRenewing(() => {
      // Losing the lease must stop every write at once; exiting is the only way to be sure.
      metrics.leader.set(0);
      log.error('leader lease lost; exiting so no write happens without it');
      process.exit(1);
    });
  }
  if (!stopping) {
    running.webhook?.lead();
    running.policies?.lead();
    if (flags['remediate-pods']) {
      const remediator = new Remediator(client, log, operator.caches.serviceAccounts, { onResult: (result) => metrics.podRemediations.inc({ result }) });
      // The operator's own ServiceAccount writes wake no informer handler: they are passed on as recorded.
      operator.caches.onServiceAccountWritten((sa) => remediator.serviceAccountChanged(sa));
      running.remediator = remediator;
      remediator.start();
    }
    operator.startWorkers();
  }
  return stopped;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${JSON.stringify({ level: 'fatal', ts: new Date().toISOString(), app: 'regcred-operator', msg: 'fatal', error: describe(err) })}\n`);
    process.exit(1);
  },
);
