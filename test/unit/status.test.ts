import { describe, expect, it } from 'vitest';
import type { Failure, RegistryCredentialStatus } from '../../src/api/schema.ts';
import {
  eventsFor,
  generationObserved,
  nextStatus,
  reconcilingStatus,
  setCondition,
  statusChanged,
  type EventSpec,
  type Outcome,
} from '../../src/controller/status.ts';

const HASH_A = `hmac-sha256:${'a'.repeat(64)}`;
const HASH_B = `hmac-sha256:${'b'.repeat(64)}`;
const T0 = new Date('2024-05-01T10:00:00.123Z');
const T1 = new Date('2024-05-01T10:05:00.456Z');
const T2 = new Date('2024-05-01T10:10:00.789Z');

type Applied = Extract<Outcome, { kind: 'applied' }>;

function applied(over: Partial<Applied> = {}): Applied {
  return { kind: 'applied', matched: 3, synced: 3, patched: 2, failures: [], hash: HASH_A, shadowed: [], writes: 0, ...over };
}

const invalidSpec: Outcome = { kind: 'invalidSpec', message: 'spec.registries: Too small' };
const notFound: Outcome = { kind: 'sourceFailure', reason: 'SourceNotFound', message: 'spec.registries[0]: Secret regcred-system/src not found' };
const invalidSource: Outcome = { kind: 'sourceFailure', reason: 'InvalidSource', message: 'spec.registries[0]: Secret regcred-system/src key password is empty' };

function failure(namespace: string, reason = 'WriteFailed', message = `write in ${namespace} failed`): Failure {
  return { namespace, reason, message };
}

const ready = (s: RegistryCredentialStatus) => s.conditions!.find((c) => c.type === 'Ready')!;

