// JSON logs (pino). Nothing the operator logs carries secret bytes by construction — objects are
// logged by name only — and redaction is a second line of defence for any field that might.
//
// The line format is the one controller-runtime's zap logger writes, so log pipelines built for
// kubebuilder operators read it as is: "level" as a name, "ts" as the time, "msg" as the message,
// and "reconcileID" on every line logged while a reconcile runs.
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { pino, type Logger, type Level } from 'pino';

export const REDACTED_PATHS = [
  'data', '*.data', '*.*.data', 'stringData', '*.stringData',
  'password', '*.password', 'auth', '*.auth', 'auths', '*.auths',
  'token', '*.token', '*.dockerconfigjson', '*[".dockerconfigjson"]',
];

interface ReconcileScope {
  readonly reconcileID: string;
  /** Set when the reconcile has returned; work it started that is still running logs without its id. */
  ended: boolean;
}

const scopes = new AsyncLocalStorage<ReconcileScope>();

/**
 * Runs one reconcile with a fresh reconcileID on every line logged within it, by any logger made
 * by createLogger, without passing a logger down. Promises, timers and callbacks started inside
 * inherit the scope; those still running after `fn` settles log without the id (`ended`), so a
 * later line is never attributed to a reconcile that is over.
 */
export async function inReconcile<T>(fn: () => Promise<T>): Promise<T> {
  const scope: ReconcileScope = { reconcileID: randomUUID(), ended: false };
  try {
    return await scopes.run(scope, fn);
  } finally {
    scope.ended = true;
  }
}

/**
 * Runs `fn` outside any reconcile: for work a reconcile sets off that belongs to no reconcile of
 * its own making (another key queued, say), so its lines do not carry the current reconcile's id.
 */
export function outsideReconcile<T>(fn: () => T): T {
  return scopes.exit(fn);
}

/** The reconcileID of the reconcile running in this async context, if any. */
export function currentReconcileID(): string | undefined {
  const scope = scopes.getStore();
  return scope && !scope.ended ? scope.reconcileID : undefined;
}

export function createLogger(level: Level | 'silent' = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = {
    level,
    base: { app: 'regcred-operator' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
    // zap's key for the time, ISO 8601 as with controller-runtime's --zap-time-encoding=iso8601.
    timestamp: () => `,"ts":"${new Date().toISOString()}"`,
    mixin: () => {
      const reconcileID = currentReconcileID();
      return reconcileID ? { reconcileID } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
