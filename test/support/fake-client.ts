// A small in-memory API server standing in for KubeClient in reconcile tests: objects by resource,
// resourceVersions and 409 preconditions, JSON merge patches, label and field selectors, watches
// that deliver every write, and faults injected per request. Each request is recorded so a test
// can assert exactly which calls a reconcile made.
import type { KubeClient, ListOptions, ObjectList, PatchType, Resource, WatchHandle } from '../../src/kube/client.ts';
import { KubeError } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/kube/objects.ts';

export interface Call {
  verb: 'get' | 'list' | 'create' | 'replace' | 'patch' | 'delete';
  resource: string;
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

export type Fault = (call: Call) => KubeError | undefined;

interface Watcher {
  resource: string;
  namespace: string | undefined;
  opts: ListOptions;
  onEvent: (type: string, object: unknown) => void;
}

const clone = <T>(v: T): T => structuredClone(v);

function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return clone(patch);
  const out: Record<string, unknown> = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function matchesSelectors(obj: KubeObject, opts: ListOptions): boolean {
  for (const term of (opts.labelSelector ?? '').split(',').filter(Boolean)) {
    const negated = term.includes('!=');
    const [k, v] = term.split(negated ? '!=' : '=');
    if ((obj.metadata.labels?.[k!] === v) === negated) return false;
  }
  for (const term of (opts.fieldSelector ?? '').split(',').filter(Boolean)) {
    const [k, v] = term.split('=');
    if (k === 'metadata.name' && obj.metadata.name !== v) return false;
    if (k === 'metadata.namespace' && obj.metadata.namespace !== v) return false;
  }
  return true;
}

export class FakeClient {
  readonly calls: Call[] = [];
  private readonly store = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Set<Watcher>();
  private readonly faults: Fault[] = [];
  private rv = 100;
  private uid = 0;
  /** Deliver watch events before the write's response, as a watch on another connection may. */
  eventsBeforeResponse = false;

  get client(): KubeClient {
    return this as unknown as KubeClient;
  }

  /** Puts objects in place before the caches start, as if they existed already. */
  seed(res: Resource, ...objects: KubeObject[]): void {
    for (const o of objects) this.write(res, clone(o), 'ADDED', true);
  }

  /** Every later request that `fault` answers with an error fails with it. Returns a remover. */
  inject(fault: Fault): () => void {
    this.faults.push(fault);
    return () => this.faults.splice(this.faults.indexOf(fault), 1);
  }

  /** Fails the first `times` requests that match with `status`. */
  failNext(match: Partial<Call>, status: number, times = 1, retryAfterSeconds?: number): void {
    let left = times;
    this.inject((c) => {
      if (left <= 0 || !Object.entries(match).every(([k, v]) => c[k as keyof Call] === v)) return undefined;
      left--;
      return new KubeError(status, status === 409 ? 'Conflict' : status === 429 ? 'TooManyRequests' : 'Injected', `injected ${status}`, retryAfterSeconds);
    });
  }

  object<T extends KubeObject>(res: Resource, namespace: string | undefined, name: string): T | undefined {
    const o = this.bucket(res).get(namespace ? `${namespace}/${name}` : name);
    return o ? (clone(o) as T) : undefined;
  }

  objects<T extends KubeObject>(res: Resource): T[] {
    return [...this.bucket(res).values()].map((o) => clone(o) as T);
  }

  writes(): Call[] {
    return this.calls.filter((c) => c.verb !== 'get' && c.verb !== 'list');
  }

  // ---- the KubeClient surface ----

  path(res: Resource, namespace?: string, name?: string): string {
    return [res.plural, namespace, name].filter(Boolean).join('/');
  }

  async get<T>(res: Resource, namespace: string | undefined, name: string): Promise<T> {
    this.enter({ verb: 'get', resource: res.plural, namespace, name });
    const o = this.object<KubeObject>(res, namespace, name);
    if (!o) throw notFound(res, name);
    return o as T;
  }

  async list<T>(res: Resource, namespace?: string, opts: ListOptions = {}): Promise<ObjectList<T>> {
    this.enter({ verb: 'list', resource: res.plural, namespace });
    const items = this.objects<KubeObject>(res).filter((o) => (!namespace || o.metadata.namespace === namespace) && matchesSelectors(o, opts));
    return { metadata: { resourceVersion: String(this.rv) }, items: items as T[] };
  }

  async create<T>(res: Resource, namespace: string | undefined, body: unknown): Promise<T> {
    const obj = clone(body) as KubeObject & { metadata: { generateName?: string } };
    if (!obj.metadata.name && obj.metadata.generateName) obj.metadata.name = `${obj.metadata.generateName}${++this.uid}`;
    this.enter({ verb: 'create', resource: res.plural, namespace, name: obj.metadata.name });
    if (this.object(res, namespace, obj.metadata.name)) throw new KubeError(409, 'AlreadyExists', `${res.plural} "${obj.metadata.name}" already exists`);
    obj.metadata.namespace = res.namespaced ? namespace : undefined;
    return clone(this.write(res, obj, 'ADDED')) as T;
  }

