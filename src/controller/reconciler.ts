// One reconcile of one RegistryCredential: read the caches, compute the desired state of the
// namespaces it is asked about (all of them, or the few an event touched), apply the plan, and
// write the status from the per-namespace outcomes, at most once per status interval. It never
// looks at which event caused it. Every failure that a retry can fix is thrown (after the outcomes
// are recorded) so the work queue backs the key off; only an invalid spec or an unreadable source
// waits for its input to change.
import type { Logger } from 'pino';
import { FINALIZER, RECONCILE_REQUESTED_ANNOTATION, VALIDATE_REQUESTED_ANNOTATION } from '../api/labels.ts';
import { type RegistryCredential, type RegistryCredentialStatus, type ResolvedSpec } from '../api/schema.ts';
import { RESOURCES, isNotFound, type KubeClient } from '../kube/client.ts';
import type { Namespace } from '../kube/objects.ts';
import type { WorkResult } from '../queue/workqueue.ts';
import { Applier, type ApplyResult } from './apply.ts';
import type { Caches } from './caches.ts';
import type { Digest } from './digest.ts';
import { renderDockerConfig, type ResolvedEntry } from './dockerconfig.ts';
import { desiredState, hasEntry, plan, type CredentialView, type NamespaceTarget, type Observed, type Plan } from './desired.ts';
import { OutcomeBook, type NamespaceOutcome } from './outcomes.ts';
import type { Work } from './work.ts';
import type { EventRecorder } from './events.ts';
import { namespaceSelected } from './selection.ts';
import { resolveEntries, sourceRefusal, tokenUses, tokenViews, type SourceInputs } from './sources.ts';
import { eventsFor, generationObserved, nextStatus, reconcilingStatus, statusChanged, type Outcome, type ValidationView } from './status.ts';
import type { TokenManager } from './tokens/manager.ts';
import { tokenEvents, withTokenStatus } from './tokens/status.ts';
import { validationTargets, type CaBundleLookup } from './validation/targets.ts';
import type { Validator } from './validation/validator.ts';

export interface ReconcilerOptions {
  credentialsNamespace: string;
  /** The installation's digest: status.credentialHash and the managed Secrets' hash annotation. */
  digest: Digest;
  maxConcurrentWrites: number;
  /** How long a credential waits for a rival to take over its Secrets before looking again. */
  handoverRecheckMs?: number;
  /** At most one status write per credential this often; the last one of a burst is never lost. */
  statusIntervalMs?: number;
  /** Checks the credentials against the registries in the background; none: no validation. */
  validator?: Validator;
  /** Cloud registry tokens (ecr, artifactRegistry, acr entries); none: such entries stay pending. */
  tokens?: Pick<TokenManager, 'observe' | 'forget' | 'current'>;
}

export interface ReconcileReport extends WorkResult {
  result: 'synced' | 'partial' | 'invalid' | 'source' | 'suspended' | 'deleted' | 'deleting' | 'absent';
  writes: number;
}

