// Status and Events from the outcome of reconciles: pure functions. The previous status is the
// memory: an Event is recorded only when the status it describes changes, so restarts and repeated
// reconciles never repeat one. Besides Ready, the conditions follow kstatus (abnormal-true):
// Reconciling is True while work is in progress, Stalled while nothing can progress without new
// input, and both are absent otherwise, so GitOps tools that wait on kstatus see the truth.
import { MAX_FAILURES, MAX_VALIDATED_REGISTRIES, type Condition, type Failure, type RegistryCredentialStatus, type RegistryStatus } from '../api/schema.ts';
import { kubeTime } from '../kube/time.ts';
import { canonicalJson, type ShadowedRegistry } from './dockerconfig.ts';
import type { SourceFailureReason } from './sources.ts';

export type Outcome =
  | { kind: 'suspended' }
  | { kind: 'invalidSpec'; message: string }
  | { kind: 'secretNameNotAllowed'; message: string }
  | { kind: 'sourceFailure'; reason: SourceFailureReason; message: string }
  | {
      kind: 'applied';
      matched: number;
      synced: number;
      patched: number;
      failures: Failure[];
      hash: string;
      shadowed: ShadowedRegistry[];
      /** How many writes this reconcile made. */
      writes: number;
      /** Rivals with the same secretName that want namespaces this credential holds. */
      contestedBy?: string[];
    };

/** What validation has to say: off, or on with the results of the last check of what is rendered (none yet: undefined). */
export type ValidationView = { enabled: false } | { enabled: true; results: RegistryStatus[] | undefined };

export const CREDENTIALS_VALID = 'CredentialsValid';
export const READY = 'Ready';
export const RECONCILING = 'Reconciling';
export const STALLED = 'Stalled';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  reason: string;
  note: string;
}

function readyCondition(outcome: Outcome, generation: number, now: string): Condition {
  const base = { type: READY, observedGeneration: generation, lastTransitionTime: now };
  switch (outcome.kind) {
    // True, as a suspended Flux object stays: kstatus reads Ready when there is no Reconciling or
    // Stalled, and a suspension must not hold a GitOps tool's wait until it times out.
    case 'suspended':
      return { ...base, status: 'True', reason: 'Suspended', message: 'spec.suspend is true: nothing is written to Secrets or ServiceAccounts, and those in place are left as they are' };
    case 'invalidSpec':
      return { ...base, status: 'False', reason: 'InvalidSpec', message: outcome.message };
    case 'secretNameNotAllowed':
      return { ...base, status: 'False', reason: 'SecretNameNotAllowed', message: `${outcome.message}; nothing is written` };
    case 'sourceFailure':
      return { ...base, status: 'False', reason: outcome.reason, message: `${outcome.message}; Secrets already in place are left as they are` };
    case 'applied': {
      const notes = outcome.shadowed.map((s) => `${s.ignoredFrom} also names ${s.registry}; ${s.keptFrom} is used`);
      if (outcome.contestedBy?.length) {
        notes.push(`RegistryCredential ${outcome.contestedBy.join(', ')} also wants Secrets this one holds (the current holder keeps them)`);
      }
      const suffix = notes.length ? `; ${notes.join('; ')}` : '';
      if (outcome.failures.length === 0) {
        return { ...base, status: 'True', reason: 'Synced', message: `${outcome.synced} of ${outcome.matched} matched namespaces synced${suffix}` };
      }
      return {
        ...base,
        status: 'False',
        reason: 'PartiallySynced',
        message: `${outcome.failures.length} of ${outcome.matched} matched namespaces failed (see status.failures)${suffix}`,
      };
    }
  }
}

/**
 * Reconciling (writes being retried) or Stalled (waiting for new input: the spec, a source, a Secret
 * in the way) for an outcome; neither when it is done or suspended.
 */
function progressCondition(outcome: Outcome, ready: Condition, now: string): Condition | undefined {
  const base = { observedGeneration: ready.observedGeneration, lastTransitionTime: now };
  switch (outcome.kind) {
    case 'suspended':
      return undefined;
    case 'invalidSpec':
    case 'secretNameNotAllowed':
    case 'sourceFailure':
      // A cloud token on its way (or being fetched again) is progress, not a wait for new input.
      if (outcome.kind === 'sourceFailure' && (outcome.reason === 'TokenPending' || outcome.reason === 'TokenFetchFailed')) {
        return { ...base, type: RECONCILING, status: 'True', reason: outcome.reason, message: ready.message };
      }
      return { ...base, type: STALLED, status: 'True', reason: ready.reason, message: ready.message };
    case 'applied': {
      const failures = outcome.failures;
      if (failures.length === 0) return undefined;
      const retrying = failures.filter((f) => f.reason === 'WriteFailed').length;
      if (retrying) {
        return { ...base, type: RECONCILING, status: 'True', reason: 'RetryingWrites', message: `writes failed in ${retrying} of ${outcome.matched} matched namespaces; retrying with backoff` };
      }
      const reason = failures.every((f) => f.reason === 'SecretConflict') ? 'SecretConflict' : 'PartiallySynced';
      return { ...base, type: STALLED, status: 'True', reason, message: ready.message };
    }
  }
}