describe('nextStatus', () => {
  it('reports an invalid spec as Ready=False InvalidSpec, Stalled, with zero counts on a fresh object', () => {
    expect(nextStatus(undefined, 4, invalidSpec, T0)).toEqual({
      observedGeneration: 4,
      conditions: [
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.registries: Too small', observedGeneration: 4, lastTransitionTime: '2024-05-01T10:00:00Z' },
        { type: 'Stalled', status: 'True', reason: 'InvalidSpec', message: 'spec.registries: Too small', observedGeneration: 4, lastTransitionTime: '2024-05-01T10:00:00Z' },
      ],
      namespaces: { matched: 0, synced: 0, failed: 0 },
      serviceAccounts: { patched: 0 },
      failures: [],
    });
  });

  it.each<[string, Outcome, string]>([
    ['SourceNotFound', notFound, 'SourceNotFound'],
    ['InvalidSource', invalidSource, 'InvalidSource'],
  ])('reports a source failure (%s) and keeps the previous counts, failures, hash and times', (_name, outcome, reason) => {
    const prev = nextStatus(undefined, 1, applied({ failures: [failure('x')], matched: 4, synced: 3 }), T0);
    const next = nextStatus(prev, 2, outcome, T1);
    expect(next.namespaces).toEqual({ matched: 4, synced: 3, failed: 1 });
    expect(next.serviceAccounts).toEqual({ patched: 2 });
    expect(next.failures).toEqual([failure('x')]);
    expect(next.credentialHash).toBe(HASH_A);
    expect(next.lastSyncTime).toBe(prev.lastSyncTime);
    expect(next.lastRotationTime).toBeUndefined();
    expect(next.observedGeneration).toBe(2);
    expect(ready(next)).toEqual({
      type: 'Ready',
      status: 'False',
      reason,
      message: `${(outcome as { message: string }).message}; Secrets already in place are left as they are`,
      observedGeneration: 2,
      lastTransitionTime: '2024-05-01T10:00:00Z',
    });
  });

  it('keeps the previous credentialHash and counts on an invalid spec', () => {
    const prev = nextStatus(undefined, 1, applied(), T0);
    const next = nextStatus(prev, 2, invalidSpec, T1);
    expect(next.credentialHash).toBe(HASH_A);
    expect(next.namespaces).toEqual(prev.namespaces);
    expect(next.lastSyncTime).toBe(prev.lastSyncTime);
  });

  it('reports a full sync as Ready=True Synced', () => {
    expect(nextStatus(undefined, 3, applied({ writes: 5 }), T0)).toEqual({
      observedGeneration: 3,
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Synced', message: '3 of 3 matched namespaces synced', observedGeneration: 3, lastTransitionTime: '2024-05-01T10:00:00Z' },
      ],
      namespaces: { matched: 3, synced: 3, failed: 0 },
      serviceAccounts: { patched: 2 },
      failures: [],
      credentialHash: HASH_A,
      lastSyncTime: '2024-05-01T10:00:00Z',
    });
  });

  it('reports failures as Ready=False PartiallySynced', () => {
    const next = nextStatus(undefined, 1, applied({ matched: 3, synced: 1, failures: [failure('b'), failure('a', 'SecretConflict')] }), T0);
    expect(ready(next)).toMatchObject({ status: 'False', reason: 'PartiallySynced', message: '2 of 3 matched namespaces failed (see status.failures)' });
    expect(next.namespaces).toEqual({ matched: 3, synced: 1, failed: 2 });
    expect(next.failures).toEqual([failure('a', 'SecretConflict'), failure('b')]);
  });

  it('names shadowed registries in the message', () => {
    const next = nextStatus(undefined, 1, applied({ shadowed: [{ registry: 'ghcr.io', keptFrom: 'registries[0]', ignoredFrom: 'registries[1]' }] }), T0);
    expect(ready(next).message).toBe('3 of 3 matched namespaces synced; registries[1] also names ghcr.io; registries[0] is used');
  });

  it('caps failures at 20, sorted by namespace, and counts them all', () => {
    const failures = Array.from({ length: 25 }, (_, i) => failure(`ns-${String(24 - i).padStart(2, '0')}`));
    const given = structuredClone(failures);
    const next = nextStatus(undefined, 1, applied({ matched: 25, synced: 0, failures }), T0);
    expect(next.failures).toHaveLength(20);
    expect(next.failures!.map((f) => f.namespace)).toEqual(Array.from({ length: 20 }, (_, i) => `ns-${String(i).padStart(2, '0')}`));
    expect(next.namespaces!.failed).toBe(25);
    expect(ready(next).message).toBe('25 of 25 matched namespaces failed (see status.failures)');
    // The outcome's own list is neither sorted in place nor cut nor edited.
    expect(failures).toEqual(given);
  });

  it('keeps lastTransitionTime while the status does not flip and changes it when it flips', () => {
    const s0 = nextStatus(undefined, 1, applied(), T0);
    const s1 = nextStatus(s0, 1, applied({ matched: 4, synced: 4 }), T1);
    expect(ready(s1).lastTransitionTime).toBe('2024-05-01T10:00:00Z');
    expect(ready(s1).message).toBe('4 of 4 matched namespaces synced');
    const s2 = nextStatus(s1, 1, notFound, T2);
    expect(ready(s2).lastTransitionTime).toBe('2024-05-01T10:10:00Z');
    const s3 = nextStatus(s2, 2, invalidSpec, T1);
    expect(ready(s3).lastTransitionTime).toBe('2024-05-01T10:10:00Z');
    expect(ready(s3).reason).toBe('InvalidSpec');
  });

  it('sets observedGeneration on the status and on the condition', () => {
    const s0 = nextStatus(undefined, 1, applied(), T0);
    const s1 = nextStatus(s0, 7, applied(), T1);
    expect(s1.observedGeneration).toBe(7);
    expect(ready(s1).observedGeneration).toBe(7);
    expect(s1.conditions).toHaveLength(1);
  });

  it('keeps conditions of other types', () => {
    const other = { type: 'Other', status: 'True' as const, reason: 'X', message: 'x', lastTransitionTime: '2020-01-01T00:00:00Z' };
    const s = nextStatus({ conditions: [other] }, 1, applied(), T0);
    expect(s.conditions).toEqual([other, ready(s)]);
  });

  it('sets lastRotationTime only when the hash changes from a previous value', () => {
    const s0 = nextStatus(undefined, 1, applied({ writes: 3 }), T0);
    expect(s0.lastRotationTime).toBeUndefined();
    const s1 = nextStatus(s0, 1, applied(), T1);
    expect(s1.lastRotationTime).toBeUndefined();
    const s2 = nextStatus(s1, 1, applied({ hash: HASH_B, writes: 3 }), T2);
    expect(s2.lastRotationTime).toBe('2024-05-01T10:10:00Z');
    expect(s2.credentialHash).toBe(HASH_B);
    const s3 = nextStatus(s2, 1, applied({ hash: HASH_B }), T1);
    expect(s3.lastRotationTime).toBe('2024-05-01T10:10:00Z');
  });

  it('sets lastSyncTime on the first sync', () => {
    expect(nextStatus(undefined, 1, applied({ writes: 0 }), T0).lastSyncTime).toBe('2024-05-01T10:00:00Z');
  });

  it('leaves a converged status exactly as it was', () => {
    const s0 = nextStatus(undefined, 1, applied({ writes: 4 }), T0);
    const s1 = nextStatus(s0, 1, applied({ writes: 0 }), T1);
    expect(s1).toEqual(s0);
    expect(s1.lastSyncTime).toBe('2024-05-01T10:00:00Z');
    expect(statusChanged(s0, s1)).toBe(false);
  });

  it('moves lastSyncTime when a write was made though the status is otherwise the same', () => {
    const s0 = nextStatus(undefined, 1, applied({ writes: 4 }), T0);
    const s1 = nextStatus(s0, 1, applied({ writes: 1 }), T1);
    expect(s1.lastSyncTime).toBe('2024-05-01T10:05:00Z');
    expect(statusChanged(s0, s1)).toBe(false);
  });

  it('moves lastSyncTime when the status changed without a write', () => {
    const s0 = nextStatus(undefined, 1, applied({ writes: 4 }), T0);
    const s1 = nextStatus(s0, 1, applied({ writes: 0, patched: 1 }), T1);
    expect(s1.lastSyncTime).toBe('2024-05-01T10:05:00Z');
  });

  it('does not mutate the previous status', () => {
    const s0 = nextStatus(undefined, 1, applied({ failures: [failure('a')] }), T0);
    const copy = structuredClone(s0);
    nextStatus(s0, 2, applied({ hash: HASH_B, failures: [failure('b')], writes: 2 }), T1);
    expect(s0).toEqual(copy);
  });
});

