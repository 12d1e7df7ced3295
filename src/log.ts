// JSON logs (pino). Nothing the operator logs carries secret bytes by construction — objects are
// logged by name only — and redaction is a second line of defence for any field that might.
import { pino, type Logger, type Level } from 'pino';

export const REDACTED_PATHS = [
  'data', '*.data', '*.*.data', 'stringData', '*.stringData',
  'password', '*.password', 'auth', '*.auth', 'auths', '*.auths',
  'token', '*.token', '*.dockerconfigjson', '*[".dockerconfigjson"]',
];

export function createLogger(level: Level | 'silent' = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { level, base: { app: 'regcred-operator' }, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
