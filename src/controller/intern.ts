// One copy of each string that thousands of cached objects repeat. Every watch event and write
// response is parsed into new strings, so 10,000 managed Secrets hold 10,000 copies of the same
// hash annotation, credential name, owner UID and type unless the caches share one.
import { CREDENTIAL_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, OWNER_UID_ANNOTATION, SA_ENTRIES_ANNOTATION } from '../api/labels.ts';

/**
 * The labels and annotations whose values repeat across namespaces: ours, which name the same few
 * credentials, hashes and UIDs everywhere.
 */
export const SHARED_VALUE_KEYS: ReadonlySet<string> = new Set([MANAGED_BY_LABEL, CREDENTIAL_LABEL, HASH_ANNOTATION, OWNER_UID_ANNOTATION, SA_ENTRIES_ANNOTATION]);

/** How many distinct strings are kept before the table starts again: a bound, not a cache size to tune. */
const MAX_ENTRIES = 4096;

export class Interner {
  private readonly table = new Map<string, string>();
  private readonly max: number;

  constructor(max = MAX_ENTRIES) {
    this.max = max;
  }

  /** The shared copy of `s`. Strings that stop repeating are dropped when the table fills up. */
  of(s: string): string {
    const kept = this.table.get(s);
    if (kept !== undefined) return kept;
    if (this.table.size >= this.max) this.table.clear();
    this.table.set(s, s);
    return s;
  }

  get size(): number {
    return this.table.size;
  }
}

/**
 * One frozen copy of each small record or list that many cached objects hold alike: the labels,
 * annotations and ownerReferences of every Secret a credential renders are the same in every
 * namespace, and so is the entry list of every ServiceAccount it patches. Cached objects are never
 * changed in place; frozen, a shared copy could not be either.
 */
export class RecordInterner {
  private readonly table = new Map<string, unknown>();
  private readonly max: number;

  constructor(max = MAX_ENTRIES) {
    this.max = max;
  }

  /** The shared copy of a record of strings, or of a list of small records. */
  of<T extends object>(value: T): T {
    const key = JSON.stringify(value);
    const kept = this.table.get(key);
    if (kept !== undefined) return kept as T;
    if (this.table.size >= this.max) this.table.clear();
    if (Array.isArray(value)) for (const item of value) Object.freeze(item);
    Object.freeze(value);
    this.table.set(key, value);
    return value;
  }

  get size(): number {
    return this.table.size;
  }
}