describe('setCondition', () => {
  it('adds a condition to none', () => {
    const c = { type: 'Ready', status: 'True' as const, reason: 'Synced', message: 'm', lastTransitionTime: 't1' };
    expect(setCondition(undefined, c)).toEqual([c]);
  });

  it('replaces a condition in its place, so the same conditions in another order never read as a change', () => {
    const ready = { type: 'Ready', status: 'True' as const, reason: 'Synced', message: 'm', lastTransitionTime: 't1' };
    const valid = { type: 'CredentialsValid', status: 'False' as const, reason: 'Unauthorized', message: 'm', lastTransitionTime: 't1' };
    expect(setCondition([ready, valid], { ...ready, message: 'n', lastTransitionTime: 't2' })).toEqual([{ ...ready, message: 'n' }, valid]);
    expect(setCondition([ready], valid)).toEqual([ready, valid]);
  });
});

describe('statusChanged', () => {
  const base = nextStatus(undefined, 1, applied({ writes: 1 }), T0);

  it.each<[string, RegistryCredentialStatus | undefined, RegistryCredentialStatus, boolean]>([
    ['identical', base, structuredClone(base), false],
    ['only lastSyncTime differs', base, { ...base, lastSyncTime: '2030-01-01T00:00:00Z' }, false],
    ['no previous status', undefined, base, true],
    ['counts differ', base, { ...base, namespaces: { matched: 9, synced: 9, failed: 0 } }, true],
    ['hash differs', base, { ...base, credentialHash: HASH_B }, true],
    ['lastRotationTime differs', base, { ...base, lastRotationTime: '2030-01-01T00:00:00Z' }, true],
    ['generation differs', base, { ...base, observedGeneration: 2 }, true],
    ['key order differs', base, Object.fromEntries(Object.entries(base).reverse()) as RegistryCredentialStatus, false],
  ])('%s → %s', (_name, prev, next, expected) => {
    expect(statusChanged(prev, next)).toBe(expected);
  });
});

