// Carries out a plan against the API server: bounded concurrency, optimistic concurrency on every
// shared object, and no write that the plan did not ask for. Every write is recorded in the caches
// at once, which is also what keeps its own watch event from waking the key again.
import type { Logger } from 'pino';
import { SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import { isAlreadyExists, isConflict, isNotFound, KubeError, RESOURCES, type KubeClient } from '../kube/client.ts';
import type { Secret, ServiceAccount } from '../kube/objects.ts';
import { conflictMessage, heldBy, mergedOwnerReferences, needsReplacement, ours, ourEntries, ownedBy, ownerUid, secretDiffers, type Action, type Plan } from './desired.ts';

/** The credential a plan is carried out for. */
export interface Owner {
  name: string;
  uid: string;
}

export interface ApplyCaches {
  serviceAccount(namespace: string, name: string): ServiceAccount | undefined;
  /** Holds the watch's events for an object while a write of ours to it is unanswered. */
  writing(kind: 'Secret' | 'ServiceAccount', namespace: string, name: string): () => void;
  recordSecret(secret: Secret): void;
  forgetSecret(namespace: string, name: string): void;
  recordServiceAccount(sa: ServiceAccount): void;
}

export interface NamespaceFailure {
  namespace: string;
  reason: 'SecretConflict' | 'WriteFailed';
  message: string;
  retryAfterSeconds?: number | undefined;
}

export interface ApplyResult {
  writes: number;
  failures: NamespaceFailure[];
  /** ServiceAccounts (namespace/name) that hold the entry after an addEntry action. */
  entriesAdded: Set<string>;
  /** Set when the API server asked us to slow down; the writes not yet made were left for the retry. */
  retryAfterSeconds?: number;
}

const MAX_ATTEMPTS = 5;

type WriteVerb = 'create' | 'update' | 'patch' | 'delete';

export class Applier {
  private readonly client: KubeClient;
  private readonly caches: ApplyCaches;
  private readonly maxConcurrentWrites: number;
  private readonly log: Logger | undefined;

  constructor(client: KubeClient, caches: ApplyCaches, maxConcurrentWrites: number, log?: Logger) {
    this.client = client;
    this.caches = caches;
    this.maxConcurrentWrites = maxConcurrentWrites;
    this.log = log;
  }

  /**
   * Makes one write request, records its answer in the caches (`record`), and logs it at debug:
   * verb, kind, namespace and name, and the HTTP status when it failed. Never the body, which for a
   * Secret is the credential itself. Until the answer is recorded, the watch's events for the object
   * wait, so the write's own event cannot pass for someone else's change by arriving first.
   */
  private async write<T>(verb: WriteVerb, kind: 'Secret' | 'ServiceAccount', namespace: string, name: string, request: () => Promise<T>, record: (answer: T) => void): Promise<T> {
    const settled = this.caches.writing(kind, namespace, name);
    // The line's fields are only built when debug is on: a fan-out makes thousands of writes.
    try {
      const response = await request();
      record(response);
      if (this.log?.isLevelEnabled('debug')) this.log.debug(writeFields(verb, kind, namespace, name), 'write');
      return response;
    } catch (err) {
      if (this.log?.isLevelEnabled('debug')) this.log.debug({ ...writeFields(verb, kind, namespace, name), status: err instanceof KubeError ? err.status : undefined }, 'write failed');
      throw err;
    } finally {
      settled();
    }
  }

  async apply(plan: Plan, credential: Owner): Promise<ApplyResult> {
    const result: ApplyResult = { writes: 0, failures: [], entriesAdded: new Set() };
    const failedNamespaces = new Set<string>();
    let throttled = false;
    const attempt = async (action: Action) => {
      // After a failed removal the Secret stays, so no entry points at a deleted Secret; after a
      // failed Secret write its entries wait, so none points at a Secret that is not there.
      if (failedNamespaces.has(action.namespace) && action.kind !== 'removeEntry') return;
      if (throttled) {
        failedNamespaces.add(action.namespace);
        result.failures.push({ namespace: action.namespace, reason: 'WriteFailed', message: `${describeAction(action)}: deferred while the API server throttles requests` });
        return;
      }
      try {
        // Not `writes += await …`: that reads the counter before the await and loses concurrent increments.
        const made = await this.execute(action, credential);
        result.writes += made.writes;
        if (action.kind === 'addEntry' && made.present) result.entriesAdded.add(`${action.namespace}/${action.serviceAccount}`);
      } catch (err) {
        failedNamespaces.add(action.namespace);
        if (err instanceof KubeError && err.status === 429) {
          // Retry-After is a floor for the whole key: the rest of this reconcile waits for the retry.
          throttled = true;
          result.retryAfterSeconds = Math.max(result.retryAfterSeconds ?? 0, err.retryAfterSeconds ?? 1);
        }
        result.failures.push(toFailure(action, err));
      }
    };
    const run = async (actions: Action[]) => {
      // A namespace's entries are queued, ahead of other namespaces' Secrets, as soon as its own
      // Secret is written: namespaces become usable one after another, not all at the end.
      const entries: Task[] = [];
      const secrets: Task[] = [];
      for (const [namespace, group] of byNamespace(actions)) {
        const writes = group.filter(isSecretWrite);
        const rest = group.filter((a) => !isSecretWrite(a));
        const queueRest = () => {
          for (const a of rest) entries.push(() => attempt(a));
        };
        if (writes.length === 0) queueRest();
        else {
          secrets.push(async () => {
            for (const a of writes) await attempt(a);
            if (!failedNamespaces.has(namespace)) queueRest();
          });
        }
      }
      await runBounded(this.maxConcurrentWrites, entries, secrets);
    };
    await run(plan.removals);
    await run(plan.writes);
    await run(plan.deletions);
    return result;
  }

  private async execute(action: Action, credential: Owner): Promise<{ writes: number; present?: boolean }> {
    switch (action.kind) {
      case 'createSecret':
        return { writes: await this.createSecret(action.secret, credential) };
      case 'updateSecret':
        return { writes: await this.updateSecret(action.secret, action.observed, credential) };
      case 'deleteSecret':
        return { writes: await this.deleteSecret(action.observed) };
      case 'releaseSecret':
        return { writes: await this.releaseSecret(action.observed, action.ownerUid) };
      case 'addEntry': {
        const edit = await this.editEntries(action.namespace, action.serviceAccount, (sa) => withEntry(sa, action.secretName));
        return { writes: edit.wrote ? 1 : 0, present: edit.found };
      }
      case 'removeEntry': {
        const edit = await this.editEntries(action.namespace, action.serviceAccount, (sa) => withoutEntry(sa, action.secretName));
        return { writes: edit.wrote ? 1 : 0 };
      }
    }
  }

  private async createSecret(secret: Secret, credential: Owner): Promise<number> {
    const ns = secret.metadata.namespace!;
    try {
      await this.write('create', 'Secret', ns, secret.metadata.name, () => this.client.create<Secret>(RESOURCES.secrets, ns, secret), (created) => this.caches.recordSecret(created));
      return 1;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // The cache had not seen it yet. Ours: bring it up to date. Anyone else's: never touch it.
      const existing = await this.client.get<Secret>(RESOURCES.secrets, ns, secret.metadata.name);
      if (!ownedBy(existing, credential)) throw new ConflictError(conflictError(ns, secret.metadata.name, existing, credential));
      this.caches.recordSecret(existing);
      return secretDiffers(existing, secret) ? this.updateSecret(secret, existing, credential) : 0;
    }
  }

  /**
   * Brings a Secret of ours up to date in one write. When the plan hands it over from a former
   * holder (whose labels `observed` carries), labels, ownerReference and data change together, so
   * the namespace is never without it.
   */
  private async updateSecret(desired: Secret, observed: Secret, credential: Owner): Promise<number> {
    const ns = desired.metadata.namespace!;
    const name = desired.metadata.name;
    // Ours, or the former holder's the plan takes over (judged valid when the plan was made).
    const former = { name: heldBy(observed) ?? '', uid: ownerUid(observed) ?? '' };
    let current: Secret | undefined = observed;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!current) return this.createSecret(desired, credential);
      if (!ownedBy(current, credential) && !ownedBy(current, former)) throw new ConflictError(conflictError(ns, name, current, credential));
      if (needsReplacement(current, desired)) {
        await this.deleteSecret(current);
        return 1 + (await this.createSecret(desired, credential));
      }
      // Built field by field: a cached Secret carries a data hash, never meant for the server.
      const body: Secret = {
        metadata: {
          ...current.metadata,
          labels: { ...current.metadata.labels, ...desired.metadata.labels },
          annotations: { ...current.metadata.annotations, ...desired.metadata.annotations },
          ownerReferences: mergedOwnerReferences(current, desired),
        },
        type: desired.type!,
        data: desired.data!,
      };
      try {
        await this.write('update', 'Secret', ns, name, () => this.client.replace<Secret>(RESOURCES.secrets, ns, name, body), (updated) => this.caches.recordSecret(updated));
        return 1;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        current = await this.getSecret(ns, name);
      }
    }
    throw new KubeError(409, 'Conflict', `Secret ${ns}/${name} kept changing during ${MAX_ATTEMPTS} attempts to update it`);
  }

  private async deleteSecret(observed: Secret): Promise<number> {
    const ns = observed.metadata.namespace!;
    try {
      await this.write(
        'delete',
        'Secret',
        ns,
        observed.metadata.name,
        () => this.client.delete(RESOURCES.secrets, ns, observed.metadata.name, observed.metadata.uid ? { uid: observed.metadata.uid } : undefined),
        // Recorded below, whether it was deleted now or before.
        () => {},
      );
    } catch (err) {
      // Gone already, or replaced by a newer object with the same name: not ours to delete.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.caches.forgetSecret(ns, observed.metadata.name);
    return 1;
  }

  /** Drops our ownerReference so garbage collection cannot take a Secret that is to be kept. */
  private async releaseSecret(observed: Secret, ownerUid: string): Promise<number> {
    const ns = observed.metadata.namespace!;
    const name = observed.metadata.name;
    let current: Secret | undefined = observed;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!current) return 0;
      const refs = current.metadata.ownerReferences ?? [];
      const kept = refs.filter((r) => r.uid !== ownerUid);
      if (kept.length === refs.length) return 0;
      try {
        const patch = { metadata: { resourceVersion: current.metadata.resourceVersion, ownerReferences: kept.length ? kept : null } };
        await this.write('patch', 'Secret', ns, name, () => this.client.patch<Secret>(RESOURCES.secrets, ns, name, patch), (updated) => this.caches.recordSecret(updated));
        return 1;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        current = await this.getSecret(ns, name);
      }
    }
    throw new KubeError(409, 'Conflict', `Secret ${ns}/${name} kept changing during ${MAX_ATTEMPTS} attempts to release it`);
  }

  private getSecret(ns: string, name: string): Promise<Secret | undefined> {
    return this.client.get<Secret>(RESOURCES.secrets, ns, name).catch((e: unknown) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
  }

  /**
   * Read-modify-write of a ServiceAccount's imagePullSecrets (an atomic list) with the
   * resourceVersion as precondition, retried from a fresh read on 409 so no entry is ever lost.
   * `found` is false when the ServiceAccount does not exist.
   */
  async editEntries(namespace: string, name: string, edit: (sa: ServiceAccount) => EntryEdit | undefined): Promise<{ wrote: boolean; found: boolean }> {
    let sa = this.caches.serviceAccount(namespace, name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!sa) {
        try {
          sa = await this.client.get<ServiceAccount>(RESOURCES.serviceAccounts, namespace, name);
        } catch (err) {
          if (isNotFound(err)) return { wrote: false, found: false };
          throw err;
        }
      }
      const change = edit(sa);
      if (!change) return { wrote: false, found: true };
      const patch = {
        metadata: {
          resourceVersion: sa.metadata.resourceVersion,
          annotations: { [SA_ENTRIES_ANNOTATION]: change.annotation },
        },
        imagePullSecrets: change.imagePullSecrets.length ? change.imagePullSecrets : null,
      };
      try {
        await this.write(
          'patch',
          'ServiceAccount',
          namespace,
          name,
          () => this.client.patch<ServiceAccount>(RESOURCES.serviceAccounts, namespace, name, patch, 'merge'),
          (updated) => this.caches.recordServiceAccount(updated),
        );
        return { wrote: true, found: true };
      } catch (err) {
        if (isNotFound(err)) return { wrote: false, found: false };
        if (!isConflict(err)) throw err;
        sa = undefined;
      }
    }
    throw new KubeError(409, 'Conflict', `ServiceAccount ${namespace}/${name} kept changing during ${MAX_ATTEMPTS} attempts to patch it`);
  }
}