/** Thrown after the status is written when some writes failed: the key is retried with backoff. */
export class RetryableFailure extends Error {
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, retryAfterSeconds?: number) {
    super(message);
    this.name = 'RetryableFailure';
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
  readonly outcomes = new OutcomeBook();
  private readonly lastStatusWrite = new Map<string, number>();

  constructor(client: KubeClient, caches: Caches, events: EventRecorder, log: Logger, options: ReconcilerOptions) {
    this.client = client;
    this.caches = caches;
    this.events = events;
    this.log = log;
    this.options = options;
    this.applier = new Applier(client, caches, options.maxConcurrentWrites, log);
  }

  async reconcile(name: string, work: Work = { full: true, namespaces: new Set() }): Promise<ReconcileReport> {
    let rc = this.caches.credentials.get(undefined, name);
    if (!rc) {
      this.forget(name);
      return { result: 'absent', writes: 0 };
    }
    if (rc.metadata.deletionTimestamp) return this.finalize(rc);
    let writes = 0;
    if (!rc.metadata.finalizers?.includes(FINALIZER)) {
      rc = await this.setFinalizers(rc, [...(rc.metadata.finalizers ?? []), FINALIZER]);
      writes++;
    }
    // Suspended: no Secret or ServiceAccount is touched, and the next pass after it is a full one.
    if ((rc.spec as { suspend?: unknown } | undefined)?.suspend === true) {
      this.outcomes.forget(name);
      this.options.validator?.forget(name);
      this.options.tokens?.forget(name);
      return this.finish(rc, { kind: 'suspended' }, 'suspended', writes);
    }

    const resolved = this.caches.specs.resolve(rc);
    if (!resolved.ok) {
      // Its namespaces are not being looked after: the next valid spec starts with a full pass.
      this.outcomes.forget(name);
      this.options.tokens?.forget(name);
      return this.finish(rc, { kind: 'invalidSpec', message: resolved.message }, 'invalid', writes);
    }
    const spec = resolved.spec;
    if (!this.caches.secretNameAllowed(spec.secretName)) {
      this.outcomes.forget(name);
      const allowed = this.caches.targetSecrets.names.join(', ');
      return this.finish(rc, {
        kind: 'secretNameNotAllowed',
        message: `secretName "${spec.secretName}" is not one the operator may write (allowed: ${allowed}); ask the operator's administrator to add it to --allowed-secret-names`,
      }, 'invalid', writes);
    }

    const inputs = this.sourceInputs(name);
    // The cloud tokens it uses: a new one starts a fetch, which wakes the credential when it ends.
    this.options.tokens?.observe(name, tokenUses(spec.registries, inputs));
    const sources = resolveEntries(spec.registries, inputs);
    if (!sources.ok) {
      this.outcomes.forget(name);
      return this.finish(rc, { kind: 'sourceFailure', reason: sources.reason, message: sources.message }, 'source', writes);
    }
    const rendered = renderDockerConfig(sources.entries, this.options.digest);
    const validation = this.validate(rc, spec, sources.entries);

    const credential = view(rc, spec);
    const rivals = this.rivals(credential.name, spec.secretName);
    const full = work.full || !this.outcomes.has(name);
    const only = full ? undefined : work.namespaces;
    // A pass over every namespace can take a while: kstatus must see it in progress, not done.
    const settled = rc.status;
    // Sent ahead of the pass's writes but not waited for: the pass needs nothing from its answer,
    // and a round trip in front of every fan-out is what a new credential waits for longest. Only
    // the closing status, which must land after it, waits for it.
    let reconciling: Promise<{ written: RegistryCredential | undefined } | { error: unknown }> | undefined;
    if (full && !generationObserved(rc.status, rc.metadata.generation ?? 0)) {
      reconciling = this.writeStatus(rc, reconcilingStatus(rc.status, rc.metadata.generation ?? 0, new Date())).then(
        (written) => ({ written }),
        (error: unknown) => ({ error }),
      );
      writes++;
    }
    const namespaces = only
      ? [...only].flatMap((n) => this.caches.namespaces.get(undefined, n) ?? [])
      : this.caches.namespaces.list();
    const targets = desiredState({
      credential,
      rendered,
      rivals,
      serviceAccountsIn: (ns) => this.caches.serviceAccounts.inNamespace(ns),
      existingSecret: (ns) => this.caches.secretNamed(ns, spec.secretName),
      credentialUid: (n) => this.caches.credentialUid(n),
      credentialsNamespace: this.options.credentialsNamespace,
    }, namespaces);
    const actions = plan(targets, this.observed(credential, rivals, only), spec.secretName, spec.deletionPolicy);
    const applied = await this.applier.apply(actions, credential);
    writes += applied.writes;
    if (reconciling) {
      const sent = await reconciling;
      if ('error' in sent) throw sent.error;
      rc = sent.written ?? rc;
    }

    const outcomes = namespaceOutcomes(targets, actions, applied, this.caches, spec.secretName);
    if (only) for (const ns of only) this.outcomes.update(name, ns, outcomes.get(ns));
    else this.outcomes.replace(name, outcomes);
    const summary = this.outcomes.summary(name);
    const outcome: Outcome = { kind: 'applied', ...summary, hash: rendered.hash, shadowed: rendered.shadowed, writes };
    const report = await this.finish(rc, outcome, summary.failures.length ? 'partial' : 'synced', writes, validation, settled);
    const failed = applied.failures.filter((f) => f.reason === 'WriteFailed');
    if (failed.length) throw new RetryableFailure(`${failed.length} writes failed; first: ${failed[0]!.message}`, applied.retryAfterSeconds);
    // Secrets left for a rival: look again soon in case the rival's write never comes.
    if (actions.handovers.length) return { ...report, requeueAfterMs: Math.min(report.requeueAfterMs ?? Infinity, this.options.handoverRecheckMs ?? 2000) };
    return report;
  }

  /** Drops what is kept about a credential that is gone. */
  forget(name: string): void {
    this.outcomes.forget(name);
    this.lastStatusWrite.delete(name);
    this.options.validator?.forget(name);
    this.options.tokens?.forget(name);
  }

  /**
   * Hands what is rendered to the validator (which checks it in the background when it is new or
   * a check was asked for) and says what the status shows of it.
   */
  private validate(rc: RegistryCredential, spec: ResolvedSpec, entries: ResolvedEntry[]): ValidationView | undefined {
    const validator = this.options.validator;
    if (!validator) return undefined;
    const name = rc.metadata.name;
    if (!spec.validation.enabled) {
      validator.forget(name);
      return { enabled: false };
    }
    const inputs = validationTargets(spec.registries, entries, this.caBundles(name), this.options.digest);
    validator.observe(name, inputs, spec.validation.intervalMs, rc.metadata.annotations?.[VALIDATE_REQUESTED_ANNOTATION]);
    return { enabled: true, results: validator.results(name) };
  }

  /** CA bundles for validation: keys of source Secrets (opted in, as for credentials) or of ConfigMaps. */
  private caBundles(credential: string): CaBundleLookup {
    const ns = this.options.credentialsNamespace;
    const decode = (value: string | undefined, where: string, key: string) =>
      value === undefined ? { ok: false as const, message: `${where} has no key ${key}` } : { ok: true as const, pem: value };
    return {
      secretKey: (name, key) => {
        const where = `Secret ${ns}/${name}`;
        const secret = this.caches.sourceSecrets.get(ns, name);
        if (!secret) return { ok: false, message: `${where} not found` };
        const refusal = sourceRefusal(secret, credential);
        if (refusal) return { ok: false, message: `${where} ${refusal}` };
        const encoded = secret.data?.[key];
        return decode(encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8'), where, key);
      },
      configMapKey: (name, key) => {
        const where = `ConfigMap ${ns}/${name}`;
        const cm = this.caches.configMaps.get(ns, name);
        if (!cm) return { ok: false, message: `${where} not found` };
        return decode(cm.data?.[key], where, key);
      },
    };
  }

  /**
   * Writes the status when it changed, at most once per status interval: a write that comes too
   * soon after the last is left to a run the report asks for at the end of the interval, which
   * computes the status afresh from the outcomes of that moment.
   */
  // `settled`: the status Events compare with, the one before this pass's Reconciling status.
  private async finish(rc: RegistryCredential, outcome: Outcome, result: ReconcileReport['result'], writes: number, validation?: ValidationView, settled = rc.status): Promise<ReconcileReport> {
    const prev = rc.status;
    // A suspended credential handles no request: the value is echoed once a reconcile acts on it.
    const requested = outcome.kind === 'suspended' ? undefined : rc.metadata.annotations?.[RECONCILE_REQUESTED_ANNOTATION];
    const now = new Date();
    const next = withTokenStatus(nextStatus(prev, rc.metadata.generation ?? 0, outcome, now, validation, requested), this.tokenViews(rc, outcome), rc.metadata.generation ?? 0, now);
    if (!statusChanged(prev, next) && prev?.lastSyncTime === next.lastSyncTime) return { result, writes };
    const name = rc.metadata.name;
    const wait = (this.lastStatusWrite.get(name) ?? -Infinity) + (this.options.statusIntervalMs ?? 0) - Date.now();
    if (wait > 0) return { result, writes, requeueAfterMs: Math.ceil(wait) };
    await this.writeStatus(rc, next);
    this.lastStatusWrite.set(name, Date.now());
    for (const event of [...eventsFor(settled, next), ...tokenEvents(prev, next)]) await this.events.record(rc, event);
    return { result, writes: writes + 1 };
  }

  /** The object as written; undefined when it is gone. */
  private async writeStatus(rc: RegistryCredential, status: RegistryCredentialStatus): Promise<RegistryCredential | undefined> {
    try {
      const updated = await this.client.patch<RegistryCredential>(RESOURCES.registryCredentials, undefined, rc.metadata.name, { status }, 'merge', 'status');
      this.caches.credentials.observe(updated);
      return updated;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return undefined;
    }
  }

  /**
   * Runs the deletion policy, then lets the object go. Delete: the same plan as for a credential
   * that wants nothing, so entries go before their Secret and Secrets a rival wants are left for it
   * to take over in place. Retain: Secrets stay and must not point at their owner any more, or
   * garbage collection takes them. The finalizer goes only when that is done.
   */
  private async finalize(rc: RegistryCredential): Promise<ReconcileReport> {
    if (!rc.metadata.finalizers?.includes(FINALIZER)) return { result: 'deleted', writes: 0 };
    const name = rc.metadata.name;
    // A spec that fails validation still says what to clean up, as far as it can be read.
    const resolved = this.caches.specs.resolve(rc);
    const raw = rc.spec as { deletionPolicy?: unknown; secretName?: unknown } | undefined;
    const policy = resolved.ok ? resolved.spec.deletionPolicy : raw?.deletionPolicy === 'Retain' ? 'Retain' : 'Delete';
    const secretName = resolved.ok ? resolved.spec.secretName : typeof raw?.secretName === 'string' ? raw.secretName : name;
    const self = { name, uid: rc.metadata.uid ?? '' };
    let actions: Plan;
    if (policy === 'Delete') {
      actions = plan([], this.observed(self, this.rivals(name, secretName)), secretName, 'Delete');
    } else {
      // Secrets switched from Delete may still carry the ownerReference.
      const owned = this.caches.managedSecretsOf(self).filter((s) => (s.metadata.ownerReferences ?? []).some((r) => r.uid === self.uid));
      actions = { removals: [], writes: owned.map((s) => ({ kind: 'releaseSecret' as const, namespace: s.metadata.namespace!, observed: s, ownerUid: self.uid })), deletions: [], handovers: [] };
    }
    const applied = await this.applier.apply(actions, self);
    if (applied.failures.length) {
      throw new RetryableFailure(`cleanup failed in ${new Set(applied.failures.map((f) => f.namespace)).size} namespaces; first: ${applied.failures[0]!.message}`, applied.retryAfterSeconds);
    }
    if (actions.handovers.length) {
      this.log.info({ credential: name, namespaces: actions.handovers.length }, 'waiting for a rival RegistryCredential to take over Secrets');
      return { result: 'deleting', writes: applied.writes, requeueAfterMs: this.options.handoverRecheckMs ?? 2000 };
    }
    try {
      await this.setFinalizers(rc, (rc.metadata.finalizers ?? []).filter((f) => f !== FINALIZER));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    this.forget(name);
    this.log.info({ credential: name, policy, writes: applied.writes }, 'cleaned up after deleted RegistryCredential');
    return { result: 'deleted', writes: applied.writes + 1 };
  }

  private async setFinalizers(rc: RegistryCredential, finalizers: string[]): Promise<RegistryCredential> {
    const updated = await this.client.patch<RegistryCredential>(RESOURCES.registryCredentials, undefined, rc.metadata.name, {
      metadata: { resourceVersion: rc.metadata.resourceVersion, finalizers: finalizers.length ? finalizers : null },
    });
    this.caches.credentials.observe(updated);
    return updated;
  }

  /** What exists, across the cluster or, given `only`, in those namespaces alone. */
  private observed(credential: { name: string; uid: string }, rivals: CredentialView[], only?: Set<string>): Observed {
    const c = this.caches;
    return {
      managedSecrets: c.managedSecretsOf(credential, only),
      serviceAccountsIn: (ns) => c.serviceAccounts.inNamespace(ns),
      annotatedServiceAccounts: (secretName) => c.annotatedServiceAccounts(secretName, only),
      namespace: (ns) => c.namespaces.get(undefined, ns),
      existingSecret: (ns, secretName) => c.secretNamed(ns, secretName),
      handedOver: (ns) => {
        const namespace = c.namespaces.get(undefined, ns);
        return !!namespace && rivals.some((r) => namespaceSelected(r.spec, namespace as Namespace, this.options.credentialsNamespace));
      },
    };
  }

  /** Other RegistryCredentials with this secretName that can render it and are not being deleted. */
  private rivals(name: string, secretName: string): CredentialView[] {
    return this.caches.credentials.list().flatMap((o) => {
      if (o.metadata.name === name || o.metadata.deletionTimestamp) return [];
      const spec = this.caches.specs.get(o);
      if (!spec || spec.secretName !== secretName) return [];
      return resolveEntries(spec.registries, this.sourceInputs(o.metadata.name)).ok ? [view(o, spec)] : [];
    });
  }

  /** What a credential's registry entries are resolved from: the cached Secrets of the credentials namespace. */
  private sourceInputs(credential: string): SourceInputs {
    return {
      secret: (n) => this.caches.sourceSecrets.get(this.options.credentialsNamespace, n),
      credentialsNamespace: this.options.credentialsNamespace,
      credential,
      ...(this.options.tokens ? { tokens: this.options.tokens } : {}),
    };
  }

  /** The token entries status.tokens shows: only while the spec is acted on. */
  private tokenViews(rc: RegistryCredential, outcome: Outcome) {
    if (outcome.kind !== 'applied' && outcome.kind !== 'sourceFailure') return [];
    const spec = this.caches.specs.get(rc);
    return spec ? tokenViews(spec.registries, this.sourceInputs(rc.metadata.name)) : [];
  }
}

function view(rc: RegistryCredential, spec: ResolvedSpec): CredentialView {
  return { name: rc.metadata.name, uid: rc.metadata.uid ?? '', creationTimestamp: rc.metadata.creationTimestamp ?? '', spec };
}

/**
 * The outcome in each matched namespace: synced when this credential holds its Secret and every
 * write there succeeded; a ServiceAccount counts as patched when it holds the entry afterwards.
 */
export function namespaceOutcomes(
  targets: NamespaceTarget[],
  actions: Plan,
  applied: ApplyResult,
  caches: Pick<Caches, 'serviceAccounts'>,
  secretName: string,
): Map<string, NamespaceOutcome> {
  const failures = new Map(applied.failures.map((f) => [f.namespace, f]));
  const adding = new Set(actions.writes.flatMap((a) => (a.kind === 'addEntry' ? [`${a.namespace}/${a.serviceAccount}`] : [])));
  const outcomes = new Map<string, NamespaceOutcome>();
  for (const t of targets) {
    if (t.conflict) {
      outcomes.set(t.namespace, { synced: false, patched: 0, failure: { namespace: t.namespace, reason: 'SecretConflict', message: t.conflict } });
      continue;
    }
    let patched = 0;
    for (const name of t.serviceAccounts) {
      const key = `${t.namespace}/${name}`;
      if (adding.has(key) ? applied.entriesAdded.has(key) : hasEntryNow(caches, t.namespace, name, secretName)) patched++;
    }
    const f = failures.get(t.namespace);
    if (!f && !t.contestedBy) {
      outcomes.set(t.namespace, syncedOutcome(patched));
      continue;
    }
    outcomes.set(t.namespace, {
      synced: !f,
      patched,
      ...(f ? { failure: { namespace: f.namespace, reason: f.reason, message: f.message } } : {}),
      ...(t.contestedBy ? { contestedBy: t.contestedBy } : {}),
    });
  }
  return outcomes;
}

/** Most namespaces are simply synced: they share one frozen outcome per count of patched ServiceAccounts. */
const SYNCED: NamespaceOutcome[] = [];
function syncedOutcome(patched: number): NamespaceOutcome {
  return (SYNCED[patched] ??= Object.freeze({ synced: true, patched }));
}

function hasEntryNow(caches: Pick<Caches, 'serviceAccounts'>, namespace: string, name: string, secretName: string): boolean {
  const sa = caches.serviceAccounts.get(namespace, name);
  return !!sa && hasEntry(sa, secretName);
}
