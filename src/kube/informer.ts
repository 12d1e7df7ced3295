// A list-then-watch cache of one resource. It never gives up: every error (including the ones
// client-node's own informer stops on) leads to a retry with backoff, a 410 Gone leads to a relist,
// and a stream that goes silent is cut by client-node's inactivity timeout and resumed from the
// last resourceVersion. Handlers run synchronously and must only enqueue work.
import type { Logger } from 'pino';
import type { KubeClient, ListOptions, Resource, WatchHandle } from './client.ts';
import { KubeError } from './client.ts';
import { objectKey, type KubeObject } from './objects.ts';

export type Handler<T> = (obj: T, old: T | undefined, deleted: boolean) => void;

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout; each watch ends and resumes within this many seconds. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  maxBackoffMs?: number;
}

export class Informer<T extends KubeObject> {
  readonly name: string;
  private readonly store = new Map<string, T>();
  private readonly byNamespace = new Map<string, Map<string, T>>();
  private readonly handlers: Handler<T>[] = [];
  private resourceVersion: string | undefined;
  private watch: WatchHandle | undefined;
  private stopped = true;
  private syncedOnce = false;
  private readonly syncWaiters: Array<() => void> = [];
  /** Last time the stream showed life (an event, a bookmark, a reconnect or a list). */
  lastActivity = Date.now();
  /** Relists and watch restarts, for metrics. */
  restarts = 0;
  private wake: (() => void) | undefined;
  private readonly client: KubeClient;
  private readonly resource: Resource;
  private readonly log: Logger;
  private readonly options: InformerOptions;

  constructor(client: KubeClient, resource: Resource, log: Logger, options: InformerOptions = {}) {
    this.client = client;
    this.resource = resource;
    this.log = log;
    this.options = options;
    this.name = [resource.plural, options.namespace, options.labelSelector, options.fieldSelector].filter(Boolean).join(' ');
  }

  on(handler: Handler<T>): this {
    this.handlers.push(handler);
    return this;
  }

  get hasSynced(): boolean {
    return this.syncedOnce;
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get(namespace: string | undefined, name: string): T | undefined {
    return this.store.get(namespace ? `${namespace}/${name}` : name);
  }

  /** Objects of one namespace, from an index kept beside the store. */
  inNamespace(namespace: string): T[] {
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }

  get size(): number {
    return this.store.size;
  }

  private put(obj: T): void {
    this.store.set(objectKey(obj), obj);
    const ns = obj.metadata.namespace;
    if (!ns) return;
    let index = this.byNamespace.get(ns);
    if (!index) this.byNamespace.set(ns, (index = new Map()));
    index.set(obj.metadata.name, obj);
  }

  private remove(namespace: string | undefined, name: string): void {
    this.store.delete(namespace ? `${namespace}/${name}` : name);
    if (!namespace) return;
    const index = this.byNamespace.get(namespace);
    index?.delete(name);
    if (index?.size === 0) this.byNamespace.delete(namespace);
  }

  /**
   * Records an object we just wrote, so the next reconcile sees it before the watch delivers it.
   * Only a newer resourceVersion replaces what the cache holds.
   */
  observe(obj: T): void {
    const key = objectKey(obj);
    const current = this.store.get(key);
    if (!current || newer(obj.metadata.resourceVersion, current.metadata.resourceVersion)) this.put(obj);
  }

  /** Records a delete we just made. */
  forget(namespace: string | undefined, name: string): void {
    this.remove(namespace, name);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    this.wake?.();
  }

  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    const maxBackoff = this.options.maxBackoffMs ?? 30_000;
    let backoff = 500;
    while (!this.stopped) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        const healthy = await this.watchOnce();
        if (healthy) backoff = 500;
      } catch (err) {
        if (this.stopped) break;
        this.restarts++;
        const delay = Math.min(maxBackoff, backoff) * (0.8 + Math.random() * 0.4);
        this.log.warn({ informer: this.name, error: describe(err), retryInMs: Math.round(delay) }, 'watch failed; retrying');
        backoff = Math.min(maxBackoff, backoff * 2);
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const fresh = new Map<string, T>();
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const opts: ListOptions = {
        limit: this.options.pageSize ?? 500,
        ...(cont ? { continue: cont } : {}),
        ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
        ...(this.options.fieldSelector ? { fieldSelector: this.options.fieldSelector } : {}),
      };
      const page = await this.client.list<T>(this.resource, this.options.namespace, opts);
      for (const item of page.items) fresh.set(objectKey(item), item);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);

    const previous = new Map(this.store);
    this.store.clear();
    this.byNamespace.clear();
    for (const v of fresh.values()) this.put(v);
    this.resourceVersion = rv;
    this.lastActivity = Date.now();
    for (const [k, obj] of fresh) {
      const old = previous.get(k);
      if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit(obj, old, false);
    }
    for (const [k, old] of previous) if (!fresh.has(k)) this.emit(old, old, true);
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters.splice(0)) w();
    }
  }

  /** One watch stream; true when it ended normally (server timeout or inactivity cut). */
  private watchOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let settled = false;
      const finish = (err: unknown, healthy = true) => {
        if (settled) return;
        settled = true;
        this.watch?.stop();
        this.watch = undefined;
        if (err) reject(err);
        else resolve(healthy);
      };
      const timeout = this.options.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
      this.client
        .watch(
          this.resource,
          this.options.namespace,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: timeout,
            ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
            ...(this.options.fieldSelector ? { fieldSelector: this.options.fieldSelector } : {}),
          },
          (type, obj) => {
            this.lastActivity = Date.now();
            if (type === 'ERROR') {
              const status = obj as { code?: number; message?: string };
              if (status.code === 410) {
                // The resourceVersion is too old: relist.
                this.resourceVersion = undefined;
                finish(undefined);
              } else finish(new KubeError(status.code ?? 500, 'WatchError', status.message ?? 'watch error'));
              return;
            }
            this.apply(type, obj as T);
          },
          (err) => {
            if (isInactivityTimeout(err)) {
              // A silent stream: resume from the last resourceVersion on a new connection.
              this.log.debug({ informer: this.name }, 'watch stream went silent; reconnecting');
              this.restarts++;
              finish(undefined, false);
            } else finish(err);
          },
        )
        .then((handle) => {
          this.watch = handle;
          if (settled || this.stopped) handle.stop();
          // Only an accepted stream counts as life; a failed connect has already settled.
          else this.lastActivity = Date.now();
        }, finish);
    });
  }

  private apply(type: string, obj: T): void {
    const rv = obj.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    const old = this.store.get(objectKey(obj));
    if (type === 'DELETED') {
      this.remove(obj.metadata.namespace, obj.metadata.name);
      this.emit(obj, old, true);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      // observe() may already hold a newer version written by us; never step back from it.
      if (!old || !newer(old.metadata.resourceVersion, rv)) this.put(obj);
      this.emit(obj, old, false);
    }
  }

  private emit(obj: T, old: T | undefined, deleted: boolean): void {
    for (const h of this.handlers) {
      try {
        h(obj, old, deleted);
      } catch (err) {
        this.log.error({ informer: this.name, error: describe(err) }, 'event handler failed');
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

function newer(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return !!a;
  try {
    return BigInt(a) > BigInt(b);
  } catch {
    return a !== b;
  }
}

function isInactivityTimeout(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}

/** An error as a log field: name, message and HTTP status only. */
export function describe(err: unknown): { name?: string; message: string; status?: number } {
  if (err instanceof KubeError) return { name: err.name, message: err.message, status: err.status };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { message: String(err) };
}
