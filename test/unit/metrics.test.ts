// The exposition text of the metrics, driven through the hooks the operator uses: the work queue's
// onDone and its counters (Operator), KubeClient.observe (start.ts), the credential's status after a
// reconcile, and the informers' stats. Names, labels and types are those of controller-runtime and
// client-go where the metric is one of theirs, so stock dashboards and alerts read them.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RegistryCredentialStatus } from '../../src/api/schema.ts';
import { KubeConfig } from '../../src/kube/client-node.ts';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';
import { WorkQueue, type WorkResult } from '../../src/queue/workqueue.ts';
import { Metrics, type InformerStats } from '../../src/server/metrics.ts';

const CR = 'controller="registrycredential"';
const WQ = 'name="registrycredential",controller="registrycredential"';

/** The value of the one sample written exactly as `series` (name and labels), else undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

const typeOf = (text: string, name: string) => new RegExp(`^# TYPE ${name} (\\w+)$`, 'm').exec(text)?.[1];

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function bindQueue(metrics: Metrics, queue: WorkQueue, informers: InformerStats[] = []) {
  metrics.bind({ queueDepth: () => queue.depth, managedSecrets: () => 0, serviceAccountEntries: () => 0, informers: () => informers, workQueue: queue });
}

describe('controller-runtime and workqueue metrics', () => {
  const queues: WorkQueue[] = [];
  afterEach(async () => {
    const stopping = Promise.all(queues.splice(0).map((q) => q.shutdown(50)));
    if (vi.isFakeTimers()) await vi.advanceTimersByTimeAsync(50);
    await stopping;
    vi.useRealTimers();
  });

  /** A queue wired to the metrics as Operator wires it. */
  function wired(metrics: Metrics, handler: (key: string) => Promise<WorkResult | void>, concurrency = 2) {
    const queue = new WorkQueue(handler, { concurrency, baseDelayMs: 500, random: () => 0, onDone: (_key, o) => metrics.observeWork(o) });
    queues.push(queue);
    bindQueue(metrics, queue);
    return queue;
  }

  it('starts every result and error counter at 0 and has no queue series before a queue is bound', async () => {
    const text = await new Metrics().registry.metrics();
    for (const result of ['success', 'error', 'requeue', 'requeue_after']) expect(sample(text, `controller_runtime_reconcile_total{${CR},result="${result}"}`), result).toBe(0);
    expect(sample(text, `controller_runtime_reconcile_errors_total{${CR}}`)).toBe(0);
    expect(sample(text, `controller_runtime_terminal_reconcile_errors_total{${CR}}`)).toBe(0);
    expect(sample(text, `workqueue_retries_total{${WQ}}`)).toBe(0);
    expect(text).not.toMatch(/^controller_runtime_active_workers\{/m);
    expect(text).not.toMatch(/^workqueue_depth\{/m);
  });

  it('counts each reconcile by result, error and retry, and times it, as controller-runtime does', async () => {
    vi.useFakeTimers();
    const metrics = new Metrics();
    const calls = new Map<string, number>();
    const queue = wired(metrics, async (key) => {
      const n = (calls.get(key) ?? 0) + 1;
      calls.set(key, n);
      if (key === 'resynced') return { requeueAfterMs: 60_000 };
      if (key === 'again' && n === 1) return { requeueAfterMs: 0 };
      if (key === 'failing' && n === 1) throw new Error('conflict');
      return undefined;
    });
    for (const key of ['plain', 'resynced', 'again', 'failing']) queue.add(key);
    await vi.advanceTimersByTimeAsync(500);
    // plain, resynced, again twice (requeue, then success), failing twice (error, then success after 500 ms).
    expect([...calls.values()]).toEqual([1, 1, 2, 2]);
    const text = await metrics.registry.metrics();
    expect(typeOf(text, 'controller_runtime_reconcile_total')).toBe('counter');
    expect(sample(text, `controller_runtime_reconcile_total{${CR},result="success"}`)).toBe(3);
    expect(sample(text, `controller_runtime_reconcile_total{${CR},result="requeue_after"}`)).toBe(1);
    expect(sample(text, `controller_runtime_reconcile_total{${CR},result="requeue"}`)).toBe(1);
    expect(sample(text, `controller_runtime_reconcile_total{${CR},result="error"}`)).toBe(1);
    expect(sample(text, `controller_runtime_reconcile_errors_total{${CR}}`)).toBe(1);
    expect(sample(text, `controller_runtime_terminal_reconcile_errors_total{${CR}}`)).toBe(0);
    expect(typeOf(text, 'controller_runtime_reconcile_time_seconds')).toBe('histogram');
    expect(sample(text, `controller_runtime_reconcile_time_seconds_count{${CR}}`)).toBe(6);
    // controller-runtime's buckets, 5 ms to 60 s.
    expect(sample(text, `controller_runtime_reconcile_time_seconds_bucket{le="0.15",${CR}}`)).toBe(6);
    expect(sample(text, `controller_runtime_reconcile_time_seconds_bucket{le="60",${CR}}`)).toBe(6);
    // Retries: the error and the requeue without a delay, both re-added through the rate limiter.
    expect(sample(text, `workqueue_retries_total{${WQ}}`)).toBe(2);
    expect(typeOf(text, 'workqueue_adds_total')).toBe('counter');
    // Four adds, the requeue's, and the failed key's retry when its backoff was over.
    expect(sample(text, `workqueue_adds_total{${WQ}}`)).toBe(6);
    expect(typeOf(text, 'workqueue_queue_duration_seconds')).toBe('histogram');
    expect(sample(text, `workqueue_queue_duration_seconds_count{${WQ}}`)).toBe(6);
    expect(sample(text, `workqueue_work_duration_seconds_count{${WQ}}`)).toBe(6);
    // client-go's buckets, 10 ns to 1000 s.
    expect(sample(text, `workqueue_work_duration_seconds_bucket{le="1e-8",${WQ}}`)).toBeDefined();
    expect(sample(text, `workqueue_work_duration_seconds_bucket{le="1000",${WQ}}`)).toBe(6);
    expect(sample(text, `workqueue_depth{${WQ}}`)).toBe(0);
    expect(sample(text, `controller_runtime_max_concurrent_reconciles{${CR}}`)).toBe(2);
    // The regcred_* metrics of the same runs.
    expect(sample(text, 'regcred_reconcile_errors_total')).toBe(1);
    expect(sample(text, 'regcred_workqueue_retries_total')).toBe(1);
    expect(sample(text, 'regcred_reconcile_total{result="error"}')).toBe(1);
    expect(sample(text, 'regcred_reconcile_duration_seconds_count')).toBe(6);
  });

  it('shows busy workers, waiting keys and unfinished work while reconciles run', async () => {
    vi.useFakeTimers();
    const metrics = new Metrics();
    const gate = deferred();
    const queue = wired(metrics, async () => gate.promise, 1);
    queue.add('slow');
    await vi.advanceTimersByTimeAsync(0);
    queue.add('next');
    await vi.advanceTimersByTimeAsync(3_000);
    let text = await metrics.registry.metrics();
    expect(sample(text, `controller_runtime_active_workers{${CR}}`)).toBe(1);
    expect(sample(text, `controller_runtime_max_concurrent_reconciles{${CR}}`)).toBe(1);
    expect(sample(text, `workqueue_depth{${WQ}}`)).toBe(1);
    expect(sample(text, 'regcred_workqueue_depth')).toBe(1);
    expect(typeOf(text, 'workqueue_unfinished_work_seconds')).toBe('gauge');
    expect(sample(text, `workqueue_unfinished_work_seconds{${WQ}}`)).toBe(3);
    expect(sample(text, `workqueue_longest_running_processor_seconds{${WQ}}`)).toBe(3);
    gate.resolve();
    await vi.advanceTimersByTimeAsync(0);
    text = await metrics.registry.metrics();
    expect(sample(text, `controller_runtime_active_workers{${CR}}`)).toBe(0);
    expect(sample(text, `workqueue_unfinished_work_seconds{${WQ}}`)).toBe(0);
    expect(sample(text, `workqueue_queue_duration_seconds_sum{${WQ}}`)).toBe(3);
  });
});

