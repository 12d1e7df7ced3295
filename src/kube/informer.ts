// A list-then-watch cache of one resource. It never gives up: every error (including the ones
// client-node's own informer stops on) leads to a retry with backoff, a 410 Gone (as an ERROR event
// or as the HTTP status of the watch request) leads to a relist, a watch that keeps failing is
// replaced by a relist too (its resourceVersion may be what the server chokes on), and a stream that
// goes silent is cut by KubeClient's inactivity timeout and resumed from the last resourceVersion.
// Handlers run synchronously and must only enqueue work.
import type { Logger } from 'pino';
import type { KubeClient, ListOptions, Resource, WatchHandle } from './client.ts';
import { KubeError } from './client.ts';
import { describe } from './errors.ts';
import { keyOf, objectKey, type KubeObject } from './objects.ts';
import { ObjectStore } from './store.ts';
import { isTimeoutError } from './timeout-error.ts';

/** Watch failures in a row (errors, not 410s) after which the next attempt lists again. */
const RELIST_AFTER_FAILURES = 3;
const DEFAULT_SYNC_TIMEOUT_MS = 120_000;

interface SyncWaiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

export type Handler<T> = (obj: T, old: T | undefined, deleted: boolean) => void;

/** A write of ours to one object that has not been answered yet, and the watch events held for it. */
interface Pending<T> {
  writes: number;
  /** resourceVersions the answers of these writes carried. */
  ours: Set<string>;
  held: Array<{ obj: T; old: T | undefined }>;
}

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Server-side watch timeout; each watch ends and resumes within this many seconds. */
  watchTimeoutSeconds?: number;
  pageSize?: number;
  maxBackoffMs?: number;
  /** List and watch PartialObjectMetadata: the server sends metadata only. */
  metadataOnly?: boolean;
  /**
   * Shapes each object on ingest (list, watch, observe) into what the cache keeps, dropping what
   * is never read; undefined means the object is not kept at all, as if it did not exist.
   */
  transform?: (obj: T) => T | undefined;
}

export class Informer<T extends KubeObject> {
  readonly name: string;
  private store = new ObjectStore<T>();
  /** resourceVersions of our own writes whose watch events have not arrived yet, by object key. */
  private readonly ownVersions = new Map<string, Set<string>>();
  /** Objects with a write of ours on its way, by object key (see writing()). */
  private readonly pending = new Map<string, Pending<T>>();
  private readonly handlers: Handler<T>[] = [];
  /** Callers of getSoon() waiting for an object to arrive, by key. */
  private readonly arrivals = new Map<string, Set<(obj: T) => void>>();
  private resourceVersion: string | undefined;
  private watch: WatchHandle | undefined;
  private stopped = true;
  private syncedOnce = false;
  private readonly syncWaiters = new Set<SyncWaiter>();
  /**
   * Last time the cache was known to be current: a list, a watch the server accepted, or a watch
   * event other than ERROR. An ERROR event proves only that the server answers, not that we keep up.
   */
  lastSuccess = Date.now();
  /** When start() was last called; a cache that never syncs is judged by it. */
  startedAt: number | undefined;
  /** Relists and watch restarts, for metrics. */
  restarts = 0;
  /** Watch events that could not be applied and handler exceptions, for metrics. */
  handlerErrors = 0;
  private consecutiveFailures = 0;
  private wake: (() => void) | undefined;
  /** Settles the watch in progress; stop() uses it so the run loop never waits on a dead stream. */
  private endWatch: (() => void) | undefined;
  private readonly client: KubeClient;
  private readonly resource: Resource;
  private readonly log: Logger;
  private readonly options: InformerOptions<T>;

  constructor(client: KubeClient, resource: Resource, log: Logger, options: InformerOptions<T> = {}) {
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
    return this.store.get(namespace, name);
  }

  /** Objects of one namespace. */
  inNamespace(namespace: string): T[] {
    return this.store.inNamespace(namespace);
  }

