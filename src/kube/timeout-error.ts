// The one error a silent server ends an exchange, a watch or a connection attempt with, whichever
// transport carried it: callers tell a silence from a refusal or a reset by its name.

export function timeoutError(ms: number): Error {
  return Object.assign(new Error(`no byte from the server for ${ms} ms`), { name: 'TimeoutError' });
}

export function isTimeoutError(err: unknown): boolean {
  return err instanceof Error && err.name === 'TimeoutError';
}
