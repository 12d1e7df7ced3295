// What is left to do per RegistryCredential: a full pass over every namespace, or only the
// namespaces an event touched. The work queue's key is the credential, so one credential is never
// reconciled by two workers at once, while its pending namespaces pile up between runs and are
// done together in the next one.

export interface Work {
  full: boolean;
  namespaces: Set<string>;
}

export class PendingWork {
  private readonly pending = new Map<string, Work>();

  /** Records work; `namespace` undefined means a full pass. */
  mark(credential: string, namespace?: string): void {
    let w = this.pending.get(credential);
    if (!w) this.pending.set(credential, (w = { full: false, namespaces: new Set() }));
    if (namespace === undefined) {
      w.full = true;
      w.namespaces.clear();
    } else if (!w.full) {
      w.namespaces.add(namespace);
    }
  }

  /** Hands over everything pending for the credential and clears it. */
  take(credential: string): Work {
    const w = this.pending.get(credential) ?? { full: false, namespaces: new Set<string>() };
    this.pending.delete(credential);
    return w;
  }

  /** Puts work back that a failed run did not finish, merged with whatever arrived meanwhile. */
  restore(credential: string, work: Work): void {
    if (work.full) return this.mark(credential);
    for (const ns of work.namespaces) this.mark(credential, ns);
  }

  forget(credential: string): void {
    this.pending.delete(credential);
  }
}
