// One copy of each string that thousands of cached objects repeat. Every watch event and write
// response is parsed into new strings, so 10,000 managed Secrets hold 10,000 copies of the same
// hash annotation, credential name, owner UID and type unless the caches share one.
import { CREDENTIAL_LABEL, HASH_ANNOTATION, MANAGED_BY_LABEL, OWNER_UID_ANNOTATION, SA_ENTRIES_ANNOTATION } from '../api/labels.ts';

/**
 * The labels and annotations whose values repeat across namespaces: ours, which name the same few
 * credentials, hashes and UIDs everywhere.
 */
export const SHARED_VALUE_KEYS: ReadonlySet<string> = new Set([MANAGED_BY_LABEL, CREDENTIAL_LABEL, HASH_ANNOTATION, OWNER_UID_ANNOTATION, SA_ENTRIES_ANNOTATION]);

/** How many distinct values are kept before a table starts again: a bound, not a cache size to tune. */
const MAX_ENTRIES = 4096;

/** A bounded table of shared copies by key; values that stop repeating are dropped when it fills up. */
class SharedTable<V> {
  private readonly table = new Map<string, V>();
  private readonly max: number;

  constructor(max = MAX_ENTRIES) {
    this.max = max;
  }

  /** The copy kept under `key`, or `value` (after `keep` has readied it) from now on. */
  protected shared(key: string, value: V, keep?: (value: V) => void): V {
    const kept = this.table.get(key);
    if (kept !== undefined) return kept;
    if (this.table.size >= this.max) this.table.clear();
    keep?.(value);
    this.table.set(key, value);
    return value;
  }

  get size(): number {
    return this.table.size;
  }
}

export class Interner extends SharedTable<string> {
  /** The shared copy of `s`. */
  of(s: string): string {
    return this.shared(s, s);
  }
}

/**
 * One frozen copy of each small record or list that many cached objects hold alike: the labels,
 * annotations and ownerReferences of every Secret a credential renders are the same in every
 * namespace, and so is the entry list of every ServiceAccount it patches. Cached objects are never
 * changed in place; frozen, a shared copy could not be either.
 */
export class RecordInterner extends SharedTable<object> {
  /**
   * The copies handed out last, compared field by field before any key is built: a fan-out's
   * objects come in runs of the same few records, and looking each one up by its JSON made leaning
   * one of our Secrets about three times as costly (3 µs against 1 µs).
   */
  private readonly recent: object[] = [];
  private next = 0;

  /** The shared copy of a record of strings, or of a list of small records. */
  of<T extends object>(value: T): T {
    return this.like(value, keep);
  }

  /**
   * The shared copy of a record equal to `raw`; `build` makes the copy to keep from `raw` (with
   * the same fields and values) only when none is kept yet.
   */
  like<T extends object>(raw: T, build: (raw: T) => T): T {
    for (const kept of this.recent) if (sameFields(kept, raw)) return kept as T;
    const value = build(raw);
    const kept = this.shared(JSON.stringify(value), value, freeze);
    this.recent[this.next] = kept;
    this.next = (this.next + 1) % RECENT;
    return kept as T;
  }
}

const keep = <T>(value: T): T => value;

/** How many of the last records handed out are compared before a lookup by key. */
const RECENT = 8;

/** Equal records of strings, numbers and booleans, or equal lists of such records. */
function sameFields(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameFields(a[i], b[i])) return false;
    return true;
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let fields = 0;
  for (const key in x) {
    if (!Object.hasOwn(y, key) || !sameFields(x[key], y[key])) return false;
    fields++;
  }
  for (const _ in y) fields--;
  return fields === 0;
}

function freeze(value: object): void {
  if (Array.isArray(value)) for (const item of value) Object.freeze(item);
  Object.freeze(value);
}
