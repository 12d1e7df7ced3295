// `kubectl regcred status`: one row per RegistryCredential from its status, as a pure function of
// the objects read, so the table is tested without a cluster.
import type { Condition, RegistryCredential } from '../api/schema.ts';
import type { NamespaceFailure } from '../controller/apply.ts';
import { CREDENTIALS_VALID } from '../controller/status.ts';
import { age, formatTable, toYaml } from './format.ts';

/** The failure reason the reconciler gives a namespace whose Secret is not this credential's. */
export const SECRET_CONFLICT: NamespaceFailure['reason'] = 'SecretConflict';

export interface ConditionSummary {
  status: string;
  reason: string;
  message: string;
}

export interface StatusRow {
  name: string;
  secretName: string;
  ready?: ConditionSummary;
  matched: number;
  synced: number;
  failed: number;
  conflicts: number;
  /** status.failures is capped: more namespaces failed than it lists, so there may be more conflicts. */
  conflictsTruncated: boolean;
  serviceAccountsPatched: number;
  validation?: ConditionSummary;
  suspended: boolean;
  lastRotationTime?: string;
  lastSyncTime?: string;
  creationTimestamp?: string;
}

const summary = (c: Condition | undefined): ConditionSummary | undefined =>
  c ? { status: c.status, reason: c.reason, message: c.message } : undefined;

export function statusRow(rc: RegistryCredential): StatusRow {
  const status = rc.status ?? {};
  const failures = status.failures ?? [];
  const failed = status.namespaces?.failed ?? 0;
  const ready = summary(status.conditions?.find((c) => c.type === 'Ready'));
  const validation = summary(status.conditions?.find((c) => c.type === CREDENTIALS_VALID));
  const spec = (rc.spec ?? {}) as { secretName?: unknown; suspend?: unknown };
  return {
    name: rc.metadata.name,
    secretName: typeof spec.secretName === 'string' ? spec.secretName : rc.metadata.name,
    ...(ready ? { ready } : {}),
    matched: status.namespaces?.matched ?? 0,
    synced: status.namespaces?.synced ?? 0,
    failed,
    conflicts: failures.filter((f) => f.reason === SECRET_CONFLICT).length,
    conflictsTruncated: failed > failures.length,
    serviceAccountsPatched: status.serviceAccounts?.patched ?? 0,
    ...(validation ? { validation } : {}),
    suspended: spec.suspend === true,
    ...(status.lastRotationTime ? { lastRotationTime: status.lastRotationTime } : {}),
    ...(status.lastSyncTime ? { lastSyncTime: status.lastSyncTime } : {}),
    ...(rc.metadata.creationTimestamp ? { creationTimestamp: rc.metadata.creationTimestamp } : {}),
  };
}

const pair = (c: ConditionSummary | undefined) => (c ? `${c.status}/${c.reason}` : '-');

/**
 * The table. SUSPENDED appears when a listed credential is suspended (always with -o wide), so
 * the usual table stays narrow.
 */
export function formatStatusTable(rows: StatusRow[], now: Date, wide = false): string {
  const suspendedColumn = wide || rows.some((r) => r.suspended);
  const header = ['NAME', 'READY', 'SYNCED/MATCHED', 'CONFLICTS', 'LAST ROTATION', 'VALIDATION'];
  if (suspendedColumn) header.push('SUSPENDED');
  if (wide) header.push('SECRET', 'SA PATCHED', 'LAST SYNC', 'AGE', 'MESSAGE');
  const cells = rows.map((r) => {
    const row = [
      r.name,
      pair(r.ready),
      `${r.synced}/${r.matched}`,
      `${r.conflicts}${r.conflictsTruncated && r.conflicts > 0 ? '+' : ''}`,
      r.lastRotationTime ? age(r.lastRotationTime, now) : '<none>',
      pair(r.validation),
    ];
    if (suspendedColumn) row.push(r.suspended ? 'true' : 'false');
    if (wide) row.push(r.secretName, String(r.serviceAccountsPatched), age(r.lastSyncTime, now), age(r.creationTimestamp, now), r.ready?.message ?? '');
    return row;
  });
  return formatTable(header, cells);
}

export function renderStatus(rows: StatusRow[], output: 'table' | 'wide' | 'json' | 'yaml', now: Date): string {
  switch (output) {
    case 'json':
      return `${JSON.stringify({ items: rows }, null, 2)}\n`;
    case 'yaml':
      return toYaml({ items: rows });
    default:
      return rows.length ? formatStatusTable(rows, now, output === 'wide') : 'No RegistryCredentials found.\n';
  }
}