export interface EntryEdit {
  imagePullSecrets: Array<{ name?: string }>;
  annotation: string | null;
}

function annotationValue(names: string[]): string | null {
  const sorted = [...new Set(names)].sort();
  return sorted.length ? sorted.join(',') : null;
}

/** Adds our entry at the end, keeping every other entry as it was; undefined when nothing to do. */
export function withEntry(sa: ServiceAccount, secretName: string): EntryEdit | undefined {
  const list = sa.imagePullSecrets ?? [];
  if (list.some((e) => e.name === secretName)) return undefined;
  return { imagePullSecrets: [...list, { name: secretName }], annotation: annotationValue([...ourEntries(sa), secretName]) };
}

/** Removes our entry (only if the annotation says we added it); undefined when nothing to do. */
export function withoutEntry(sa: ServiceAccount, secretName: string): EntryEdit | undefined {
  const ours = ourEntries(sa);
  if (!ours.includes(secretName)) return undefined;
  return {
    imagePullSecrets: (sa.imagePullSecrets ?? []).filter((e) => e.name !== secretName),
    annotation: annotationValue(ours.filter((n) => n !== secretName)),
  };
}

export class ConflictError extends Error {}

/** Why a Secret found in place is not ours to write. */
function conflictError(namespace: string, name: string, found: Secret, credential: Owner): string {
  const holder = heldBy(found);
  if (holder && holder !== credential.name) return conflictMessage(namespace, name, holder);
  return conflictMessage(namespace, name, undefined, ours(found));
}

