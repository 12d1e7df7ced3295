// The one place that talks HTTP to the API server. It uses client-node for configuration,
// authentication, TLS and watch streaming, and exchanges plain JSON: client-node's typed layer
// turns timestamps into Dates and drops fields it does not know, while its Watch yields the wire
// JSON, and caches must hold one shape. Every caller gets the same error type with the HTTP status,
// the API reason and any Retry-After.
import { HttpMethod, KubeConfig, RequestContext, Watch } from './client-node.ts';
import { getGlobalDispatcher, request as send, type Dispatcher } from 'undici';
import { GROUP, PLURAL, VERSION } from '../api/schema.ts';
import { ConnectionPool } from './connection-pool.ts';
import { TokenBucket } from './ratelimit.ts';

export interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

const core = (plural: string, kind: string, namespaced = true): Resource => ({ group: '', version: 'v1', plural, kind, namespaced });

export const RESOURCES = {
  namespaces: core('namespaces', 'Namespace', false),
  secrets: core('secrets', 'Secret'),
  configMaps: core('configmaps', 'ConfigMap'),
  serviceAccounts: core('serviceaccounts', 'ServiceAccount'),
  pods: core('pods', 'Pod'),
  events: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  leases: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  registryCredentials: { group: GROUP, version: VERSION, plural: PLURAL, kind: 'RegistryCredential', namespaced: false },
  // Create-only reviews, for the authenticated metrics endpoint (--metrics-secure).
  tokenReviews: { group: 'authentication.k8s.io', version: 'v1', plural: 'tokenreviews', kind: 'TokenReview', namespaced: false },
  subjectAccessReviews: { group: 'authorization.k8s.io', version: 'v1', plural: 'subjectaccessreviews', kind: 'SubjectAccessReview', namespaced: false },
  mutatingWebhookConfigurations: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingwebhookconfigurations', kind: 'MutatingWebhookConfiguration', namespaced: false },
  // --pod-injection=policy (GA in Kubernetes 1.36).
  mutatingAdmissionPolicies: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingadmissionpolicies', kind: 'MutatingAdmissionPolicy', namespaced: false },
  mutatingAdmissionPolicyBindings: { group: 'admissionregistration.k8s.io', version: 'v1', plural: 'mutatingadmissionpolicybindings', kind: 'MutatingAdmissionPolicyBinding', namespaced: false },
} satisfies Record<string, Resource>;

export class KubeError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly retryAfterSeconds: number | undefined;
  constructor(status: number, reason: string, message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'KubeError';
    this.status = status;
    this.reason = reason;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export const isNotFound = (e: unknown) => e instanceof KubeError && e.status === 404;
export const isConflict = (e: unknown) => e instanceof KubeError && e.status === 409;
export const isAlreadyExists = (e: unknown) => e instanceof KubeError && e.status === 409 && e.reason === 'AlreadyExists';

export type PatchType = 'merge' | 'json' | 'strategic';
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
};

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  limit?: number;
  continue?: string;
}

export type WatchOptions = ListOptions & { timeoutSeconds?: number; allowWatchBookmarks?: boolean; metadataOnly?: boolean };

/** How long a request's authentication is reused (see KubeClient.authentication). */
const AUTH_REUSE_MS = 1000;

const PARTIAL_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1';
const PARTIAL_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1';

export interface ObjectList<T> {
  metadata: { resourceVersion?: string; continue?: string };
  items: T[];
}

/** One request to the API server, for metrics. */
export interface RequestRecord {
  method: string;
  /** The resource's plural ('' for other paths). */
  resource: string;
  /** host:port of the API server. */
  host: string;
  /** The response's status; none when no complete response came (refused, reset, timed out). */
  status?: number;
  /** From the call to the end of the response, rate-limit wait included; none for watches. */
  seconds?: number;
  watch?: boolean;
}

export type RequestObserver = (request: RequestRecord) => void;

export interface WatchHandle {
  stop(): void;
}

