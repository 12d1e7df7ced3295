// The one place that talks HTTP to the API server. It uses client-node for configuration,
// authentication and TLS options, and exchanges plain JSON over node's own HTTP client (see
// connection-pool.ts): client-node's typed layer turns timestamps into Dates and drops fields it
// does not know, and caches must hold one shape. Every caller gets the same error type with the HTTP status,
// the API reason and any Retry-After.
import type { Agent } from 'node:http';
import type { Dispatcher } from 'undici';
import { HttpMethod, KubeConfig, RequestContext } from './client-node.ts';
import { GROUP, PLURAL, VERSION } from '../api/schema.ts';
import { ConnectionPool } from './connection-pool.ts';
import { asIdleTimeout, endedCleanly, open, readText, type Opened } from './exchange.ts';
import type { Target } from './target.ts';
import { isTimeoutError } from './timeout-error.ts';
import { WatchLines } from './watch-lines.ts';
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
  /** The parts of the server's URL every request's target shares, and its path (a proxy's prefix). */
  private readonly base: Pick<Target, 'protocol' | 'hostname' | 'port' | 'host' | 'origin'>;
  private readonly prefix: string;
  private readonly secure: boolean;
  /** client-node's authentication, with every request's and watch's connection from `pool`. */
  private readonly pooled: KubeConfig;
  private readonly pool = new ConnectionPool();
  /**
   * How long a watch may stay silent before it is cut and resumed. kube-apiserver sends a bookmark
   * on an idle watch about once a minute, so a longer silence means a dead stream or connection; a
   * shorter limit would cut every idle watch twice a minute.
   */
  private watchInactivityMs = 90_000;
  private observer: RequestObserver | undefined;
  private readonly fieldManager: string;
  /** What the API server's audit log and metrics name this client by. */
  private userAgent: string;
  private limiter: TokenBucket | undefined;
  private auth: { headers: Record<string, string>; via: Via; until: number } | undefined;

  constructor(config: KubeConfig, fieldManager = 'regcred-operator') {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    this.config = config;
    this.server = cluster.server.replace(/\/$/, '');
    const { protocol, hostname, port, host, origin, pathname } = new URL(this.server);
    this.base = { protocol, hostname, port, host, origin };
    this.prefix = pathname === '/' ? '' : pathname;
    this.secure = this.server.startsWith('https:');
    const pool = this.pool;
    const secure = this.secure;
    // applySecurityAuthentication ends by asking this.createDispatcher for a new agent; this copy of
    // the config answers with the shared pool (client-node's own undici agent only behind a proxy).
    const original = config as unknown as { createDispatcher(cluster: unknown, agentOptions: unknown): unknown };
    this.pooled = Object.create(config, {
      createDispatcher: {
        value(this: KubeConfig, c: Parameters<KubeConfig['createDispatcherOptions']>[0], agentOptions: Parameters<KubeConfig['createDispatcherOptions']>[1]) {
          return pool.agent(this.createDispatcherOptions(c, agentOptions), secure) ?? original.createDispatcher.call(this, c, agentOptions);
        },
      },
    }) as KubeConfig;
    this.fieldManager = fieldManager;
    this.userAgent = fieldManager;
  }

  /** From a kubeconfig file, else $KUBECONFIG / ~/.kube/config / in-cluster, as kubectl does. */
  static load(kubeconfigPath?: string): KubeClient {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    return new KubeClient(kc);
  }

  /**
   * How long a watch may stay silent before it is cut and resumed: the only way a half-open
   * connection is noticed.
   */
  setWatchInactivityTimeout(ms: number): void {
    this.watchInactivityMs = ms;
  }

  /** Over TLS, HTTP/2 streams instead of HTTP/1.1 connections (README, Connections); off until set. */
  setHttp2(enabled: boolean): void {
    this.pool.setHttp2(enabled);
  }

  /** The User-Agent of every request and watch (the field manager's name until set). */
  setUserAgent(userAgent: string): void {
    this.userAgent = userAgent;
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
    const url = this.url(path, opts.query);
    const observed = (status?: number) =>
      this.observer?.({ method, resource: opts.resource ?? '', host: url.host, seconds: (performance.now() - started) / 1000, ...(status !== undefined ? { status } : {}) });
    const auth = await this.authentication(url, method);
    const headers: Record<string, string> = { ...auth.headers, 'User-Agent': this.userAgent, Accept: opts.text ? 'text/plain' : opts.accept ?? 'application/json' };
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['Content-Type'] = opts.contentType ?? 'application/json';
    }
    // Each phase is bounded: connecting and waiting for the headers, then every gap in the body.
    const timeout = opts.timeoutMs ?? 30_000;
    let response: Opened | undefined;
    let text: string;
    try {
      response = await open(url, { method, headers, ...(body !== undefined ? { body } : {}), idleTimeoutMs: timeout, via: auth.via });
      text = await readText(response.body);
    } catch (err) {
      // No complete response (refused, reset, timed out): the next request starts on new connections.
      this.pool.reset();
      observed(response?.status);
      throw asIdleTimeout(err, timeout);
    }
    const status = response.status;
    const retryAfter = response.headers['retry-after'];
    observed(status);
    if (status < 200 || status > 299) throw toKubeError(status, text, retryAfter ?? null);
    if (opts.text) return text as T;
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** The server's URL for `path`, with the query's parameters that have a value. */
  private url(path: string, query: Record<string, string | number | boolean | undefined> = {}): Target {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') params.set(k, String(v));
    const search = params.size > 0 ? `?${params}` : '';
    // `path` is already escaped.
    const pathname = this.prefix + path;
    return { ...this.base, pathname, search, href: this.base.origin + pathname + search };
  }

  /**
   * A request's authentication headers and connection pool. client-node works them out afresh for
   * every request (reading or decoding the CA, client certificate and key, and parsing the URL once
   * more): a few per cent of a fan-out's CPU. They are kept for a second, and only while the pool
   * they name is the current one, so a reset or renewal is seen at once and a new token within a
   * second.
   */
  private async authentication(url: Target, method: keyof typeof HttpMethod): Promise<{ headers: Record<string, string>; via: Via }> {
    const kept = this.auth;
    const now = performance.now();
    if (kept && kept.until > now && this.pool.isCurrent(kept.via)) return kept;
    const ctx = new RequestContext(url.href, HttpMethod[method]);
    await this.pooled.applySecurityAuthentication(ctx);
    const fresh = { headers: ctx.getHeaders() as unknown as Record<string, string>, via: ctx.getDispatcher() as unknown as Via, until: now + AUTH_REUSE_MS };
    // Behind a proxy client-node makes a new dispatcher per request: nothing to keep.
    this.auth = this.pool.isCurrent(fresh.via) ? fresh : undefined;
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
   * for the inactivity timeout (which is how a half-open connection is noticed). Resolves once the
   * stream is accepted or has failed; `onDone` is called exactly once, also after `stop()`.
   */
  async watch(
    res: Resource,
    namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const { metadataOnly, ...query } = opts;
    const url = this.url(this.path(res, namespace), { watch: 'true', ...query });
    const idle = this.watchInactivityMs;
    let stopped = false;
    let ended = false;
    const stream: { body?: Opened['body'] } = {};
    const end = (err: unknown) => {
      if (ended) return;
      ended = true;
      stream.body?.destroy();
      // Refused or reset (a refusal with a status says nothing about the connection): requests and
      // watches after this one start on new connections. Silent: only if the connection is too.
      if (err && !stopped && !(err instanceof KubeError)) {
        if (isTimeoutError(err)) this.pool.verify();
        else this.pool.reset();
      }
      onDone(stopped ? null : err);
    };
    const count = (status?: number) => this.observer?.({ method: 'GET', resource: res.plural, host: url.host, watch: true, ...(status !== undefined ? { status } : {}) });
    const handle: WatchHandle = {
      stop: () => {
        stopped = true;
        end(null);
      },
    };
    let opened: Opened;
    try {
      const auth = await this.authentication(url, 'GET');
      const headers = { ...auth.headers, 'User-Agent': this.userAgent, ...(metadataOnly ? { Accept: PARTIAL_METADATA } : {}) };
      opened = await open(url, { method: 'GET', headers, idleTimeoutMs: idle, via: auth.via });
    } catch (err) {
      count();
      end(asIdleTimeout(err, idle));
      return handle;
    }
    count(opened.status);
    // Stopped while connecting.
    if (ended) {
      opened.body.destroy();
      return handle;
    }
    if (opened.status !== 200) {
      let text = '';
      try {
        text = await readText(opened.body);
      } catch {
        // the status says enough
      }
      end(toKubeError(opened.status, text, null));
      return handle;
    }
    const body = (stream.body = opened.body);
    const lines = new WatchLines();
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      if (ended) return;
      for (const line of lines.push(chunk)) {
        let event: { type?: unknown; object?: unknown };
        try {
          event = JSON.parse(line) as typeof event;
        } catch {
          end(new Error(`a watch event of ${res.plural} that is not JSON (${line.length} bytes)`));
          return;
        }
        try {
          onEvent(String(event.type), event.object);
        } catch (err) {
          end(err);
        }
        if (ended) return;
      }
    });
    body.on('error', (err) => end(asIdleTimeout(err, idle)));
    const cutOff = () => new Error(`the watch of ${res.plural} was cut off`);
    body.once('end', () => end(endedCleanly(body) ? null : cutOff()));
    // A connection cut before the stream's end closes it without 'end' (node may not say why).
    body.once('close', () => end(body.readableEnded ? null : cutOff()));
    return handle;
  }
}

function withTypeMeta(res: Resource, body: unknown): unknown {
  if (typeof body !== 'object' || body === null) return body;
  return { apiVersion: res.group ? `${res.group}/${res.version}` : res.version, kind: res.kind, ...body };
}

type Via = Agent | Dispatcher | undefined;

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
