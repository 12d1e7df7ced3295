// The bench's own view of the cluster, independent of the operator's logs and status: a list+watch
// of the Secrets named <secretName> and of the ServiceAccounts named `default`, in every namespace.
// Every time it reports is the arrival of the watch event that made a condition true.
import { KubeClient, RESOURCES, type Resource, type WatchHandle } from '../../src/kube/client.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { REGISTRY } from './cluster.ts';
import { sleep } from './stats.ts';

export interface NamespaceView {
  secretPresent: boolean;
  /** The password rendered into its .dockerconfigjson, if it parses. */
  secretPassword: string | undefined;
  /** First sighting of the Secret (watch ADDED, or the initial list). */
  secretAddedAt: number | undefined;
  saPresent: boolean;
  saAddedAt: number | undefined;
  hasEntry: boolean;
  /** First event that showed our entry in the ServiceAccount. */
  entryAt: number | undefined;
}

type Test = (v: NamespaceView) => boolean;

interface Waiter {
  test: Test;
  pending: Set<string>;
  /** When each namespace first passed, for the distributions. */
  passedAt: Map<string, number>;
  resolve: (at: number) => void;
}

export interface WaitResult {
  at: number;
  passedAt: Map<string, number>;
}

export class Observer {
  private readonly client: KubeClient;
  private readonly secretName: string;
  private readonly views = new Map<string, NamespaceView>();
  private readonly waiters = new Set<Waiter>();
  private readonly handles = new Set<WatchHandle>();
  private expected: string | undefined;
  private stopped = false;
  private loops: Promise<void>[] = [];

  private constructor(kubeconfig: string, secretName: string) {
    // A client of its own: its watches must not share connections with the writes being timed.
    this.client = KubeClient.load(kubeconfig);
    this.client.setUserAgent('regcred-bench-observer');
    // Never cut: every cut would be one more WATCH in the API server's counts.
    this.client.setWatchInactivityTimeout(3_600_000);
    this.secretName = secretName;
  }