export class KubeClient {
  readonly config: KubeConfig;
  private readonly server: string;
  /** client-node's authentication, with every request's and watch's connection from `pool`. */
  private readonly pooled: KubeConfig;
  private readonly pool = new ConnectionPool();
  private readonly watcher: Watch;
  /** client-node's Watch sends the headers authentication leaves in the request: this one adds Accept. */
  private readonly metadataWatcher: Watch;
  private observer: RequestObserver | undefined;
  private readonly fieldManager: string;
  private limiter: TokenBucket | undefined;
  private auth: { headers: Record<string, string>; dispatcher: Dispatcher | undefined; until: number } | undefined;

  constructor(config: KubeConfig, fieldManager = 'regcred-operator') {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.config = config;
    this.server = cluster.server.replace(/\/$/, '');
    const pool = this.pool;
    // applySecurityAuthentication ends by asking this.createDispatcher for a new agent; this copy of
    // the config answers with the shared pool (client-node's own agent only behind a proxy).
    const original = config as unknown as { createDispatcher(cluster: unknown, agentOptions: unknown): unknown };
    this.pooled = Object.create(config, {
      createDispatcher: {
        value(this: KubeConfig, c: Parameters<KubeConfig['createDispatcherOptions']>[0], agentOptions: Parameters<KubeConfig['createDispatcherOptions']>[1]) {
          return pool.dispatcher(this.createDispatcherOptions(c, agentOptions)) ?? original.createDispatcher.call(this, c, agentOptions);
        },
      },
    }) as KubeConfig;
    this.watcher = new Watch(this.pooled);
    const pooled = this.pooled;
    const withAccept = Object.create(pooled, {
      applySecurityAuthentication: {
        value: async (ctx: RequestContext) => {
          await pooled.applySecurityAuthentication(ctx);
          ctx.setHeaderParam('Accept', PARTIAL_METADATA);
        },
      },
    }) as KubeConfig;
    this.metadataWatcher = new Watch(withAccept);
    this.fieldManager = fieldManager;
  }

