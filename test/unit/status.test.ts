import { describe, expect, it } from 'vitest';
import type { Failure, RegistryCredentialStatus } from '../../src/api/schema.ts';
import {
  eventsFor,
  nextStatus,
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
  it('reports an invalid spec as Ready=False InvalidSpec with zero counts on a fresh object', () => {
    expect(nextStatus(undefined, 4, invalidSpec, T0)).toEqual({
      observedGeneration: 4,
      conditions: [
        { type: 'Ready', status: 'False', reason: 'InvalidSpec', message: 'spec.registries: Too small', observedGeneration: 4, lastTransitionTime: '2024-05-01T10:00:00Z' },
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