  /** Resolves once both initial lists are in. */
  static async start(kubeconfig: string, secretName: string): Promise<Observer> {
    const o = new Observer(kubeconfig, secretName);
    const listed = [0, 1].map(() => Promise.withResolvers<void>());
    o.loops = [
      o.run(RESOURCES.secrets, `metadata.name=${secretName}`, (t, obj, at) => o.onSecret(t, obj as Secret, at), (seen) => o.relisted('secret', seen), listed[0]!),
      o.run(RESOURCES.serviceAccounts, 'metadata.name=default', (t, obj, at) => o.onServiceAccount(t, obj as ServiceAccount, at), (seen) => o.relisted('sa', seen), listed[1]!),
    ];
    await Promise.all(listed.map((l) => l.promise));
    return o;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const h of this.handles) h.stop();
    await Promise.all(this.loops);
  }

  /** The password every managed Secret should now carry; a change restarts "current" for all. */
  expectPassword(password: string): void {
    this.expected = password;
    for (const ns of this.views.keys()) this.changed(ns, performance.now());
  }

  view(ns: string): NamespaceView | undefined {
    return this.views.get(ns);
  }

  namespacesWithSecret(): string[] {
    return [...this.views].filter(([, v]) => v.secretPresent).map(([ns]) => ns);
  }

  namespacesWithEntry(): string[] {
    return [...this.views].filter(([, v]) => v.hasEntry).map(([ns]) => ns);
  }

  /** Every namespace holds the Secret with the expected password and the entry in `default`. */
  waitConverged(namespaces: string[], timeoutMs: number): Promise<WaitResult> {
    return this.wait('converged', namespaces, (v) => v.secretPresent && v.secretPassword === this.expected && v.hasEntry, timeoutMs);
  }

  /** Every namespace holds the Secret with the expected password (rotation). */
  waitRotated(namespaces: string[], timeoutMs: number): Promise<WaitResult> {
    return this.wait('rotated', namespaces, (v) => v.secretPresent && v.secretPassword === this.expected, timeoutMs);
  }

  waitCleared(namespaces: string[], timeoutMs: number): Promise<WaitResult> {
    return this.wait('cleared', namespaces, (v) => !v.secretPresent && !v.hasEntry, timeoutMs);
  }

  waitServiceAccounts(namespaces: string[], timeoutMs: number): Promise<WaitResult> {
    return this.wait('default ServiceAccounts', namespaces, (v) => v.saPresent, timeoutMs);
  }

  private wait(what: string, namespaces: string[], test: Test, timeoutMs: number): Promise<WaitResult> {
    const { promise, resolve, reject } = Promise.withResolvers<WaitResult>();
    const waiter: Waiter = {
      test,
      pending: new Set(),
      passedAt: new Map(),
      resolve: (at) => {
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve({ at, passedAt: waiter.passedAt });
      },
    };
    const now = performance.now();
    for (const ns of namespaces) {
      if (test(this.viewOf(ns))) waiter.passedAt.set(ns, now);
      else waiter.pending.add(ns);
    }
    const timer = setTimeout(() => {
      this.waiters.delete(waiter);
      const sample = [...waiter.pending].slice(0, 3).map((ns) => `${ns}: ${JSON.stringify(this.viewOf(ns))}`);
      reject(new Error(`${what}: ${namespaces.length - waiter.pending.size}/${namespaces.length} after ${Math.round(timeoutMs / 1000)} s; e.g. ${sample.join('; ')}`));
    }, timeoutMs);
    if (!waiter.pending.size) waiter.resolve(now);
    else this.waiters.add(waiter);
    return promise;
  }

  private viewOf(ns: string): NamespaceView {
    let v = this.views.get(ns);
    if (!v) {
      v = { secretPresent: false, secretPassword: undefined, secretAddedAt: undefined, saPresent: false, saAddedAt: undefined, hasEntry: false, entryAt: undefined };
      this.views.set(ns, v);
    }
    return v;
  }

  private changed(ns: string, at: number): void {
    const v = this.viewOf(ns);
    for (const w of [...this.waiters]) {
      const passes = w.test(v);
      // A namespace can fall back (a Secret replaced, an entry removed): it is pending again.
      if (passes && w.pending.delete(ns)) {
        if (!w.passedAt.has(ns)) w.passedAt.set(ns, at);
        if (!w.pending.size) w.resolve(at);
      } else if (!passes && w.passedAt.has(ns)) {
        w.pending.add(ns);
        w.passedAt.delete(ns);
      }
    }
  }

  private onSecret(type: string, s: Secret, at: number): void {
    const ns = s.metadata.namespace ?? '';
    const v = this.viewOf(ns);
    if (type === 'DELETED') {
      v.secretPresent = false;
      v.secretPassword = undefined;
    } else {
      if (!v.secretPresent && v.secretAddedAt === undefined) v.secretAddedAt = at;
      v.secretPresent = true;
      v.secretPassword = renderedPassword(s);
    }
    this.changed(ns, at);
  }

  private onServiceAccount(type: string, sa: ServiceAccount, at: number): void {
    const ns = sa.metadata.namespace ?? '';
    const v = this.viewOf(ns);
    if (type === 'DELETED') {
      v.saPresent = false;
      v.hasEntry = false;
    } else {
      if (!v.saPresent && v.saAddedAt === undefined) v.saAddedAt = at;
      v.saPresent = true;
      v.hasEntry = (sa.imagePullSecrets ?? []).some((e) => e.name === this.secretName);
      if (v.hasEntry && v.entryAt === undefined) v.entryAt = at;
    }
    this.changed(ns, at);
  }

  /** After a relist, whatever the list did not return is gone. */
  private relisted(kind: 'secret' | 'sa', seen: Set<string>): void {
    const at = performance.now();
    for (const [ns, v] of this.views) {
      if (seen.has(ns)) continue;
      if (kind === 'secret' && v.secretPresent) {
        v.secretPresent = false;
        v.secretPassword = undefined;
        this.changed(ns, at);
      } else if (kind === 'sa' && v.saPresent) {
        v.saPresent = false;
        v.hasEntry = false;
        this.changed(ns, at);
      }
    }
  }

  private async run(
    res: Resource,
    fieldSelector: string,
    apply: (type: string, obj: unknown, at: number) => void,
    relisted: (seen: Set<string>) => void,
    listed: PromiseWithResolvers<void>,
  ): Promise<void> {
    let rv: string | undefined;
    while (!this.stopped) {
      try {
        if (rv === undefined) {
          const seen = new Set<string>();
          let cont: string | undefined;
          do {
            const page = await this.client.list<{ metadata: { namespace?: string } }>(res, undefined, { fieldSelector, limit: 5000, continue: cont });
            const at = performance.now();
            for (const item of page.items) {
              seen.add(item.metadata.namespace ?? '');
              apply('ADDED', item, at);
            }
            cont = page.metadata.continue || undefined;
            rv = page.metadata.resourceVersion;
          } while (cont);
          relisted(seen);
          listed.resolve();
        }
        rv = await this.watchOnce(res, fieldSelector, rv!, apply);
      } catch {
        rv = undefined;
        await sleep(200);
      }
    }
  }

  /** One watch stream; returns the resourceVersion to resume from, or undefined to relist. */
  private watchOnce(res: Resource, fieldSelector: string, from: string, apply: (type: string, obj: unknown, at: number) => void): Promise<string | undefined> {
    return new Promise((resolve) => {
      let rv: string | undefined = from;
      let handle: WatchHandle | undefined;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        if (handle) this.handles.delete(handle);
        handle?.stop();
        resolve(rv);
      };
      this.client
        .watch(res, undefined, { fieldSelector, resourceVersion: from, allowWatchBookmarks: true }, (type, obj) => {
          const at = performance.now();
          const o = obj as { metadata?: { resourceVersion?: string }; code?: number };
          if (type === 'ERROR') {
            if (o.code === 410) rv = undefined;
            finish();
            return;
          }
          if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
          if (type !== 'BOOKMARK') apply(type, obj, at);
        }, (err) => {
          if ((err as { status?: number; statusCode?: number } | null)?.status === 410) rv = undefined;
          finish();
        })
        .then((h) => {
          handle = h;
          if (finished || this.stopped) h.stop();
          else this.handles.add(h);
        }, () => finish());
    });
  }
}

/** The password for our registry in a rendered .dockerconfigjson, from `password` or from `auth`. */
function renderedPassword(s: Secret): string | undefined {
  const raw = s.data?.['.dockerconfigjson'];
  if (!raw) return undefined;
  try {
    const config = JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as { auths?: Record<string, { password?: string; auth?: string }> };
    const entry = Object.entries(config.auths ?? {}).find(([server]) => server.includes(REGISTRY))?.[1];
    if (!entry) return undefined;
    if (entry.password !== undefined) return entry.password;
    const basic = entry.auth ? Buffer.from(entry.auth, 'base64').toString('utf8') : '';
    return basic.includes(':') ? basic.slice(basic.indexOf(':') + 1) : undefined;
  } catch {
    return undefined;
  }
}