  /** From a kubeconfig file, else $KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
  static load(kubeconfigPath?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  /**
   * How long a watch may stay silent before it is cut and resumed. client-node keeps this in a
   * private field with no setter (30 s); it is the only way it detects a half-open connection.
   */
  setWatchInactivityTimeout(ms: number): void {
    for (const w of [this.watcher, this.metadataWatcher]) (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = ms;
  }

  /** Client-side rate limit on requests (watches excepted), as client-go's QPS and burst. */
  setRateLimit(qps: number, burst: number): void {
    this.limiter = new TokenBucket(qps, burst);
  }

  /** Reports every response (for metrics); one observer at a time. */
  observe(observer: RequestObserver): void {
    this.observer = observer;
  }

  path(res: Resource, namespace?: string, name?: string, subresource?: string): string {
    const base = res.group ? `/apis/${res.group}/${res.version}` : `/api/${res.version}`;
    const ns = res.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
    const tail = [name, subresource].filter((p): p is string => !!p).map(encodeURIComponent);
    return [`${base}${ns}/${res.plural}`, ...tail].join('/');
  }

  async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    opts: {
      body?: unknown;
      contentType?: string;
      query?: Record<string, string | number | undefined>;
      resource?: string;
      text?: boolean;
      timeoutMs?: number;
      /** Bypasses the rate limit: leader-election requests must not queue behind a fan-out. */
      unthrottled?: boolean;
      /** Accept header other than plain JSON (e.g. PartialObjectMetadata). */
      accept?: string;
    } = {},
  ): Promise<T> {
    const started = performance.now();
    if (this.limiter && !opts.unthrottled) await this.limiter.take();
    const url = new URL(this.server + path);
    const observed = (status?: number) =>
      this.observer?.({ method, resource: opts.resource ?? '', host: url.host, seconds: (performance.now() - started) / 1000, ...(status !== undefined ? { status } : {}) });
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const auth = await this.authentication(url, method);
    const headers: Record<string, string> = { ...auth.headers, Accept: opts.text ? 'text/plain' : opts.accept ?? 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    // undici's request() rather than fetch(): the same connection pool without the WHATWG stream,
    // Request/Response and signal machinery, which cost more CPU per write than the rest of a write.
    // Each phase is bounded: connecting and waiting for the headers, then every gap in the body.
    const timeout = opts.timeoutMs ?? 30_000;
    let status: number;
    let text: string;
    let retryAfter: string | string[] | undefined;
    let received: number | undefined;
    try {
      const response = await send(url, {
        method,
        headers,
        body,
        dispatcher: auth.dispatcher ?? getGlobalDispatcher(),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
      status = response.statusCode;
      received = status;
      retryAfter = response.headers['retry-after'];
      text = await response.body.text();
    } catch (err) {
      // No complete response (refused, reset, timed out): the next request starts on new connections.
      this.pool.reset();
      observed(received);
      throw err;
    }
    observed(status);
    if (status < 200 || status > 299) throw toKubeError(status, text, Array.isArray(retryAfter) ? retryAfter[0]! : retryAfter ?? null);
    if (opts.text) return text as T;
    return (text ? JSON.parse(text) : {}) as T;
  }

  /**
   * A request's authentication headers and connection pool. client-node works them out afresh for
   * every request (reading or decoding the CA, client certificate and key, and parsing the URL once
   * more): a few per cent of a fan-out's CPU. They are kept for a second, and only while the pool
   * they name is the current one, so a reset or renewal is seen at once and a new token within a
   * second.
   */
  private async authentication(url: URL, method: keyof typeof HttpMethod): Promise<{ headers: Record<string, string>; dispatcher: Dispatcher | undefined }> {
    const kept = this.auth;
    const now = performance.now();
    if (kept && kept.until > now && this.pool.isCurrent(kept.dispatcher)) return kept;
    const ctx = new RequestContext(url.toString(), HttpMethod[method]);
    await this.pooled.applySecurityAuthentication(ctx);
    const fresh = { headers: ctx.getHeaders() as unknown as Record<string, string>, dispatcher: ctx.getDispatcher() as Dispatcher | undefined, until: now + AUTH_REUSE_MS };
    // Behind a proxy client-node makes a new dispatcher per request: nothing to keep.
    this.auth = this.pool.isCurrent(fresh.dispatcher) ? fresh : undefined;
    return fresh;
  }

  /** A non-JSON endpoint such as /metrics, as text. */
  getText(path: string): Promise<string> {
    return this.request<string>('GET', path, { text: true });
  }

  get<T>(res: Resource, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', this.path(res, namespace, name), { resource: res.plural });
  }

  /** A list; with `metadataOnly` the server sends PartialObjectMetadata (no spec, data or status). */
  list<T>(res: Resource, namespace?: string, opts: ListOptions = {}, metadataOnly = false): Promise<ObjectList<T>> {
    return this.request<ObjectList<T>>('GET', this.path(res, namespace), {
      query: { ...opts },
      resource: res.plural,
      ...(metadataOnly ? { accept: PARTIAL_METADATA_LIST } : {}),
    });
  }

  create<T>(res: Resource, namespace: string | undefined, body: unknown): Promise<T> {
    return this.request<T>('POST', this.path(res, namespace), {
      body: withTypeMeta(res, body),
      query: { fieldManager: this.fieldManager },
      resource: res.plural,
    });
  }

  /**
   * A short-lived token of a ServiceAccount for `audience` (the TokenRequest API, the
   * serviceaccounts/token subresource). The token is returned, never logged.
   */
  async requestServiceAccountToken(namespace: string, name: string, audience: string, expirationSeconds = 3600, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const answer = await this.request<{ status?: { token?: string } }>('POST', this.path(RESOURCES.serviceAccounts, namespace, name, 'token'), {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [audience], expirationSeconds } },
      resource: 'serviceaccounts/token',
    });
    const token = answer.status?.token;
    if (!token) throw new KubeError(500, 'InternalError', `the TokenRequest for ServiceAccount ${namespace}/${name} returned no token`);
    return token;
  }

  /** PUT; the body's metadata.resourceVersion makes it conditional. */
  replace<T>(res: Resource, namespace: string | undefined, name: string, body: unknown, subresource?: string): Promise<T> {
    return this.request<T>('PUT', this.path(res, namespace, name, subresource), {
      body: withTypeMeta(res, body),
      query: { fieldManager: this.fieldManager },
      resource: res.plural,
    });
  }

  patch<T>(res: Resource, namespace: string | undefined, name: string, patch: unknown, type: PatchType = 'merge', subresource?: string): Promise<T> {
    return this.request<T>('PATCH', this.path(res, namespace, name, subresource), {
      body: patch,
      contentType: PATCH_CONTENT_TYPE[type],
      query: { fieldManager: this.fieldManager },
      resource: res.plural,
    });
  }

  /** DELETE; a uid/resourceVersion precondition makes it safe against a newer object of the same name. */
  async delete(res: Resource, namespace: string | undefined, name: string, preconditions?: { uid?: string; resourceVersion?: string }): Promise<void> {
    await this.request('DELETE', this.path(res, namespace, name), {
      body: preconditions ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions } : undefined,
      resource: res.plural,
    });
  }