describe('eventsFor', () => {
  const synced = (over: Partial<Applied> = {}, prev?: RegistryCredentialStatus, at = T1) => nextStatus(prev, 1, applied(over), at);

  it('records nothing without a Ready condition', () => {
    expect(eventsFor(undefined, {})).toEqual([]);
  });

  it('records Synced on the first sync', () => {
    const s = synced({ writes: 3 });
    expect(eventsFor(undefined, s)).toEqual([{ type: 'Normal', reason: 'Synced', note: '3 of 3 matched namespaces synced' }]);
  });

  it('records nothing when nothing changed', () => {
    const s0 = synced({ writes: 3 });
    const s1 = synced({ writes: 0 }, s0, T2);
    expect(eventsFor(s0, s1)).toEqual([]);
  });

  it('records nothing when only counts change: never one Event per namespace', () => {
    const s0 = synced();
    const s1 = synced({ matched: 4, synced: 4, patched: 5 }, s0, T2);
    expect(ready(s1).message).toBe('4 of 4 matched namespaces synced');
    expect(eventsFor(s0, s1)).toEqual([]);
  });

  it('records Rotated on a hash change, and nothing else when Ready stays', () => {
    const s0 = synced();
    const s1 = synced({ hash: HASH_B, writes: 3 }, s0, T2);
    expect(eventsFor(s0, s1)).toEqual([{ type: 'Normal', reason: 'Rotated', note: 'credentials changed (hmac-sha256:bbbbbbb…); 3 namespaces updated' }]);
  });

  it('records no Rotated on the first hash', () => {
    expect(eventsFor(undefined, synced()).some((e) => e.reason === 'Rotated')).toBe(false);
  });

  it('takes the upgrade from an older version\'s plain sha256 to the keyed digest for no rotation', () => {
    const old = { ...synced(), credentialHash: `sha256:${'c'.repeat(64)}` };
    const upgraded = nextStatus(old, 1, applied({ hash: HASH_A, writes: 3 }), T2);
    expect(upgraded.credentialHash).toBe(HASH_A);
    expect(upgraded.lastRotationTime).toBeUndefined();
    expect(eventsFor(old, upgraded)).toEqual([]);
  });

  it.each<[string, Outcome, string]>([
    ['SourceNotFound', notFound, `${(notFound as { message: string }).message}; Secrets already in place are left as they are`],
    ['InvalidSource', invalidSource, `${(invalidSource as { message: string }).message}; Secrets already in place are left as they are`],
    ['InvalidSpec', invalidSpec, 'spec.registries: Too small'],
  ])('records one Warning %s, and not again for the same status', (reason, outcome, note) => {
    const s0 = synced();
    const s1 = nextStatus(s0, 1, outcome, T2);
    expect(eventsFor(s0, s1)).toEqual([{ type: 'Warning', reason, note }]);
    const s2 = nextStatus(s1, 1, outcome, T1);
    expect(eventsFor(s1, s2)).toEqual([]);
    expect(eventsFor(undefined, nextStatus(undefined, 1, outcome, T0))).toEqual([{ type: 'Warning', reason, note }]);
  });

  it('records a new Warning when the source problem changes', () => {
    const s1 = nextStatus(undefined, 1, notFound, T0);
    const other: Outcome = { kind: 'sourceFailure', reason: 'SourceNotFound', message: 'spec.registries[1]: Secret regcred-system/other not found' };
    const s2 = nextStatus(s1, 1, other, T1);
    expect(eventsFor(s1, s2)).toEqual([
      { type: 'Warning', reason: 'SourceNotFound', note: 'spec.registries[1]: Secret regcred-system/other not found; Secrets already in place are left as they are' },
    ]);
  });

  it('records Synced again on recovery from a source failure', () => {
    const s0 = synced();
    const s1 = nextStatus(s0, 1, notFound, T1);
    const s2 = nextStatus(s1, 1, applied(), T2);
    expect(eventsFor(s1, s2)).toEqual([{ type: 'Normal', reason: 'Synced', note: '3 of 3 matched namespaces synced' }]);
  });

  it('records one Warning when namespaces start failing, naming the first, and none as more fail', () => {
    const s0 = synced();
    const s1 = synced({ synced: 2, failures: [failure('a', 'SecretConflict', 'taken')] }, s0, T2);
    expect(eventsFor(s0, s1)).toEqual([
      { type: 'Warning', reason: 'PartiallySynced', note: '1 of 3 matched namespaces failed (see status.failures); first: a: taken' },
    ]);
    const s2 = synced({ synced: 0, failures: [failure('a', 'SecretConflict', 'taken'), failure('c'), failure('b')] }, s1, T1);
    expect(eventsFor(s1, s2)).toEqual([]);
    const s3 = synced({}, s2, T2);
    expect(eventsFor(s2, s3)).toEqual([{ type: 'Normal', reason: 'Synced', note: '3 of 3 matched namespaces synced' }]);
  });

  it('puts nothing into a note but the messages, names and counts given', () => {
    const SECRET = 'hunter2-password';
    const messages = ['write in a failed', 'Secret a/pull is held by RegistryCredential x, which also selects this namespace'];
    const s0 = nextStatus(undefined, 1, notFound, T0);
    const s1 = nextStatus(s0, 1, applied({ hash: HASH_B, synced: 1, failures: [failure('a', 'WriteFailed', messages[0]), failure('b', 'SecretConflict', messages[1])] }), T1);
    const s2 = nextStatus(s1, 1, applied({ hash: HASH_A, synced: 3 }), T2);
    const events: EventSpec[] = [...eventsFor(undefined, s0), ...eventsFor(s0, s1), ...eventsFor(s1, s2)];
    expect(events.map((e) => `${e.type} ${e.reason}: ${e.note}`)).toEqual([
      'Warning SourceNotFound: spec.registries[0]: Secret regcred-system/src not found; Secrets already in place are left as they are',
      'Warning PartiallySynced: 2 of 3 matched namespaces failed (see status.failures); first: a: write in a failed',
      'Normal Synced: 3 of 3 matched namespaces synced',
      `Normal Rotated: credentials changed (${HASH_A.slice(0, 19)}…); 3 namespaces updated`,
    ]);
    // A hash whose tail (past the prefix a note may show) carries SECRET, as rotation and recovery see it:
    // nothing of it but the prefix may reach a note.
    const tainted = `${HASH_B.slice(0, 19)}${SECRET}`;
    const s3 = nextStatus(s2, 1, applied({ hash: tainted, synced: 3 }), T0);
    const s4 = nextStatus(s3, 1, notFound, T1);
    const s5 = nextStatus(s4, 1, applied({ hash: tainted, synced: 2, failures: [failure('c')] }), T2);
    const tainting = [...eventsFor(s2, s3), ...eventsFor(s3, s4), ...eventsFor(s4, s5)];
    expect(tainting.map((e) => e.reason)).toEqual(['Rotated', 'SourceNotFound', 'PartiallySynced']);
    for (const e of [...events, ...tainting]) expect(e.note).not.toContain(SECRET);
  });
});