function writeFields(verb: WriteVerb, kind: 'Secret' | 'ServiceAccount', namespace: string, name: string): Record<string, string> {
  return { verb, kind, namespace, [kind === 'Secret' ? 'secret' : 'serviceAccount']: name };
}

type Task = () => Promise<void>;

/**
 * Runs tasks with at most `limit` in flight, `first` before `second`, each in order. A task may add
 * to `first` while it runs; as each task ends the free slots are filled again, so what it queued runs
 * at once, side by side. A plain pair of lists rather than p-queue with priorities: there, every
 * entry queued ahead of the waiting Secrets compacted and spliced an array of up to one task per
 * namespace, quadratic in the namespaces of a fan-out.
 */
function runBounded(limit: number, first: Task[], second: Task[]): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  let i = 0;
  let j = 0;
  let active = 0;
  const next = () => (active >= limit ? undefined : i < first.length ? first[i++] : j < second.length ? second[j++] : undefined);
  const ended = () => {
    active--;
    fill();
  };
  const fill = () => {
    for (let task = next(); task; task = next()) {
      active++;
      // A task settles its own failures (attempt records them); either way its slot is freed.
      task().then(ended, ended);
    }
    if (active === 0) resolve();
  };
  fill();
  return promise;
}

function isSecretWrite(a: Action): boolean {
  return a.kind === 'createSecret' || a.kind === 'updateSecret';
}

function byNamespace(actions: Action[]): Map<string, Action[]> {
  const groups = new Map<string, Action[]>();
  for (const a of actions) {
    let g = groups.get(a.namespace);
    if (!g) groups.set(a.namespace, (g = []));
    g.push(a);
  }
  return groups;
}

function describeAction(action: Action): string {
  const what = action.kind === 'addEntry' || action.kind === 'removeEntry' ? `ServiceAccount ${action.serviceAccount}` : 'Secret';
  return `${action.kind} ${what}`;
}

function toFailure(action: Action, err: unknown): NamespaceFailure {
  if (err instanceof ConflictError) return { namespace: action.namespace, reason: 'SecretConflict', message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return {
    namespace: action.namespace,
    reason: 'WriteFailed',
    message: `${describeAction(action)}: ${message}`.slice(0, 1000),
    retryAfterSeconds: err instanceof KubeError ? err.retryAfterSeconds : undefined,
  };
}
