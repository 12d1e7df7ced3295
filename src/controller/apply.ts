// Carries out a plan against the API server: bounded concurrency, optimistic concurrency on every
// shared object, and no write that the plan did not ask for. Every write is recorded in the caches
// at once so the next reconcile does not repeat it before the watch catches up.
import PQueue from 'p-queue';
import { SA_ENTRIES_ANNOTATION } from '../api/labels.ts';
import { isAlreadyExists, isConflict, isNotFound, KubeError, RESOURCES, type KubeClient } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import type { Secret, ServiceAccount } from '../kube/objects.ts';
import { managedBy, ourEntries, type Action, type Plan } from './desired.ts';

export interface ApplyCaches {
  managedSecrets: Informer<Secret>;
  serviceAccounts: Informer<ServiceAccount>;
}

export interface NamespaceFailure {
  namespace: string;
  reason: 'SecretConflict' | 'WriteFailed';
  message: string;
  /** 429 or 5xx: worth retrying soon. */
  transient: boolean;
  retryAfterSeconds?: number | undefined;
}

export interface ApplyResult {
  writes: number;
  failures: NamespaceFailure[];
  /** ServiceAccounts (namespace/name) whose entry could not be added. */
  failedServiceAccounts: Set<string>;
}

const MAX_ATTEMPTS = 5;

export class Applier {
  private readonly client: KubeClient;
  private readonly caches: ApplyCaches;
  private readonly maxConcurrentWrites: number;

  constructor(client: KubeClient, caches: ApplyCaches, maxConcurrentWrites: number) {
    this.client = client;
    this.caches = caches;
    this.maxConcurrentWrites = maxConcurrentWrites;
  }

  async apply(plan: Plan, credential: string): Promise<ApplyResult> {
    const result: ApplyResult = { writes: 0, failures: [], failedServiceAccounts: new Set() };
    const failedNamespaces = new Set<string>();
    const run = async (actions: Action[]) => {
      const queue = new PQueue({ concurrency: this.maxConcurrentWrites });
      // A Secret must exist before a ServiceAccount points at it: entries wait for their namespace's Secret.
      const secretsFirst = [...actions].sort((a, b) => rank(a) - rank(b));
      const secretDone = new Map<string, Promise<void>>();
      for (const action of secretsFirst) {
        const before = action.kind === 'addEntry' ? secretDone.get(action.namespace) : undefined;
        const task = queue.add(async () => {
          await before;
          if (action.kind === 'addEntry' && failedNamespaces.has(action.namespace)) return;
          try {
            // Not `writes += await …`: that reads the counter before the await and loses concurrent increments.
            const made = await this.execute(action, credential);
            result.writes += made;
          } catch (err) {
            failedNamespaces.add(action.namespace);
            if (action.kind === 'addEntry') result.failedServiceAccounts.add(`${action.namespace}/${action.serviceAccount}`);
            result.failures.push(toFailure(action, err));
          }
        });
        if (action.kind === 'createSecret' || action.kind === 'updateSecret') secretDone.set(action.namespace, task.then(() => undefined));
      }
      await queue.onIdle();
    };
    await run(plan.removals);
    await run(plan.writes);
    await run(plan.deletions);
    return result;
  }

  /** Runs one action; returns the number of writes it made. */
  private async execute(action: Action, credential: string): Promise<number> {
    switch (action.kind) {
      case 'createSecret':
        return this.createSecret(action.secret, credential);
      case 'updateSecret':
        return this.updateSecret(action.secret, action.observed, credential);
      case 'deleteSecret':
        return this.deleteSecret(action.observed);
      case 'addEntry':
        return this.editEntries(action.namespace, action.serviceAccount, (sa) => withEntry(sa, action.secretName));
      case 'removeEntry':
        return this.editEntries(action.namespace, action.serviceAccount, (sa) => withoutEntry(sa, action.secretName));
    }
  }

  private async createSecret(secret: Secret, credential: string): Promise<number> {
    const ns = secret.metadata.namespace!;
    try {
      const created = await this.client.create<Secret>(RESOURCES.secrets, ns, secret);
      this.caches.managedSecrets.observe(created);
      return 1;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // The cache had not seen it yet. Ours: bring it up to date. Anyone else's: never touch it.
      const existing = await this.client.get<Secret>(RESOURCES.secrets, ns, secret.metadata.name);
      if (!managedBy(existing, credential)) throw new ConflictError(`Secret ${ns}/${secret.metadata.name} already exists and is not managed by this RegistryCredential; it is left untouched`);
      return this.updateSecret(secret, existing, credential);
    }
  }