const condition = (s: RegistryCredentialStatus, type: string) => s.conditions?.find((c) => c.type === type);
/** The kstatus view of a status: each of Ready, Reconciling and Stalled as `status/reason`, '-' when absent. */
const kstatusView = (s: RegistryCredentialStatus) =>
  ['Ready', 'Reconciling', 'Stalled'].map((t) => {
    const c = condition(s, t);
    return c ? `${c.status}/${c.reason}` : '-';
  });

describe('kstatus conditions per outcome', () => {
  const secretName: Outcome = { kind: 'secretNameNotAllowed', message: 'secretName "x" is not one the operator may write' };
  it.each<[string, Outcome, string[]]>([
    ['synced', applied(), ['True/Synced', '-', '-']],
    ['suspended', { kind: 'suspended' }, ['True/Suspended', '-', '-']],
    ['invalid spec', invalidSpec, ['False/InvalidSpec', '-', 'True/InvalidSpec']],
    ['secretName not allowed', secretName, ['False/SecretNameNotAllowed', '-', 'True/SecretNameNotAllowed']],
    ['source not found', notFound, ['False/SourceNotFound', '-', 'True/SourceNotFound']],
    ['invalid source', invalidSource, ['False/InvalidSource', '-', 'True/InvalidSource']],
    ['writes failing', applied({ synced: 2, failures: [failure('a')] }), ['False/PartiallySynced', 'True/RetryingWrites', '-']],
    ['writes failing beside a conflict', applied({ synced: 1, failures: [failure('a'), failure('b', 'SecretConflict')] }), ['False/PartiallySynced', 'True/RetryingWrites', '-']],
    ['a conflict alone', applied({ synced: 2, failures: [failure('a', 'SecretConflict', 'taken')] }), ['False/PartiallySynced', '-', 'True/SecretConflict']],
  ])('%s → Ready, Reconciling, Stalled = %j', (_name, outcome, expected) => {
    const s = nextStatus(undefined, 5, outcome, T0);
    expect(kstatusView(s)).toEqual(expected);
    for (const c of s.conditions!) expect(c.observedGeneration).toBe(5);
  });

  it('gives Stalled the message of Ready, so kstatus shows what to fix', () => {
    const s = nextStatus(undefined, 1, notFound, T0);
    expect(condition(s, 'Stalled')!.message).toBe(ready(s).message);
    const conflict = nextStatus(undefined, 1, applied({ synced: 2, failures: [failure('a', 'SecretConflict', 'taken')] }), T0);
    expect(condition(conflict, 'Stalled')!.message).toBe('1 of 3 matched namespaces failed (see status.failures)');
  });

  it('says which writes are retried in Reconciling, counting only failed writes', () => {
    const s = nextStatus(undefined, 1, applied({ matched: 4, synced: 1, failures: [failure('a'), failure('b'), failure('c', 'SecretConflict')] }), T0);
    expect(condition(s, 'Reconciling')).toMatchObject({ status: 'True', reason: 'RetryingWrites', message: 'writes failed in 2 of 4 matched namespaces; retrying with backoff' });
  });

  it.each<[string, Outcome, Outcome, string[]]>([
    ['stalled → synced', notFound, applied(), ['True/Synced', '-', '-']],
    ['retrying → synced', applied({ synced: 2, failures: [failure('a')] }), applied(), ['True/Synced', '-', '-']],
    ['retrying → conflict', applied({ synced: 2, failures: [failure('a')] }), applied({ synced: 2, failures: [failure('a', 'SecretConflict')] }), ['False/PartiallySynced', '-', 'True/SecretConflict']],
    ['synced → suspended', applied(), { kind: 'suspended' }, ['True/Suspended', '-', '-']],
    ['stalled → suspended', invalidSpec, { kind: 'suspended' }, ['True/Suspended', '-', '-']],
    ['suspended → stalled', { kind: 'suspended' }, notFound, ['False/SourceNotFound', '-', 'True/SourceNotFound']],
  ])('transition %s leaves no stale condition', (_name, first, second, expected) => {
    const s0 = nextStatus(undefined, 1, first, T0);
    const s1 = nextStatus(s0, 2, second, T1);
    expect(kstatusView(s1)).toEqual(expected);
    expect(s1.conditions!.map((c) => c.type).filter((t, i, all) => all.indexOf(t) !== i)).toEqual([]);
  });

  it('keeps lastTransitionTime of Stalled and Reconciling while they stay True, and sets it when they appear', () => {
    const s0 = nextStatus(undefined, 1, applied(), T0);
    const s1 = nextStatus(s0, 1, notFound, T1);
    expect(condition(s1, 'Stalled')!.lastTransitionTime).toBe('2024-05-01T10:05:00Z');
    const s2 = nextStatus(s1, 2, { ...notFound, message: 'spec.registries[0]: Secret regcred-system/other not found' } as Outcome, T2);
    expect(condition(s2, 'Stalled')!.lastTransitionTime).toBe('2024-05-01T10:05:00Z');
    expect(condition(s2, 'Stalled')!.message).toContain('regcred-system/other');
    const r1 = nextStatus(s2, 2, applied({ synced: 2, failures: [failure('a')] }), T0);
    const r2 = nextStatus(r1, 2, applied({ synced: 1, failures: [failure('a'), failure('b')] }), T2);
    expect(condition(r2, 'Reconciling')!.lastTransitionTime).toBe('2024-05-01T10:00:00Z');
  });

  it('keeps the suspended state stable: a second suspended pass changes nothing and keeps the counts', () => {
    const s0 = nextStatus(undefined, 1, applied({ matched: 4, synced: 4 }), T0);
    const s1 = nextStatus(s0, 2, { kind: 'suspended' }, T1);
    // Ready stays True (kstatus: Current), so its transition time stays too; the reason says why.
    expect(ready(s1)).toMatchObject({ status: 'True', reason: 'Suspended', lastTransitionTime: '2024-05-01T10:00:00Z' });
    const fromStalled = nextStatus(nextStatus(undefined, 1, notFound, T0), 2, { kind: 'suspended' }, T1);
    expect(ready(fromStalled)).toMatchObject({ status: 'True', reason: 'Suspended', lastTransitionTime: '2024-05-01T10:05:00Z' });
    expect(ready(s1).message).toContain('spec.suspend is true');
    expect(s1.namespaces).toEqual({ matched: 4, synced: 4, failed: 0 });
    expect(s1.credentialHash).toBe(HASH_A);
    const s2 = nextStatus(s1, 2, { kind: 'suspended' }, T2);
    expect(statusChanged(s1, s2)).toBe(false);
  });
});

