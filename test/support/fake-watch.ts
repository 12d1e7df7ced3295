// A stand-in for the part of KubeClient an Informer uses (list and watch), driven step by step by a
// test. Each call is recorded; a test awaits the call it expects instead of waiting for time to pass.
import { KubeError, type KubeClient, type ListOptions, type ObjectList, type Resource, type WatchHandle } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/objects.ts';

type WatchOptions = ListOptions & { timeoutSeconds?: number; allowWatchBookmarks?: boolean };

/** How a watch request goes: accepted, refused with an HTTP status, or failing to connect. */
export type Connect = { kind: 'ok' } | { kind: 'http'; status: number; statusText: string } | { kind: 'reject'; error: Error };

export class FakeWatch {
  stopped = false;
  ended = false;
  readonly opts: WatchOptions;
  private readonly onEvent: (type: string, object: unknown) => void;
  private readonly onDone: (err: unknown) => void;

  constructor(opts: WatchOptions, onEvent: (type: string, object: unknown) => void, onDone: (err: unknown) => void) {
    this.opts = opts;
    this.onEvent = onEvent;
    this.onDone = onDone;
  }

  event(type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK', object: unknown): void {
    this.onEvent(type, object);
  }

  /** A Status in an ERROR event, as the API server sends inside an accepted stream. */
  error(code: number, message = `error ${code}`): void {
    this.onEvent('ERROR', { kind: 'Status', status: 'Failure', code, message });
  }

  /** The stream ends: normally (no error) or with an error, once, as client-node's done callback. */
  end(err: unknown = null): void {
    if (this.ended) return;
    this.ended = true;
    this.onDone(err);
  }
}

export class FakeKube {
  readonly lists: ListOptions[] = [];
  readonly watches: FakeWatch[] = [];
  /** Objects the next successful list returns, and the list's resourceVersion. */
  items: KubeObject[] = [];
  resourceVersion = '10';
  /** resourceVersions the next lists return, one per call, before `resourceVersion` again. */
  versions: string[] = [];
  /** Errors the next lists throw, one per call, before lists succeed again. */
  listErrors: Error[] = [];
  /** How the next watch requests go, one per call; afterwards they are accepted. */
  connects: Connect[] = [];
  private readonly listeners = new Set<() => void>();

  get client(): KubeClient {
    return this as unknown as KubeClient;
  }

  async list<T>(_res: Resource, _namespace?: string, opts: ListOptions = {}): Promise<ObjectList<T>> {
    this.lists.push(opts);
    this.notify();
    const error = this.listErrors.shift();
    if (error) throw error;
    return { metadata: { resourceVersion: this.versions.shift() ?? this.resourceVersion }, items: [...this.items] as T[] };
  }

  async watch(
    _res: Resource,
    _namespace: string | undefined,
    opts: WatchOptions,
    onEvent: (type: string, object: unknown) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const w = new FakeWatch(opts, onEvent, onDone);
    this.watches.push(w);
    this.notify();
    const connect = this.connects.shift() ?? { kind: 'ok' };
    if (connect.kind === 'reject') throw connect.error;
    if (connect.kind === 'http') {
      // What KubeClient.watch does on a non-200 response: onDone(KubeError) first, then resolve with
      // the handle.
      w.end(new KubeError(connect.status, '', connect.statusText));
    }
    return {
      stop: () => {
        w.stopped = true;
      },
    };
  }

  /** Resolves once `n` watch requests have been made, with the n-th. */
  watchNumber(n: number): Promise<FakeWatch> {
    return this.until(() => this.watches.length >= n).then(() => this.watches[n - 1]!);
  }

  /** Resolves once `n` list requests have been made. */
  listNumber(n: number): Promise<void> {
    return this.until(() => this.lists.length >= n);
  }

  private until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = () => {
        if (!ready()) return;
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }
}

/** Whether a promise has settled, read without awaiting it (after the microtasks queued so far). */
export function track<T>(p: Promise<T>): { readonly state: 'pending' | 'resolved' | 'rejected'; readonly error: unknown; readonly value: T | undefined } {
  const t = { state: 'pending' as 'pending' | 'resolved' | 'rejected', error: undefined as unknown, value: undefined as T | undefined };
  p.then(
    (v) => {
      t.state = 'resolved';
      t.value = v;
    },
    (e: unknown) => {
      t.state = 'rejected';
      t.error = e;
    },
  );
  return t;
}