  async replace<T>(res: Resource, namespace: string | undefined, name: string, body: unknown): Promise<T> {
    this.enter({ verb: 'replace', resource: res.plural, namespace, name });
    const current = this.object<KubeObject>(res, namespace, name);
    if (!current) throw notFound(res, name);
    const obj = clone(body) as KubeObject;
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== current.metadata.resourceVersion) throw conflict(res, name);
    obj.metadata.uid = current.metadata.uid;
    obj.metadata.creationTimestamp = current.metadata.creationTimestamp;
    return clone(this.write(res, obj, 'MODIFIED')) as T;
  }

  async patch<T>(res: Resource, namespace: string | undefined, name: string, patch: unknown, _type: PatchType = 'merge', subresource?: string): Promise<T> {
    this.enter({ verb: 'patch', resource: res.plural, namespace, name, subresource });
    const current = this.object<KubeObject & { status?: unknown }>(res, namespace, name);
    if (!current) throw notFound(res, name);
    const p = patch as { metadata?: { resourceVersion?: string } };
    if (p.metadata?.resourceVersion && p.metadata.resourceVersion !== current.metadata.resourceVersion) throw conflict(res, name);
    const merged = mergePatch(current, patch) as KubeObject;
    merged.metadata.uid = current.metadata.uid;
    // Finalizers removed from an object being deleted let it go, as the API server does.
    if (merged.metadata.deletionTimestamp && !(merged.metadata.finalizers ?? []).length) {
      this.bucket(res).delete(key(merged));
      this.broadcast(res, 'DELETED', merged);
      return clone(merged) as T;
    }
    return clone(this.write(res, merged, 'MODIFIED')) as T;
  }

  async delete(res: Resource, namespace: string | undefined, name: string, preconditions?: { uid?: string }): Promise<void> {
    this.enter({ verb: 'delete', resource: res.plural, namespace, name });
    const current = this.object<KubeObject>(res, namespace, name);
    if (!current) throw notFound(res, name);
    if (preconditions?.uid && preconditions.uid !== current.metadata.uid) throw conflict(res, name);
    this.remove(res, current);
  }

  /** Deletion as a user makes it: with finalizers the object only gets a deletionTimestamp. */
  remove(res: Resource, obj: KubeObject): void {
    const current = this.object<KubeObject>(res, obj.metadata.namespace, obj.metadata.name)!;
    if ((current.metadata.finalizers ?? []).length) {
      current.metadata.deletionTimestamp = '2024-06-01T00:00:00Z';
      this.write(res, current, 'MODIFIED');
      return;
    }
    this.bucket(res).delete(key(current));
    this.broadcast(res, 'DELETED', current);
  }

  async watch(
    res: Resource,
    namespace: string | undefined,
    opts: ListOptions,
    onEvent: (type: string, object: unknown) => void,
  ): Promise<WatchHandle> {
    const w: Watcher = { resource: res.plural, namespace, opts, onEvent };
    this.watchers.add(w);
    return { stop: () => this.watchers.delete(w) };
  }

  // ---- internals ----

  private enter(call: Call): void {
    this.calls.push(call);
    for (const f of this.faults) {
      const err = f(call);
      if (err) throw err;
    }
  }

  private bucket(res: Resource): Map<string, KubeObject> {
    let b = this.store.get(res.plural);
    if (!b) this.store.set(res.plural, (b = new Map()));
    return b;
  }

  private write(res: Resource, obj: KubeObject, type: 'ADDED' | 'MODIFIED', seeding = false): KubeObject {
    const before = this.bucket(res).get(key(obj));
    obj.metadata.resourceVersion = String(++this.rv);
    obj.metadata.uid ??= `uid-${++this.uid}`;
    obj.metadata.creationTimestamp ??= '2024-01-01T00:00:00Z';
    this.bucket(res).set(key(obj), obj);
    if (!seeding) this.broadcast(res, type, obj, before);
    return obj;
  }

  /**
   * As the API server does for a selector: an object that starts matching is ADDED to that watch,
   * and one that stops matching is DELETED from it.
   */
  private broadcast(res: Resource, type: string, obj: KubeObject, before?: KubeObject): void {
    for (const w of this.watchers) {
      if (w.resource !== res.plural) continue;
      if (w.namespace && w.namespace !== obj.metadata.namespace) continue;
      const matches = matchesSelectors(obj, w.opts);
      const matched = !!before && matchesSelectors(before, w.opts);
      if (!matches && !matched) continue;
      const seen = type === 'DELETED' ? 'DELETED' : !matches ? 'DELETED' : !matched ? 'ADDED' : type;
      if (seen !== type) {
        this.deliver(w, seen, obj);
        continue;
      }
      this.deliver(w, type, obj);
    }
  }

  private deliver(w: Watcher, type: string, obj: KubeObject): void {
    // After the writer has seen its response, as a watch usually is, unless told otherwise.
    if (this.eventsBeforeResponse) w.onEvent(type, clone(obj));
    else setImmediate(() => w.onEvent(type, clone(obj)));
  }
}

function key(o: KubeObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name}` : o.metadata.name;
}

function notFound(res: Resource, name: string): KubeError {
  return new KubeError(404, 'NotFound', `${res.plural} "${name}" not found`);
}

function conflict(res: Resource, name: string): KubeError {
  return new KubeError(409, 'Conflict', `Operation cannot be fulfilled on ${res.plural} "${name}": the object has been modified`);
}