  get size(): number {
    return this.store.size;
  }

  /**
   * The object once the cache holds it: at once, or when it arrives, or undefined after
   * `timeoutMs`. For a caller that knows the object was just created (an admission request for a
   * pod in a namespace made a moment before), never for reconciling.
   */
  getSoon(namespace: string | undefined, name: string, timeoutMs: number): Promise<T | undefined> {
    const present = this.get(namespace, name);
    if (present || timeoutMs <= 0) return Promise.resolve(present);
    const key = keyOf(namespace, name);
    return new Promise((resolve) => {
      const done = (obj: T | undefined) => {
        clearTimeout(timer);
        const waiting = this.arrivals.get(key);
        waiting?.delete(done);
        if (waiting?.size === 0) this.arrivals.delete(key);
        resolve(obj);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      let waiting = this.arrivals.get(key);
      if (!waiting) this.arrivals.set(key, (waiting = new Set()));
      waiting.add(done);
    });
  }

  private put(obj: T): void {
    this.store.set(obj);
    this.arrived(obj);
  }

  /** Hands the object to getSoon() callers waiting for it. */
  private arrived(obj: T): void {
    if (this.arrivals.size === 0) return;
    const waiting = this.arrivals.get(objectKey(obj));
    if (waiting) for (const done of [...waiting]) done(obj);
  }

  private remove(namespace: string | undefined, name: string): void {
    this.store.delete(namespace, name);
  }

  /**
   * Records an object we just wrote, so the next reconcile sees it before the watch delivers it.
   * Only a newer resourceVersion replaces what the cache holds.
   */
  observe(written: T): void {
    const rv = written.metadata.resourceVersion;
    const key = objectKey(written);
    if (rv) this.pending.get(key)?.ours.add(rv);
    const obj = this.shape(written);
    const current = this.store.get(written.metadata.namespace, written.metadata.name);
    if (!obj) {
      if (current) this.remove(current.metadata.namespace, current.metadata.name);
      return;
    }
    // The watch may have delivered this version (or a later one) before the write's response came
    // back: then it is no longer pending, and recording it would keep it forever.
    if (current && !newer(obj.metadata.resourceVersion, current.metadata.resourceVersion)) return;
    this.put(obj);
    if (rv) {
      let versions = this.ownVersions.get(key);
      if (!versions) this.ownVersions.set(key, (versions = new Set()));
      versions.add(rv);
    }
  }

  /**
   * Marks a write of ours to an object as on its way, until the returned function is called: after
   * observe() has recorded the answer, or when the write failed. The watch can deliver the write
   * before its answer arrives, and then nothing yet tells it from someone else's change; so events
   * for the object wait meanwhile, and those that carry a version the answer named are dropped as
   * our own. Any other change is handed on when the write settles, none is lost.
   */
  writing(namespace: string | undefined, name: string): () => void {
    const key = keyOf(namespace, name);
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { writes: 0, ours: new Set(), held: [] }));
    const pending = p;
    pending.writes++;
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      if (--pending.writes > 0) return;
      this.pending.delete(key);
      for (const { obj, old } of pending.held) if (!pending.ours.has(obj.metadata.resourceVersion ?? '')) this.emit(obj, old, false);
    };
  }

  private shape(obj: T): T | undefined {
    return this.options.transform ? this.options.transform(obj) : obj;
  }

  /** Versions written by us that the watch has not delivered yet. */
  get pendingOwnWrites(): number {
    let n = 0;
    for (const v of this.ownVersions.values()) n += v.size;
    return n;
  }

  /** Objects with a write of ours not yet settled (see writing()). */
  get unsettledWrites(): number {
    return this.pending.size;
  }

  /** True (once) when the watch delivers a version that observe() recorded as our own write. */
  private ownWrite(obj: T, rv: string | undefined): boolean {
    if (!rv || this.ownVersions.size === 0) return false;
    const key = objectKey(obj);
    const versions = this.ownVersions.get(key);
    if (!versions?.delete(rv)) return false;
    if (versions.size === 0) this.ownVersions.delete(key);
    return true;
  }

  /** Records a delete we just made. */
  forget(namespace: string | undefined, name: string): void {
    this.remove(namespace, name);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.startedAt = Date.now();
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.watch?.stop();
    this.endWatch?.();
    this.wake?.();
    for (const w of this.syncWaiters) {
      clearTimeout(w.timer);
      w.reject(this.stoppedError());
    }
    this.syncWaiters.clear();
  }

  /** Resolves on the first complete list; rejects after `timeoutMs` or when the informer stops first. */
  waitForSync(timeoutMs = DEFAULT_SYNC_TIMEOUT_MS): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    // Stopped after a start: nothing will ever fill the cache. Not yet started: start() may follow.
    if (this.stopped && this.startedAt !== undefined) return Promise.reject(this.stoppedError());
    return new Promise<void>((resolve, reject) => {
      const waiter: SyncWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.syncWaiters.delete(waiter);
          reject(new Error(`informer ${this.name} did not sync within ${timeoutMs}ms`));
        }, timeoutMs),
      };
      this.syncWaiters.add(waiter);
    });
  }

  private stoppedError(): Error {
    return new Error(`informer ${this.name} stopped before its cache synced`);
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
        this.consecutiveFailures++;
        const relist = this.consecutiveFailures >= RELIST_AFTER_FAILURES && this.resourceVersion !== undefined;
        if (relist) {
          this.resourceVersion = undefined;
          this.consecutiveFailures = 0;
        }
        const delay = Math.min(maxBackoff, backoff) * (0.8 + Math.random() * 0.4);
        this.log.warn({ informer: this.name, error: describe(err), retryInMs: Math.round(delay), relist }, 'watch failed; retrying');
        backoff = Math.min(maxBackoff, backoff * 2);
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    const fresh = new ObjectStore<T>();
    let cont: string | undefined;
    let rv: string | undefined;
    do {
      const opts: ListOptions = {
        limit: this.options.pageSize ?? 500,
        ...(cont ? { continue: cont } : {}),
        ...(this.options.labelSelector ? { labelSelector: this.options.labelSelector } : {}),
        ...(this.options.fieldSelector ? { fieldSelector: this.options.fieldSelector } : {}),
      };
      const page = await this.client.list<T>(this.resource, this.options.namespace, opts, this.options.metadataOnly);
      // An empty PartialObjectMetadataList comes with `items: null`.
      for (const item of page.items ?? []) {
        const kept = this.shape(item);
        if (kept) fresh.set(kept);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    if (this.stopped) return;

    const previous = this.store;
    this.store = fresh;
    // A relist compares resourceVersions itself; versions whose events it skipped are never delivered.
    this.ownVersions.clear();
    for (const v of fresh.values()) this.arrived(v);
    this.resourceVersion = rv;
    this.lastSuccess = Date.now();
    this.consecutiveFailures = 0;
    for (const obj of fresh.values()) {
      const old = previous.get(obj.metadata.namespace, obj.metadata.name);
      if (!old || old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit(obj, old, false);
    }
    for (const old of previous.values()) if (!fresh.get(old.metadata.namespace, old.metadata.name)) this.emit(old, old, true);
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const w of this.syncWaiters) {
        clearTimeout(w.timer);
        w.resolve();
      }
      this.syncWaiters.clear();
    }
  }

  /** One watch stream; true when it ended normally (server timeout or inactivity cut). */
  private watchOnce(): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      if (this.stopped) return resolve(true);
      let settled = false;
      const finish = (err: unknown, healthy = true) => {
        if (settled) return;
        settled = true;
        this.watch?.stop();
        this.watch = undefined;
        this.endWatch = undefined;
        if (err) reject(err);
        else {
          if (healthy) this.consecutiveFailures = 0;
          resolve(healthy);
        }
      };
      this.endWatch = () => finish(undefined);
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
            ...(this.options.metadataOnly ? { metadataOnly: true } : {}),
          },
          (type, obj) => {
            // Events already read when this stream was given up on; the next watch starts from
            // the resourceVersion they did not advance.
            if (settled) return;
            // KubeClient ends the whole watch on whatever this callback throws: one event that
            // cannot be applied is skipped and counted instead.
            try {
              if (type === 'ERROR') {
                const status = (obj ?? {}) as { code?: number; message?: string };
                if (status.code === 410) {
                  // The resourceVersion is too old: relist.
                  this.resourceVersion = undefined;
                  finish(undefined);
                } else finish(new KubeError(status.code ?? 500, 'WatchError', status.message ?? 'watch error'));
                return;
              }
              this.lastSuccess = Date.now();
              this.consecutiveFailures = 0;
              this.apply(type, obj as T);
            } catch (err) {
              this.handlerErrors++;
              this.log.error({ informer: this.name, eventType: type, error: describe(err) }, 'could not apply a watch event; skipped it');
            }
          },
          (err) => {
            if (isGone(err)) {
              // The watch request itself was refused with 410: its resourceVersion is too old.
              this.log.debug({ informer: this.name }, 'watch resourceVersion expired; relisting');
              this.resourceVersion = undefined;
              finish(undefined);
            } else if (isTimeoutError(err)) {
              // A silent stream: resume from the last resourceVersion on a new connection.
              this.log.debug({ informer: this.name }, 'watch stream went silent; reconnecting');
              this.restarts++;
              finish(undefined, false);
            } else finish(err);
          },
        )
        .then((handle) => {
          if (settled || this.stopped) handle.stop();
          else {
            this.watch = handle;
            // Only an accepted stream counts as success; a failed connect has already settled.
            this.lastSuccess = Date.now();
          }
        }, finish);
    });
  }

  private apply(type: string, raw: T): void {
    const rv = raw.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    if (type === 'BOOKMARK') return;
    if (!raw.metadata?.name) throw new Error(`${type} event for an object without metadata.name`);
    const old = this.store.get(raw.metadata.namespace, raw.metadata.name);
    // An object the transform does not keep is, for this cache, one that was deleted.
    const obj = type === 'DELETED' ? raw : this.shape(raw);
    if (!obj) {
      if (!old) return;
      this.remove(raw.metadata.namespace, raw.metadata.name);
      this.emit(old, old, true);
      return;
    }
    if (type === 'DELETED') {
      // Not in the cache: forget() already recorded our own delete, so this is no news.
      if (!old) return;
      this.remove(obj.metadata.namespace, obj.metadata.name);
      this.emit(obj, old, true);
    } else if (type === 'ADDED' || type === 'MODIFIED') {
      // observe() may already hold a newer version written by us; never step back from it.
      if (!old || !newer(old.metadata.resourceVersion, rv)) this.put(obj);
      // A version we wrote ourselves, or the one the cache holds already, is no news: waking
      // handlers for our own writes would make every reconcile schedule another. Any other
      // version is someone else's change, even when ours has overtaken it in the cache.
      if (this.ownWrite(obj, rv) || (old && rv && old.metadata.resourceVersion === rv)) return;
      const pending = this.pending.size > 0 ? this.pending.get(objectKey(obj)) : undefined;
      if (pending) pending.held.push({ obj, old });
      else this.emit(obj, old, false);
    }
  }

  private emit(obj: T, old: T | undefined, deleted: boolean): void {
    for (const h of this.handlers) {
      try {
        h(obj, old, deleted);
      } catch (err) {
        this.handlerErrors++;
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

function isGone(err: unknown): boolean {
  return err instanceof KubeError && err.status === 410;
}