describe('reconcilingStatus (before the first pass over a generation)', () => {
  it('on a fresh object: Ready Unknown and Reconciling True, the generation observed', () => {
    const s = reconcilingStatus({ observedGeneration: -1 }, 1, T0);
    expect(s).toEqual({
      observedGeneration: 1,
      conditions: [
        { type: 'Ready', status: 'Unknown', reason: 'Progressing', message: 'reconciling generation 1', observedGeneration: 1, lastTransitionTime: '2024-05-01T10:00:00Z' },
        { type: 'Reconciling', status: 'True', reason: 'Progressing', message: 'reconciling generation 1', observedGeneration: 1, lastTransitionTime: '2024-05-01T10:00:00Z' },
      ],
    });
    expect(generationObserved(s, 1)).toBe(true);
    expect(generationObserved({ observedGeneration: -1 }, 1)).toBe(false);
    expect(generationObserved(undefined, 1)).toBe(false);
  });

  it('on a new generation: Ready Unknown until the pass ends, Stalled gone, everything else kept', () => {
    const s0 = nextStatus(undefined, 1, notFound, T0);
    const s1 = reconcilingStatus(s0, 2, T1);
    expect(kstatusView(s1)).toEqual(['Unknown/Progressing', 'True/Progressing', '-']);
    expect(ready(s1)).toMatchObject({ observedGeneration: 2, lastTransitionTime: '2024-05-01T10:05:00Z' });
    expect(s1.namespaces).toEqual(s0.namespaces);
    expect(s1.observedGeneration).toBe(2);
  });

  it('then the result of the pass replaces Reconciling, and Ready moves from Unknown with one Event', () => {
    const progressing = reconcilingStatus(undefined, 1, T0);
    const done = nextStatus(progressing, 1, applied({ writes: 3 }), T1);
    expect(kstatusView(done)).toEqual(['True/Synced', '-', '-']);
    expect(eventsFor(progressing, done)).toEqual([{ type: 'Normal', reason: 'Synced', note: '3 of 3 matched namespaces synced' }]);
  });

  it('a spec change that changes nothing records no Event against the status before the pass', () => {
    const s0 = nextStatus(undefined, 1, applied({ writes: 3 }), T0);
    const s1 = reconcilingStatus(s0, 2, T1);
    expect(ready(s1).status).toBe('Unknown');
    const s2 = nextStatus(s1, 2, applied(), T2);
    expect(kstatusView(s2)).toEqual(['True/Synced', '-', '-']);
    expect(eventsFor(s0, s2)).toEqual([]);
  });
});

