// One reconcile of one RegistryCredential: read the caches, compute the desired state, apply the
// plan, write the status once. It never looks at which event caused it.
import type { Logger } from 'pino';
import { CREDENTIAL_LABEL, FINALIZER } from '../api/labels.ts';
import { resolveSpec, type RegistryCredential, type RegistryCredentialStatus } from '../api/schema.ts';
import { RESOURCES, isNotFound, type KubeClient } from '../kube/client.ts';
import type { Secret } from '../kube/objects.ts';
import type { WorkResult } from '../queue/workqueue.ts';
import { Applier, type ApplyResult } from './apply.ts';
import type { Caches } from './caches.ts';
import { renderDockerConfig } from './dockerconfig.ts';
import { desiredState, entryRemovals, plan, type CredentialView, type NamespaceTarget } from './desired.ts';
import type { EventRecorder } from './events.ts';
import { resolveEntries } from './sources.ts';
import { eventsFor, nextStatus, statusChanged, type Outcome } from './status.ts';

export interface ReconcilerOptions {
  credentialsNamespace: string;
  maxConcurrentWrites: number;
}

export interface ReconcileReport extends WorkResult {
  result: 'synced' | 'partial' | 'invalid' | 'source' | 'deleted' | 'absent';
  writes: number;
}

/** Thrown after the status is written when some writes failed for reasons worth retrying soon. */
export class RetryableFailure extends Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, retryAfterSeconds?: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

export class Reconciler {
  private readonly client: KubeClient;
  private readonly caches: Caches;
  private readonly events: EventRecorder;
  private readonly log: Logger;
  private readonly options: ReconcilerOptions;
  private readonly applier: Applier;

  constructor(client: KubeClient, caches: Caches, events: EventRecorder, log: Logger, options: ReconcilerOptions) {
    this.client = client;
    this.caches = caches;
    this.events = events;
    this.log = log;
    this.options = options;
    this.applier = new Applier(client, caches, options.maxConcurrentWrites);
  }

  async reconcile(name: string): Promise<ReconcileReport> {
    let rc = this.caches.credentials.get(undefined, name);
    if (!rc) return { result: 'absent', writes: 0 };
    if (rc.metadata.deletionTimestamp) return this.finalize(rc);
    let writes = 0;
    if (!rc.metadata.finalizers?.includes(FINALIZER)) {
      rc = await this.setFinalizers(rc, [...(rc.metadata.finalizers ?? []), FINALIZER]);
      writes++;
    }

    const resolved = resolveSpec(rc.metadata.name, rc.spec);
    if (!resolved.ok) return this.finish(rc, { kind: 'invalidSpec', message: resolved.message }, 'invalid', writes);
    const spec = resolved.spec;
    this.caches.namedSecrets.retain(this.secretNamesInUse());
    const named = await this.caches.namedSecrets.ensure(spec.secretName);

    const sources = resolveEntries(spec.registries, {
      secret: (n) => this.caches.sourceSecrets.get(this.options.credentialsNamespace, n),
      credentialsNamespace: this.options.credentialsNamespace,
    });
    if (!sources.ok) return this.finish(rc, { kind: 'sourceFailure', reason: sources.reason, message: sources.message }, 'source', writes);
    const rendered = renderDockerConfig(sources.entries);

    const credential = view(rc, spec);
    const targets = desiredState({
      credential,
      rendered,
      others: this.otherCredentials(name),
      namespaces: this.caches.namespaces.list(),
      serviceAccountsIn: (ns) => this.caches.serviceAccounts.inNamespace(ns),
      existingSecret: (ns) => named.get(ns, spec.secretName),
    });
    const actions = plan(targets, {
      managedSecrets: this.managedSecretsOf(name),
      serviceAccountsIn: (ns) => this.caches.serviceAccounts.inNamespace(ns),
      namespace: (ns) => this.caches.namespaces.get(undefined, ns),
    }, spec.deletionPolicy);
    const applied = await this.applier.apply(actions, name);
    writes += applied.writes;

    const outcome = summarize(targets, applied, rendered.hash, rendered.shadowed, writes);
    const report = await this.finish(rc, outcome, outcome.failures.length ? 'partial' : 'synced', writes);
    const transient = applied.failures.filter((f) => f.transient);
    if (transient.length) {
      const retryAfter = Math.max(0, ...transient.map((f) => f.retryAfterSeconds ?? 0)) || undefined;
      throw new RetryableFailure(`${transient.length} writes failed and will be retried`, retryAfter);
    }
    return report;
  }

  private async finish(rc: RegistryCredential, outcome: Outcome, result: ReconcileReport['result'], writes: number): Promise<ReconcileReport> {
    const prev = rc.status;
    const next = nextStatus(prev, rc.metadata.generation ?? 0, outcome, new Date());
    if (statusChanged(prev, next) || prev?.lastSyncTime !== next.lastSyncTime) {
      await this.writeStatus(rc, next);
      writes++;
      for (const event of eventsFor(prev, next)) await this.events.record(rc, event);
    }
    return { result, writes };
  }