describe('REST client metrics', () => {
  let server: Server;
  let host: string;
  let client: KubeClient;
  let metrics: Metrics;

  const kubeconfig = (url: string) => {
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    return kc;
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const json = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.searchParams.get('watch') === 'true') {
        if (url.pathname.endsWith('/secrets')) return json(403, { kind: 'Status', code: 403, reason: 'Forbidden' });
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'x' } } })}\n`);
      }
      if (url.pathname.endsWith('/missing')) return json(404, { kind: 'Status', code: 404, reason: 'NotFound' });
      if (req.method === 'POST') return json(201, { metadata: { name: 'made' } });
      return json(200, { metadata: { name: 'x' } });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    metrics = new Metrics();
    client = new KubeClient(kubeconfig(`http://${host}`));
    client.observe((r) => metrics.observeApiRequest(r));
  });

  afterAll(() => new Promise((r) => server.close(r)));

  const watchOnce = (resource: typeof RESOURCES.namespaces) =>
    new Promise<unknown>((resolve) => void client.watch(resource, undefined, {}, () => undefined, resolve));

  it('counts every request and watch by code, method and host, and times requests by verb and host', async () => {
    await client.get(RESOURCES.namespaces, undefined, 'x');
    await client.create(RESOURCES.secrets, 'ns', { metadata: { name: 'made' } });
    await expect(client.get(RESOURCES.namespaces, undefined, 'missing')).rejects.toMatchObject({ status: 404 });
    await watchOnce(RESOURCES.namespaces);
    expect(await watchOnce(RESOURCES.secrets)).toMatchObject({ status: 403 });
    const text = await metrics.registry.metrics();
    expect(typeOf(text, 'rest_client_requests_total')).toBe('counter');
    expect(sample(text, `rest_client_requests_total{code="200",method="GET",host="${host}"}`)).toBe(2);
    expect(sample(text, `rest_client_requests_total{code="201",method="POST",host="${host}"}`)).toBe(1);
    expect(sample(text, `rest_client_requests_total{code="404",method="GET",host="${host}"}`)).toBe(1);
    expect(sample(text, `rest_client_requests_total{code="403",method="GET",host="${host}"}`)).toBe(1);
    expect(typeOf(text, 'rest_client_request_duration_seconds')).toBe('histogram');
    // Watches are streams, not timed (client-go neither).
    expect(sample(text, `rest_client_request_duration_seconds_count{verb="GET",host="${host}"}`)).toBe(2);
    expect(sample(text, `rest_client_request_duration_seconds_count{verb="POST",host="${host}"}`)).toBe(1);
    // client-go's buckets, 5 ms to 60 s.
    expect(sample(text, `rest_client_request_duration_seconds_bucket{le="0.005",verb="POST",host="${host}"}`)).toBeDefined();
    expect(sample(text, `rest_client_request_duration_seconds_bucket{le="60",verb="POST",host="${host}"}`)).toBe(1);
    // regcred_api_requests_total keeps the resource, for requests (not watches) that got a response.
    expect(sample(text, 'regcred_api_requests_total{verb="GET",resource="namespaces",code="200"}')).toBe(1);
    expect(sample(text, 'regcred_api_requests_total{verb="POST",resource="secrets",code="201"}')).toBe(1);
    expect(sample(text, 'regcred_api_requests_total{verb="GET",resource="namespaces",code="404"}')).toBe(1);
    expect(text).not.toMatch(/^regcred_api_requests_total\{[^}]*code="403"/m);
  });

  it('counts a request and a watch that got no response as <error>', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const gone = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    const m = new Metrics();
    const unreachable = new KubeClient(kubeconfig(`http://${gone}`));
    unreachable.observe((r) => m.observeApiRequest(r));
    await expect(unreachable.get(RESOURCES.namespaces, undefined, 'x')).rejects.toThrow();
    await new Promise<unknown>((resolve) => void unreachable.watch(RESOURCES.namespaces, undefined, {}, () => undefined, resolve));
    const text = await m.registry.metrics();
    expect(sample(text, `rest_client_requests_total{code="<error>",method="GET",host="${gone}"}`)).toBe(2);
    expect(sample(text, `rest_client_request_duration_seconds_count{verb="GET",host="${gone}"}`)).toBe(1);
    expect(text).not.toMatch(/^regcred_api_requests_total\{/m);
  });
});

