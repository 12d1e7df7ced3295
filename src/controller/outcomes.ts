// Per-namespace outcomes of one RegistryCredential, kept between reconciles so a reconcile of a
// few namespaces updates the status counts without a pass over every namespace. The counts are
// maintained as entries change, so reading them costs nothing per namespace.
import type { Failure } from '../api/schema.ts';

export interface NamespaceOutcome {
  synced: boolean;
  failure?: Failure;
  /** Selected ServiceAccounts holding our entry. */
  patched: number;
  /** Rivals that want this namespace too while this credential holds it. */
  contestedBy?: string[];
}

export interface OutcomeSummary {
  matched: number;
  synced: number;
  patched: number;
  failures: Failure[];
  contestedBy: string[];
}

class Book {
  readonly entries = new Map<string, NamespaceOutcome>();
  synced = 0;
  patched = 0;
  readonly failures = new Map<string, Failure>();
  readonly contested = new Map<string, number>();

  set(namespace: string, outcome: NamespaceOutcome | undefined): void {
    const old = this.entries.get(namespace);
    if (old) this.count(namespace, old, -1);
    if (outcome) {
      this.entries.set(namespace, outcome);
      this.count(namespace, outcome, 1);
    } else {
      this.entries.delete(namespace);
    }
  }

  private count(namespace: string, o: NamespaceOutcome, sign: 1 | -1): void {
    if (o.synced) this.synced += sign;
    this.patched += sign * o.patched;
    if (o.failure) {
      if (sign > 0) this.failures.set(namespace, o.failure);
      else this.failures.delete(namespace);
    }
    for (const r of o.contestedBy ?? []) {
      const n = (this.contested.get(r) ?? 0) + sign;
      if (n > 0) this.contested.set(r, n);
      else this.contested.delete(r);
    }
  }
}

export class OutcomeBook {
  private readonly books = new Map<string, Book>();

  /** True once a full pass has recorded every namespace of the credential. */
  has(credential: string): boolean {
    return this.books.has(credential);
  }

  /** The result of a full pass: every matched namespace. */
  replace(credential: string, outcomes: Map<string, NamespaceOutcome>): void {
    const book = new Book();
    for (const [ns, o] of outcomes) book.set(ns, o);
    this.books.set(credential, book);
  }

  /** The result for one namespace; undefined when the credential does not match it (any more). */
  update(credential: string, namespace: string, outcome: NamespaceOutcome | undefined): void {
    this.books.get(credential)?.set(namespace, outcome);
  }

  forget(credential: string): void {
    this.books.delete(credential);
  }

  summary(credential: string): OutcomeSummary {
    const book = this.books.get(credential) ?? new Book();
    return {
      matched: book.entries.size,
      synced: book.synced,
      patched: book.patched,
      failures: [...book.failures.values()],
      contestedBy: [...book.contested.keys()].sort(),
    };
  }
}