  private async updateSecret(desired: Secret, observed: Secret, credential: string): Promise<number> {
    const ns = desired.metadata.namespace!;
    const name = desired.metadata.name;
    let current: Secret | undefined = observed;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!current) return this.createSecret(desired, credential);
      if (!managedBy(current, credential)) throw new ConflictError(`Secret ${ns}/${name} is no longer managed by this RegistryCredential; it is left untouched`);
      if (current.type !== desired.type || current.immutable) {
        // type and immutability cannot be changed in place.
        await this.deleteSecret(current);
        return 1 + (await this.createSecret(desired, credential));
      }
      const body: Secret = {
        ...current,
        metadata: {
          ...current.metadata,
          labels: { ...current.metadata.labels, ...desired.metadata.labels },
          annotations: { ...current.metadata.annotations, ...desired.metadata.annotations },
          ownerReferences: [
            ...(current.metadata.ownerReferences ?? []).filter((r) => !r.controller),
            ...(desired.metadata.ownerReferences ?? []),
          ],
        },
        data: desired.data!,
      };
      try {
        const updated = await this.client.replace<Secret>(RESOURCES.secrets, ns, name, body);
        this.caches.managedSecrets.observe(updated);
        return 1;
      } catch (err) {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        current = await this.client.get<Secret>(RESOURCES.secrets, ns, name).catch((e: unknown) => {
          if (isNotFound(e)) return undefined;
          throw e;
        });
      }
    }
    throw new KubeError(409, 'Conflict', `Secret ${ns}/${name} kept changing during ${MAX_ATTEMPTS} attempts to update it`);
  }

  private async deleteSecret(observed: Secret): Promise<number> {
    const ns = observed.metadata.namespace!;
    try {
      await this.client.delete(RESOURCES.secrets, ns, observed.metadata.name, observed.metadata.uid ? { uid: observed.metadata.uid } : undefined);
    } catch (err) {
      // Gone already, or replaced by a newer object with the same name: not ours to delete.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
    this.caches.managedSecrets.forget(ns, observed.metadata.name);
    return 1;
  }

  /**
   * Read-modify-write of a ServiceAccount's imagePullSecrets (an atomic list) with the
   * resourceVersion as precondition, retried from a fresh read on 409 so no entry is ever lost.
   */
  async editEntries(namespace: string, name: string, edit: (sa: ServiceAccount) => EntryEdit | undefined): Promise<number> {
    let sa = this.caches.serviceAccounts.get(namespace, name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (!sa) {
        try {
          sa = await this.client.get<ServiceAccount>(RESOURCES.serviceAccounts, namespace, name);
        } catch (err) {
          if (isNotFound(err)) return 0;
          throw err;
        }
      }
      const change = edit(sa);
      if (!change) return 0;
      const patch = {
        metadata: {
          resourceVersion: sa.metadata.resourceVersion,
          annotations: { [SA_ENTRIES_ANNOTATION]: change.annotation },
        },
        imagePullSecrets: change.imagePullSecrets.length ? change.imagePullSecrets : null,
      };
      try {
        const updated = await this.client.patch<ServiceAccount>(RESOURCES.serviceAccounts, namespace, name, patch, 'merge');
        this.caches.serviceAccounts.observe(updated);
        return 1;
      } catch (err) {
        if (isNotFound(err)) return 0;
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

class ConflictError extends Error {}

function rank(a: Action): number {
  return a.kind === 'createSecret' || a.kind === 'updateSecret' ? 0 : 1;
}

function toFailure(action: Action, err: unknown): NamespaceFailure {
  if (err instanceof ConflictError) return { namespace: action.namespace, reason: 'SecretConflict', message: err.message, transient: false };
  const what = action.kind === 'addEntry' || action.kind === 'removeEntry' ? `ServiceAccount ${action.serviceAccount}` : 'Secret';
  const status = err instanceof KubeError ? err.status : 0;
  const message = err instanceof Error ? err.message : String(err);
  return {
    namespace: action.namespace,
    reason: 'WriteFailed',
    message: `${action.kind} ${what}: ${message}`.slice(0, 1000),
    transient: status === 0 || status === 429 || status >= 500,
    retryAfterSeconds: err instanceof KubeError ? err.retryAfterSeconds : undefined,
  };
}
