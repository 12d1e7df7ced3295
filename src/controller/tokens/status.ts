// status.tokens and the TokenRefreshed condition from what the token manager holds for a
// credential's token entries: pure functions. Present only when the credential has token entries.
// refreshedAt and expiresAt change once per refresh (every few hours: one status write each); a
// failing fetch's retries change nothing until the failure itself changes, so they write nothing.
import { MAX_TOKENS, type Condition, type RegistryCredentialStatus, type TokenStatus } from '../../api/schema.ts';
import { kubeTime } from '../../kube/time.ts';
import { setCondition, type EventSpec } from '../status.ts';
import type { TokenState } from './manager.ts';

export const TOKEN_REFRESHED = 'TokenRefreshed';

/** One token entry of the credential: its label (tokenSourceLabel) and what the manager holds for it. */
export interface TokenView {
  source: string;
  state: TokenState;
}

export function tokenStatusEntry(view: TokenView): TokenStatus {
  const s = view.state;
  switch (s.state) {
    case 'ready':
      return {
        source: view.source,
        result: s.failure ? 'Failed' : 'Refreshed',
        expiresAt: kubeTime(s.token.expiresAt),
        refreshedAt: kubeTime(s.fetchedAt),
        ...(s.failure ? { code: s.failure.code, message: s.failure.message.slice(0, 1024) } : {}),
      };
    case 'pending':
      return { source: view.source, result: 'Pending' };
    case 'failed':
      return { source: view.source, result: 'Failed', code: s.failure.code, message: s.failure.message.slice(0, 1024) };
    case 'unavailable':
      return { source: view.source, result: 'Failed', code: 'ProviderUnavailable', message: 'this build of the operator has no provider for this cloud' };
  }
}

function refreshedCondition(tokens: TokenStatus[], generation: number, now: string): Condition {
  const base = { type: TOKEN_REFRESHED, observedGeneration: generation, lastTransitionTime: now };
  const failed = tokens.filter((t) => t.result === 'Failed');
  if (failed.length) {
    const message = failed
      .map((t) => `${t.source}: ${t.code}${t.expiresAt ? ` (the last good token is used until ${t.expiresAt})` : ' (no token)'}`)
      .join('; ')
      .slice(0, 4096);
    return { ...base, status: 'False', reason: failed[0]!.code ?? 'Failed', message };
  }
  const pending = tokens.filter((t) => t.result === 'Pending');
  if (pending.length) return { ...base, status: 'Unknown', reason: 'TokenPending', message: `waiting for the first token of ${pending.map((t) => t.source).join('; ')}` };
  const nextExpiry = tokens.map((t) => t.expiresAt!).sort()[0];
  return { ...base, status: 'True', reason: 'Refreshed', message: `${tokens.length} of ${tokens.length} tokens fresh; the first expires at ${nextExpiry}` };
}

/**
 * The status with status.tokens and TokenRefreshed for these views (both removed when there are
 * none), and Ready's message noting a token that failed to refresh while its last good one is used.
 */
export function withTokenStatus(status: RegistryCredentialStatus, views: TokenView[], generation: number, now: Date): RegistryCredentialStatus {
  if (views.length === 0) {
    const { tokens: _tokens, ...rest } = status;
    const conditions = rest.conditions?.filter((c) => c.type !== TOKEN_REFRESHED);
    return { ...rest, ...(conditions ? { conditions } : {}) };
  }
  const tokens = views.slice(0, MAX_TOKENS).map(tokenStatusEntry);
  let conditions = setCondition(status.conditions, refreshedCondition(tokens, generation, kubeTime(now)));
  const stale = tokens.filter((t) => t.result === 'Failed' && t.expiresAt);
  const ready = conditions.find((c) => c.type === 'Ready');
  if (stale.length && ready?.status === 'True') {
    const note = stale.map((t) => `the token of ${t.source} failed to refresh (${t.code}); the last good one is used until ${t.expiresAt}`).join('; ');
    conditions = conditions.map((c) => (c === ready ? { ...c, message: `${c.message}; ${note}`.slice(0, 32768) } : c));
  }
  return { ...status, conditions, tokens };
}

/**
 * A Warning when TokenRefreshed turns False or its code changes (once per failure streak, not per
 * retry), a Normal one when it is True again after a failure.
 */
export function tokenEvents(prev: RegistryCredentialStatus | undefined, next: RegistryCredentialStatus): EventSpec[] {
  const before = prev?.conditions?.find((c) => c.type === TOKEN_REFRESHED);
  const after = next.conditions?.find((c) => c.type === TOKEN_REFRESHED);
  if (!after) return [];
  if (after.status === 'False' && (before?.status !== 'False' || before.reason !== after.reason)) {
    return [{ type: 'Warning', reason: 'TokenRefreshFailed', note: after.message }];
  }
  if (after.status === 'True' && before?.status === 'False') {
    return [{ type: 'Normal', reason: 'TokenRefreshed', note: 'the cloud registry tokens are fresh again' }];
  }
  return [];
}
