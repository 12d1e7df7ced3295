// Watches, from the outside, whether pulls could fail: list+watch of the Secrets of one name and of
// the ServiceAccounts, and a record of every moment (after arm()) at which a namespace lacks the
// Secret or a selected ServiceAccount lacks the entry. Every watch event is checked, so a Secret
// deleted and created again, or an entry removed and added again, shows up however short the gap.
import { RESOURCES, type KubeClient, type Resource, type WatchHandle } from '../../src/kube/client.ts';

interface Obj {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  imagePullSecrets?: Array<{ name?: string }>;
}

export interface Gap {
  at: string;
  namespace: string;
  what: string;
}

export interface GapWatchOptions {
  secretName: string;
  namespaces: string[];
  serviceAccounts: string[];
}

class Feed {
  readonly store = new Map<string, Obj>();
  private handle: WatchHandle | undefined;
  private rv: string | undefined;
  private stopped = false;
  errors = 0;
  private readonly client: KubeClient;
  private readonly res: Resource;
  private readonly fieldSelector: string | undefined;
  private readonly onChange: (namespace: string) => void;

  constructor(client: KubeClient, res: Resource, fieldSelector: string | undefined, onChange: (namespace: string) => void) {
    this.client = client;
    this.res = res;
    this.fieldSelector = fieldSelector;
    this.onChange = onChange;
  }

  async start(): Promise<void> {
    await this.relist();
    void this.loop();
  }

  private async relist(): Promise<void> {
    this.store.clear();
    let cont: string | undefined;
    do {
      const page = await this.client.list<Obj>(this.res, undefined, { limit: 500, ...(cont ? { continue: cont } : {}), ...(this.fieldSelector ? { fieldSelector: this.fieldSelector } : {}) });
      for (const o of page.items) this.store.set(`${o.metadata.namespace}/${o.metadata.name}`, o);
      cont = page.metadata.continue || undefined;
      this.rv = page.metadata.resourceVersion;
    } while (cont);
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const ended = await new Promise<unknown>((resolve) => {
        this.client
          .watch(this.res, undefined, { resourceVersion: this.rv, allowWatchBookmarks: true, ...(this.fieldSelector ? { fieldSelector: this.fieldSelector } : {}) }, (type, raw) => {
            const o = raw as Obj & { code?: number };
            if (type === 'ERROR') {
              if (o.code === 410) this.rv = undefined;
              return;
            }
            if (o.metadata?.resourceVersion) this.rv = o.metadata.resourceVersion;
            if (type === 'BOOKMARK') return;
            const key = `${o.metadata.namespace}/${o.metadata.name}`;
            if (type === 'DELETED') this.store.delete(key);
            else this.store.set(key, o);
            this.onChange(o.metadata.namespace ?? '');
          }, resolve)
          .then((h) => (this.handle = h), resolve);
      });
      if (this.stopped) return;
      if (ended) this.errors++;
      if (this.rv === undefined) {
        // Too old to resume: relist, then judge every namespace on the fresh state.
        await this.relist().catch(() => undefined);
        this.onChange('*');
      }
      await new Promise((r) => setTimeout(r, ended ? 200 : 0));
    }
  }

  stop(): void {
    this.stopped = true;
    this.handle?.stop();
  }
}

export class GapWatcher {
  readonly gaps: Gap[] = [];
  private armed = false;
  private readonly open = new Set<string>();
  private readonly secrets: Feed;
  private readonly serviceAccounts: Feed;
  private readonly options: GapWatchOptions;
  private readonly namespaces: Set<string>;

  private constructor(client: KubeClient, options: GapWatchOptions) {
    this.options = options;
    this.namespaces = new Set(options.namespaces);
    const judge = (ns: string) => this.judge(ns);
    this.secrets = new Feed(client, RESOURCES.secrets, `metadata.name=${options.secretName}`, judge);
    this.serviceAccounts = new Feed(client, RESOURCES.serviceAccounts, undefined, judge);
  }

  static async start(client: KubeClient, options: GapWatchOptions): Promise<GapWatcher> {
    const w = new GapWatcher(client, options);
    await w.secrets.start();
    await w.serviceAccounts.start();
    return w;
  }

  /** What is missing right now, per namespace (empty when every namespace is complete). */
  missing(namespace?: string): Gap[] {
    const at = new Date().toISOString();
    const out: Gap[] = [];
    for (const ns of namespace && namespace !== '*' ? [namespace] : this.options.namespaces) {
      if (!this.namespaces.has(ns)) continue;
      if (!this.secrets.store.has(`${ns}/${this.options.secretName}`)) out.push({ at, namespace: ns, what: `no Secret ${this.options.secretName}` });
      for (const name of this.options.serviceAccounts) {
        const sa = this.serviceAccounts.store.get(`${ns}/${name}`);
        if (!sa) out.push({ at, namespace: ns, what: `no ServiceAccount ${name}` });
        else if (!(sa.imagePullSecrets ?? []).some((e) => e.name === this.options.secretName)) out.push({ at, namespace: ns, what: `ServiceAccount ${name} lacks ${this.options.secretName}` });
      }
    }
    return out;
  }

  /** From now on every incomplete moment is recorded; the state must be complete when armed. */
  arm(): void {
    this.armed = true;
    this.judge('*');
  }

  private judge(namespace: string): void {
    if (!this.armed) return;
    const now = this.missing(namespace);
    const seen = new Set(now.map((g) => `${g.namespace}|${g.what}`));
    for (const g of now) {
      const key = `${g.namespace}|${g.what}`;
      // One record per gap, not one per event while it lasts.
      if (!this.open.has(key)) this.gaps.push(g);
      this.open.add(key);
    }
    for (const key of [...this.open]) {
      const ns = key.slice(0, key.indexOf('|'));
      if ((namespace === '*' || ns === namespace) && !seen.has(key)) this.open.delete(key);
    }
  }

  get watchErrors(): number {
    return this.secrets.errors + this.serviceAccounts.errors;
  }

  stop(): void {
    this.secrets.stop();
    this.serviceAccounts.stop();
  }
}
