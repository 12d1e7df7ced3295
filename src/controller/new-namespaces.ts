// Namespaces that appeared while the operator runs, for a short while after they did. kube-apiserver
// admits a create into a namespace only once its own namespace cache holds it; a create that comes
// sooner is held there for 50 ms (NamespaceLifecycle admission) before it is checked again. The
// operator's watch can beat that cache, and a Secret create held 50 ms also holds up the
// ServiceAccount entry that must follow it. The first object someone else creates in the namespace
// (the controller manager's `default` ServiceAccount, within milliseconds) shows the API server
// admits writes there; work in a new namespace waits for that sign, never longer than the API
// server itself would hold the write.

/** kube-apiserver's missingNamespaceWait. */
export const ADMISSION_WAIT_MS = 50;

export class NewNamespaces {
  /** When each namespace appeared (performance.now()), oldest first. */
  private readonly since = new Map<string, number>();
  private readonly waitMs: number;
  private readonly now: () => number;

  constructor(waitMs = ADMISSION_WAIT_MS, now: () => number = () => performance.now()) {
    this.waitMs = waitMs;
    this.now = now;
  }

  /** A namespace the watch has just added. */
  appeared(namespace: string): void {
    this.prune();
    this.since.delete(namespace);
    this.since.set(namespace, this.now());
  }

  /**
   * Splits namespaces into those work can go ahead in and those still too new, with how long until
   * the first of those is not (Infinity when none is held). `admitted` says whether the namespace
   * shows the sign already.
   */
  hold(namespaces: Iterable<string>, admitted: (namespace: string) => boolean): { held: string[]; readyInMs: number } {
    this.prune();
    const held: string[] = [];
    let readyInMs = Infinity;
    const now = this.now();
    for (const ns of namespaces) {
      const at = this.since.get(ns);
      if (at === undefined) continue;
      if (admitted(ns)) {
        this.since.delete(ns);
        continue;
      }
      held.push(ns);
      readyInMs = Math.min(readyInMs, at + this.waitMs - now);
    }
    return { held, readyInMs: Math.max(0, Math.ceil(readyInMs)) };
  }

  get size(): number {
    return this.since.size;
  }

  private prune(): void {
    const cutoff = this.now() - this.waitMs;
    for (const [ns, at] of this.since) {
      if (at > cutoff) break;
      this.since.delete(ns);
    }
  }
}