describe('lastHandledReconcileAt', () => {
  it('echoes the value handled and keeps it until another one is', () => {
    const s0 = nextStatus(undefined, 1, applied(), T0, undefined, '2024-05-01T09:59:00Z');
    expect(s0.lastHandledReconcileAt).toBe('2024-05-01T09:59:00Z');
    const s1 = nextStatus(s0, 1, applied(), T1);
    expect(s1.lastHandledReconcileAt).toBe('2024-05-01T09:59:00Z');
    const s2 = nextStatus(s1, 1, notFound, T2, undefined, 'again');
    expect(s2.lastHandledReconcileAt).toBe('again');
    expect(statusChanged(s1, s2)).toBe(true);
  });

  it('is absent until a request is handled', () => {
    expect(nextStatus(undefined, 1, applied(), T0)).not.toHaveProperty('lastHandledReconcileAt');
  });
});

describe('eventsFor: only Ready transitions, rotation, conflicts and source problems', () => {
  const at = (outcome: Outcome, prev?: RegistryCredentialStatus, generation = 1) => nextStatus(prev, generation, outcome, T1);
  const base = at(applied({ matched: 10, synced: 10, patched: 10 }));
  const partial = at(applied({ matched: 10, synced: 9, failures: [failure('a', 'SecretConflict', 'taken')] }));

  it.each<[string, RegistryCredentialStatus, Outcome]>([
    ['more namespaces synced', base, applied({ matched: 11, synced: 11, patched: 11 })],
    ['fewer namespaces matched', base, applied({ matched: 3, synced: 3, patched: 3 })],
    ['more ServiceAccounts patched', base, applied({ matched: 10, synced: 10, patched: 25 })],
    ['a write made, nothing else', base, applied({ matched: 10, synced: 10, patched: 10, writes: 7 })],
    ['another namespace failing too', partial, applied({ matched: 10, synced: 8, failures: [failure('a', 'SecretConflict', 'taken'), failure('b', 'SecretConflict', 'taken too')] })],
    ['one more namespace matched while failing', partial, applied({ matched: 11, synced: 10, failures: [failure('a', 'SecretConflict', 'taken')] })],
    ['a new generation with the same result', base, applied({ matched: 10, synced: 10, patched: 10 })],
  ])('records nothing when only counts change: %s', (_name, prev, outcome) => {
    const next = nextStatus(prev, 2, outcome, T2);
    expect(eventsFor(prev, next)).toEqual([]);
  });

  it('records suspension as a Normal Event, once, and the resumed sync again', () => {
    const suspended = nextStatus(base, 2, { kind: 'suspended' }, T2);
    expect(eventsFor(base, suspended)).toEqual([{ type: 'Normal', reason: 'Suspended', note: ready(suspended).message }]);
    expect(eventsFor(suspended, nextStatus(suspended, 2, { kind: 'suspended' }, T0))).toEqual([]);
    const resumed = nextStatus(suspended, 3, applied({ matched: 10, synced: 10, patched: 10 }), T0);
    expect(eventsFor(suspended, resumed)).toEqual([{ type: 'Normal', reason: 'Synced', note: '10 of 10 matched namespaces synced' }]);
  });
});