  private async writeStatus(rc: RegistryCredential, status: RegistryCredentialStatus): Promise<void> {
    try {
      const updated = await this.client.patch<RegistryCredential>(RESOURCES.registryCredentials, undefined, rc.metadata.name, { status }, 'merge', 'status');
      this.caches.credentials.observe(updated);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Runs the deletion policy, then lets the object go. */
  private async finalize(rc: RegistryCredential): Promise<ReconcileReport> {
    if (!rc.metadata.finalizers?.includes(FINALIZER)) return { result: 'deleted', writes: 0 };
    const policy = (rc.spec as { deletionPolicy?: string } | undefined)?.deletionPolicy === 'Retain' ? 'Retain' : 'Delete';
    const managed = this.managedSecretsOf(rc.metadata.name);
    let writes = 0;
    if (policy === 'Delete') {
      const removals = managed.flatMap((s) =>
        entryRemovals(this.caches.serviceAccounts.inNamespace(s.metadata.namespace!), s.metadata.namespace!, s.metadata.name));
      const applied = await this.applier.apply({ removals, writes: [], deletions: managed.map((s) => ({ kind: 'deleteSecret' as const, namespace: s.metadata.namespace!, observed: s })) }, rc.metadata.name);
      writes += applied.writes;
      if (applied.failures.length) throw new RetryableFailure(`cleanup of ${applied.failures.length} namespaces failed: ${applied.failures[0]!.message}`);
    } else {
      // Retain: the Secrets stay, so they must stop pointing at their owner or garbage collection takes them.
      for (const secret of managed) {
        const made = await this.releaseSecret(secret, rc.metadata.uid!);
        writes += made;
      }
    }
    try {
      await this.setFinalizers(rc, (rc.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.log.info({ credential: rc.metadata.name, policy, writes }, 'cleaned up after deleted RegistryCredential');
    return { result: 'deleted', writes: writes + 1 };
  }

  private async releaseSecret(secret: Secret, ownerUid: string): Promise<number> {
    const refs = secret.metadata.ownerReferences ?? [];
    const kept = refs.filter((r) => r.uid !== ownerUid);
    if (kept.length === refs.length) return 0;
    try {
      const updated = await this.client.patch<Secret>(RESOURCES.secrets, secret.metadata.namespace, secret.metadata.name, {
        metadata: { resourceVersion: secret.metadata.resourceVersion, ownerReferences: kept.length ? kept : null },
      });
      this.caches.managedSecrets.observe(updated);
      return 1;
    } catch (err) {
      if (isNotFound(err)) return 0;
      throw err;
    }
  }

  private async setFinalizers(rc: RegistryCredential, finalizers: string[]): Promise<RegistryCredential> {
    const updated = await this.client.patch<RegistryCredential>(RESOURCES.registryCredentials, undefined, rc.metadata.name, {
      metadata: { resourceVersion: rc.metadata.resourceVersion, finalizers: finalizers.length ? finalizers : null },
    });
    this.caches.credentials.observe(updated);
    return updated;
  }

  private managedSecretsOf(name: string): Secret[] {
    return this.caches.managedSecrets.list().filter((s) => s.metadata.labels?.[CREDENTIAL_LABEL] === name);
  }

  private otherCredentials(name: string): CredentialView[] {
    return this.caches.credentials.list().flatMap((o) => {
      if (o.metadata.name === name || o.metadata.deletionTimestamp) return [];
      const spec = this.caches.specs.get(o);
      return spec ? [view(o, spec)] : [];
    });
  }

  private secretNamesInUse(): Set<string> {
    return new Set(this.caches.credentials.list().flatMap((o) => {
      const spec = this.caches.specs.get(o);
      return spec ? [spec.secretName] : [];
    }));
  }
}

function view(rc: RegistryCredential, spec: CredentialView['spec']): CredentialView {
  return { name: rc.metadata.name, uid: rc.metadata.uid ?? '', creationTimestamp: rc.metadata.creationTimestamp ?? '', spec };
}

/** Counts for the status from the targets and what applying them achieved. */
export function summarize(
  targets: NamespaceTarget[],
  applied: ApplyResult,
  hash: string,
  shadowed: ReturnType<typeof renderDockerConfig>['shadowed'],
  writes: number,
): Extract<Outcome, { kind: 'applied' }> {
  const failures = new Map<string, { namespace: string; reason: string; message: string }>();
  for (const t of targets) if (t.conflict) failures.set(t.namespace, { namespace: t.namespace, reason: 'SecretConflict', message: t.conflict });
  for (const f of applied.failures) if (!failures.has(f.namespace)) failures.set(f.namespace, { namespace: f.namespace, reason: f.reason, message: f.message });
  let patched = 0;
  for (const t of targets) {
    if (!t.secret) continue;
    for (const sa of t.serviceAccounts) if (!applied.failedServiceAccounts.has(`${t.namespace}/${sa}`)) patched++;
  }
  const matched = targets.length;
  const synced = targets.filter((t) => !failures.has(t.namespace)).length;
  return { kind: 'applied', matched, synced, patched, failures: [...failures.values()], hash, shadowed, writes };
}