  /**
   * Streams watch events until the server closes the stream, an error occurs, or no byte arrives
   * for client-node's inactivity timeout (which is how a half-open connection is noticed).
   */
  async watch(
    res: Resource,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const { metadataOnly, ...query } = opts;
    const watcher = metadataOnly ? this.metadataWatcher : this.watcher;
    let stopped = false;
    // Counted once: when the watch ends before client-node's watch() returns (refused, or no
    // response), else as a 200 when it returns, which is once the response's headers came.
    let counted = false;
    const count = (err: unknown) => {
      if (counted) return;
      counted = true;
      this.observer?.({ method: 'GET', resource: res.plural, host: new URL(this.server).host, watch: true, ...watchStatus(err) });
    };
    const controller = await watcher.watch(this.path(res, namespace), query, onEvent, (err) => {
      count(err);
      // Refused, reset or silent (a refusal with a status is a KubeError and says nothing about the
      // connection): requests and watches after this one start on new connections.
      if (err && !stopped && !isStatusError(err)) this.pool.reset();
      onDone(watchError(err));
    });
    count(null);
    return {
      stop: () => {
        stopped = true;
        controller.abort();
      },
    };
  }
}

/** A watch's status from how it ended: none for an error without a status (no response). */
function watchStatus(err: unknown): { status?: number } {
  if (!err) return { status: 200 };
  const status = (err as { statusCode?: unknown }).statusCode;
  return typeof status === 'number' ? { status } : {};
}

const isStatusError = (err: unknown) => err instanceof Error && typeof (err as { statusCode?: unknown }).statusCode === 'number';

/**
 * client-node's Watch reports a refused watch (410 Gone included) as a plain Error whose message is
 * the status text and whose `statusCode` is the status; callers test statuses on KubeError only.
 */
function watchError(err: unknown): unknown {
  const status = err instanceof Error ? (err as { statusCode?: unknown }).statusCode : undefined;
  if (typeof status !== 'number') return err;
  // The response body (a Status with the reason) is not read by client-node, so no reason is known.
  return new KubeError(status, '', (err as Error).message || `HTTP ${status}`);
}

function withTypeMeta(res: Resource, body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  return { apiVersion: res.group ? `${res.group}/${res.version}` : res.version, kind: res.kind, ...body };
}

function toKubeError(status: number, text: string, retryAfter: string | null): KubeError {
  let reason = '';
  let message = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(text) as { reason?: string; message?: string };
    reason = parsed.reason ?? '';
    if (parsed.message) message = parsed.message;
  } catch {
    // not a Status object; the HTTP status says enough
  }
  const seconds = retryAfter !== null ? Number(retryAfter) : NaN;
  return new KubeError(status, reason, message, Number.isFinite(seconds) ? seconds : undefined);
}