/** Without the condition of that type. */
export function removeCondition(conditions: Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

/** Whether the status describes the object's current generation. */
export function generationObserved(status: RegistryCredentialStatus | undefined, generation: number): boolean {
  return status?.observedGeneration === generation;
}

/**
 * What is written before the first pass over a generation's namespaces, which can take a while:
 * Reconciling=True and Ready=Unknown (as Flux's objects do, so that a wait for Ready=True after a
 * spec change waits for the pass), the generation observed; Stalled goes, as a new spec is new
 * input. Events for the pass compare its result with the status before this one.
 */
export function reconcilingStatus(prev: RegistryCredentialStatus | undefined, generation: number, now: Date): RegistryCredentialStatus {
  const t = kubeTime(now);
  const message = `reconciling generation ${generation}`;
  let conditions = removeCondition(prev?.conditions, STALLED);
  conditions = setCondition(conditions, { type: READY, status: 'Unknown', reason: 'Progressing', message, observedGeneration: generation, lastTransitionTime: t });
  conditions = setCondition(conditions, { type: RECONCILING, status: 'True', reason: 'Progressing', message, observedGeneration: generation, lastTransitionTime: t });
  return { ...prev, observedGeneration: generation, conditions };
}

/**
 * Replaces a condition in its place (so an unchanged status compares equal), keeping
 * lastTransitionTime unless its status flips.
 */
export function setCondition(conditions: Condition[] | undefined, next: Condition): Condition[] {
  const prev = conditions?.find((c) => c.type === next.type);
  const merged = prev && prev.status === next.status ? { ...next, lastTransitionTime: prev.lastTransitionTime } : next;
  return prev ? conditions!.map((c) => (c === prev ? merged : c)) : [...(conditions ?? []), merged];
}

/**
 * CredentialsValid, and status.registries, from the view; undefined keeps both as they were (a
 * check of a new config not finished yet: the last results stand until it is).
 */
function validationStatus(view: ValidationView, generation: number, now: string, prev: Condition | undefined): { condition: Condition; registries?: RegistryStatus[] } | undefined {
  const base = { type: CREDENTIALS_VALID, observedGeneration: generation, lastTransitionTime: now };
  if (!view.enabled) return { condition: { ...base, status: 'Unknown', reason: 'ValidationDisabled', message: 'spec.validation.enabled is false' } };
  const results = view.results;
  if (!results) {
    return prev ? undefined : { condition: { ...base, status: 'Unknown', reason: 'NotChecked', message: 'the credentials have not been checked yet' } };
  }
  const registries = results.slice(0, MAX_VALIDATED_REGISTRIES);
  const failing = registries.filter((r) => r.result !== 'Valid');
  if (failing.length === 0) {
    return { condition: { ...base, status: 'True', reason: 'Valid', message: `${registries.length} of ${registries.length} registries accept the credentials` }, registries };
  }
  const message = failing.map((r) => `${r.server}: ${r.result} (${r.message})`).join('; ').slice(0, 4096);
  return { condition: { ...base, status: 'False', reason: failing[0]!.result, message }, registries };
}

export function nextStatus(
  prev: RegistryCredentialStatus | undefined,
  generation: number,
  outcome: Outcome,
  now: Date,
  validation?: ValidationView,
  /** The value of the reconcile-request annotation this reconcile handled, if any. */
  handledReconcileAt?: string,
): RegistryCredentialStatus {
  const t = kubeTime(now);
  let conditions = setCondition(prev?.conditions, readyCondition(outcome, generation, t));
  const ready = conditions.find((c) => c.type === READY)!;
  const progress = progressCondition(outcome, ready, t);
  for (const type of [RECONCILING, STALLED]) {
    conditions = progress?.type === type ? setCondition(conditions, progress) : removeCondition(conditions, type);
  }
  let registries = prev?.registries;
  if (validation) {
    const v = validationStatus(validation, generation, t, prev?.conditions?.find((c) => c.type === CREDENTIALS_VALID));
    if (v) {
      conditions = setCondition(conditions, v.condition);
      registries = v.registries;
    }
  }
  const next: RegistryCredentialStatus = {
    observedGeneration: generation,
    conditions,
    namespaces: prev?.namespaces ?? { matched: 0, synced: 0, failed: 0 },
    serviceAccounts: prev?.serviceAccounts ?? { patched: 0 },
    failures: prev?.failures ?? [],
    ...(prev?.credentialHash ? { credentialHash: prev.credentialHash } : {}),
    ...(prev?.lastSyncTime ? { lastSyncTime: prev.lastSyncTime } : {}),
    ...(prev?.lastRotationTime ? { lastRotationTime: prev.lastRotationTime } : {}),
    ...(registries ? { registries } : {}),
  };
  const handled = handledReconcileAt ?? prev?.lastHandledReconcileAt;
  if (handled !== undefined) next.lastHandledReconcileAt = handled;
  if (outcome.kind !== 'applied') return next;

  next.namespaces = { matched: outcome.matched, synced: outcome.synced, failed: outcome.failures.length };
  next.serviceAccounts = { patched: outcome.patched };
  next.failures = [...outcome.failures].sort((a, b) => (a.namespace < b.namespace ? -1 : 1)).slice(0, MAX_FAILURES);
  if (rotated(prev?.credentialHash, outcome.hash)) next.lastRotationTime = t;
  next.credentialHash = outcome.hash;
  // lastSyncTime moves only when something happened, so a converged object is never rewritten.
  if (outcome.writes > 0 || statusChanged(prev, next) || !next.lastSyncTime) next.lastSyncTime = t;
  return next;
}

/**
 * Whether the credentials changed: a new digest of the same kind. The move from an older version's
 * plain `sha256:` to the keyed `hmac-sha256:` digest is no rotation.
 */
function rotated(prev: string | undefined, next: string): boolean {
  const kind = (digest: string) => digest.slice(0, digest.indexOf(':') + 1);
  return !!prev && prev !== next && kind(prev) === kind(next);
}

export function statusChanged(prev: RegistryCredentialStatus | undefined, next: RegistryCredentialStatus): boolean {
  const strip = (s: RegistryCredentialStatus | undefined) => {
    if (!s) return undefined;
    const { lastSyncTime: _ignored, ...rest } = s;
    return rest;
  };
  return canonicalJson(strip(prev)) !== canonicalJson(strip(next));
}

const INPUT_PROBLEMS = new Set<string>([
  'InvalidSpec',
  'SecretNameNotAllowed',
  'SourceNotFound',
  'InvalidSource',
  'SourceNotAllowed',
] satisfies Array<'InvalidSpec' | 'SecretNameNotAllowed' | SourceFailureReason>);

/**
 * Events worth recording for the change from `prev` to `next`: a transition of Ready (its status or
 * reason, not its counts) and a rotation. Never one per namespace: status.failures lists those.
 */
export function eventsFor(prev: RegistryCredentialStatus | undefined, next: RegistryCredentialStatus): EventSpec[] {
  const events: EventSpec[] = [];
  const before = prev?.conditions?.find((c) => c.type === READY);
  const after = next.conditions?.find((c) => c.type === READY);
  if (!after) return events;
  // For a spec or source problem the message names what to fix, so a new message is news too;
  // for the synced states it carries counts, which change with every namespace.
  const problemChanged = INPUT_PROBLEMS.has(after.reason) && before?.message !== after.message;
  if (before?.status !== after.status || before?.reason !== after.reason || problemChanged) {
    const first = after.reason === 'PartiallySynced' && next.failures?.[0] ? `; first: ${next.failures[0].namespace}: ${next.failures[0].message}` : '';
    const normal = after.status === 'True' || after.reason === 'Suspended';
    events.push({ type: normal ? 'Normal' : 'Warning', reason: after.reason, note: `${after.message}${first}` });
  }
  events.push(...registryEvents(prev?.registries, next.registries));
  const hash = next.credentialHash;
  if (hash && rotated(prev?.credentialHash, hash)) {
    events.push({ type: 'Normal', reason: 'Rotated', note: `credentials changed (${hash.slice(0, 19)}…); ${next.namespaces?.synced ?? 0} namespaces updated` });
  }
  return events;
}

/**
 * A Warning when a registry stops accepting the credentials (or first refuses them), a Normal one
 * when it accepts them again; nothing while its result stays the same.
 */
function registryEvents(prev: RegistryStatus[] | undefined, next: RegistryStatus[] | undefined): EventSpec[] {
  const before = new Map((prev ?? []).map((r) => [r.server, r.result]));
  const events: EventSpec[] = [];
  for (const r of next ?? []) {
    const was = before.get(r.server);
    if (r.result === was) continue;
    if (r.result !== 'Valid') {
      events.push({ type: 'Warning', reason: 'RegistryInvalid', note: `${r.server}: ${r.result} (${r.message})` });
    } else if (was !== undefined) {
      events.push({ type: 'Normal', reason: 'RegistryValid', note: `${r.server} accepts the credentials again` });
    }
  }
  return events;
}