describe('credential metrics', () => {
  const status = (conditions: Array<[string, 'True' | 'False' | 'Unknown']>, times: { lastSyncTime?: string; lastRotationTime?: string } = {}): RegistryCredentialStatus =>
    ({ conditions: conditions.map(([type, s]) => ({ type, status: s, reason: 'R', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' })), ...times }) as RegistryCredentialStatus;

  it('has one series per condition status, 1 for the current one, and the status times as Unix seconds', async () => {
    const metrics = new Metrics();
    metrics.setCredentialStatus('a', status([['Ready', 'False'], ['Reconciling', 'True'], ['Stalled', 'True']], { lastSyncTime: '2026-11-29T10:00:00Z', lastRotationTime: '2026-11-28T09:30:00Z' }));
    const text = await metrics.registry.metrics();
    expect(typeOf(text, 'regcred_credential_condition')).toBe('gauge');
    expect(sample(text, 'regcred_credential_ready{credential="a"}')).toBe(0);
    expect(sample(text, 'regcred_credential_condition{credential="a",type="Ready",status="False"}')).toBe(1);
    expect(sample(text, 'regcred_credential_condition{credential="a",type="Ready",status="True"}')).toBe(0);
    expect(sample(text, 'regcred_credential_condition{credential="a",type="Ready",status="Unknown"}')).toBe(0);
    expect(sample(text, 'regcred_credential_condition{credential="a",type="Stalled",status="True"}')).toBe(1);
    expect(sample(text, 'regcred_credential_condition{credential="a",type="Reconciling",status="True"}')).toBe(1);
    expect(sample(text, 'regcred_credential_last_sync_timestamp_seconds{credential="a"}')).toBe(Date.parse('2026-11-29T10:00:00Z') / 1000);
    expect(sample(text, 'regcred_credential_last_rotation_timestamp_seconds{credential="a"}')).toBe(Date.parse('2026-11-28T09:30:00Z') / 1000);
  });

  it('drops the series of a condition or time the status no longer has, and every series of a credential that is gone', async () => {
    const metrics = new Metrics();
    metrics.setCredentialStatus('a', status([['Ready', 'False'], ['Stalled', 'True']], { lastSyncTime: '2026-11-29T10:00:00Z', lastRotationTime: '2026-11-28T09:30:00Z' }));
    metrics.setCredentialStatus('b', status([['Ready', 'True']], { lastSyncTime: '2026-11-29T11:00:00Z' }));
    metrics.setCredentialStatus('a', status([['Ready', 'True']], { lastSyncTime: '2026-11-29T12:00:00Z' }));
    let text = await metrics.registry.metrics();
    expect(sample(text, 'regcred_credential_ready{credential="a"}')).toBe(1);
    expect(text).not.toContain('type="Stalled"');
    expect(sample(text, 'regcred_credential_last_sync_timestamp_seconds{credential="a"}')).toBe(Date.parse('2026-11-29T12:00:00Z') / 1000);
    expect(text).not.toContain('regcred_credential_last_rotation_timestamp_seconds{credential="a"}');
    metrics.forgetCredential('a');
    text = await metrics.registry.metrics();
    expect(text).not.toContain('credential="a"');
    expect(sample(text, 'regcred_credential_condition{credential="b",type="Ready",status="True"}')).toBe(1);
    expect(sample(text, 'regcred_credential_last_sync_timestamp_seconds{credential="b"}')).toBe(Date.parse('2026-11-29T11:00:00Z') / 1000);
  });
});

describe('process, build and informer metrics', () => {
  it('exports the process and Node.js defaults without a prefix', async () => {
    const text = await new Metrics().registry.metrics();
    expect(typeOf(text, 'process_cpu_seconds_total')).toBe('counter');
    expect(typeOf(text, 'process_resident_memory_bytes')).toBe('gauge');
    expect(typeOf(text, 'nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(typeOf(text, 'nodejs_heap_size_used_bytes')).toBe('gauge');
    expect(text).not.toMatch(/^# TYPE regcred_(process|nodejs)_/m);
  });

  it('says the version from package.json and the Node.js version in regcred_build_info', async () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const text = await new Metrics().registry.metrics();
    expect(typeOf(text, 'regcred_build_info')).toBe('gauge');
    expect(sample(text, `regcred_build_info{version="${version}",node_version="${process.version}"}`)).toBe(1);
  });

  it('ends the name of every counter with _total', async () => {
    const counters = (await new Metrics().registry.getMetricsAsJSON()).filter((m) => String(m.type) === 'counter').map((m) => m.name);
    expect(counters.length).toBeGreaterThan(10);
    expect(counters.filter((n) => !n.endsWith('_total'))).toEqual([]);
  });

  it('exports the informers\' restarts and handler errors as counters that follow their totals', async () => {
    const metrics = new Metrics();
    const informers: InformerStats[] = [{ name: 'secrets', lastSuccess: Date.now() - 5_000, restarts: 3, handlerErrors: 1 }];
    metrics.bind({ queueDepth: () => 0, managedSecrets: () => 0, serviceAccountEntries: () => 0, informers: () => informers });
    let text = await metrics.registry.metrics();
    expect(typeOf(text, 'regcred_informer_restarts_total')).toBe('counter');
    expect(typeOf(text, 'regcred_informer_handler_errors_total')).toBe('counter');
    expect(sample(text, 'regcred_informer_restarts_total{informer="secrets"}')).toBe(3);
    expect(sample(text, 'regcred_informer_handler_errors_total{informer="secrets"}')).toBe(1);
    expect(sample(text, 'regcred_informer_last_event_age_seconds{informer="secrets"}')).toBeGreaterThanOrEqual(5);
    informers[0]!.restarts = 4;
    text = await metrics.registry.metrics();
    expect(sample(text, 'regcred_informer_restarts_total{informer="secrets"}')).toBe(4);
  });
});
