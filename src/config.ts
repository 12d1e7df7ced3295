// Command-line flags, kubebuilder style: --flag value or --flag=value, booleans as --flag or
// --flag=true|false, Go durations, and a REGCRED_* environment variable for each flag. Validated
// with zod so a bad flag fails at start with a message naming it.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { DurationError, parseGoDurationMs } from './duration.ts';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const ENV_PREFIX = 'REGCRED_';

/** The variable that stands for a flag: --max-concurrent-writes ↔ REGCRED_MAX_CONCURRENT_WRITES. */
export function envName(flag: string): string {
  return ENV_PREFIX + flag.toUpperCase().replaceAll('-', '_');
}

/** Go's strconv.ParseBool, which pflag uses for --flag=value. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

const bool = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  const b = typeof v === 'boolean' ? v : parseGoBool(v);
  if (b === undefined) ctx.addIssue({ code: 'custom', message: `must be true or false, not ${JSON.stringify(v)}` });
  return b ?? false;
});

const duration = z.string().transform((v, ctx) => {
  try {
    const ms = parseGoDurationMs(v);
    if (ms < 0) ctx.addIssue({ code: 'custom', message: 'must not be negative' });
    return ms;
  } catch (err) {
    if (!(err instanceof DurationError)) throw err;
    ctx.addIssue({ code: 'custom', message: `${err.message} (want a duration such as 300ms, 1m30s or 2h45m)` });
    return 0;
  }
});

const PINO_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
type LogLevel = (typeof PINO_LEVELS)[number];

/**
 * pino's level names, which include zap's debug/info/warn/error/fatal, or controller-runtime's
 * --zap-log-level verbosity: 0 is info, 1 (V(1)) debug, 2 and more trace.
 */
const logLevel = z.string().transform((v, ctx): LogLevel => {
  if ((PINO_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  if (/^\d+$/.test(v)) return Number(v) === 0 ? 'info' : Number(v) === 1 ? 'debug' : 'trace';
  ctx.addIssue({ code: 'custom', message: `must be ${PINO_LEVELS.join('|')} or a verbosity 0, 1, 2…` });
  return 'info';
});

const address = z
  .string()
  .regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]*):\d{1,5}$|^0$/, 'must be [host]:port, or 0 to disable')
  .refine((v) => !/:\d+$/.test(v) || Number(v.slice(v.lastIndexOf(':') + 1)) <= 65535, 'port must be 0 to 65535');

const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const flagShape = {
  kubeconfig: z.string().optional(),
  'credentials-namespace': z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a namespace name').optional(),
  concurrency: z.coerce.number().int().min(1).max(64).default(4),
  'max-concurrent-writes': z.coerce.number().int().min(1).max(256).default(50),
  'log-level': logLevel.default('info'),
  'metrics-bind-address': address.default(':8080'),
  'health-probe-bind-address': address.default(':8081'),
  'leader-elect': bool.default(false),
  'leader-election-namespace': z.string().optional(),
  'leader-election-id': z.string().default('regcred-operator-leader'),
  'lease-duration': duration.default(15_000),
  'renew-deadline': duration.default(10_000),
  'retry-period': duration.default(2_000),
  'watch-inactivity-timeout': duration.default(90_000),
  http2: bool.default(false),
  'watch-stale-limit': duration.default(120_000),
  'queue-stall-limit': duration.default(300_000),
  'shutdown-timeout': duration.default(20_000),
  'kube-api-qps': z.coerce.number().positive().max(100_000).default(5000),
  'kube-api-burst': z.coerce.number().int().min(1).max(100_000).default(10000),
  'resync-period': duration.refine((v) => v >= 10_000, 'must be at least 10s').default(600_000),
  'cache-sync-timeout': duration.default(120_000),
  'reconcile-stuck-limit': duration.default(300_000),
  'status-interval': duration.default(1000),
  'token-max-lifetime': duration.refine((v) => v >= 10_000, 'must be at least 10s').optional(),
  'digest-key-secret': z
    .string()
    .max(253)
    .regex(SECRET_NAME, 'must be a Secret name')
    .default('regcred-operator-digest-key'),
  'allowed-secret-names': z
    .string()
    .transform((v) => [...new Set(v.split(',').map((n) => n.trim()).filter(Boolean))])
    .refine((names) => names.length > 0, 'must name at least one Secret')
    .refine((names) => names.every((n) => n.length <= 253 && SECRET_NAME.test(n)), 'each must be a Secret name')
    .default(['regcred']),
  'metrics-secure': bool.default(false),
  'metrics-cert-dir': z.string().min(1).optional(),
  'pod-injection': z.enum(['webhook', 'policy', 'off']).default('webhook'),
  'webhook-bind-address': address.default(':9443'),
  'webhook-url': z.url({ protocol: /^https$/ }).optional(),
  'webhook-service-name': z.string().regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name').max(63).default('regcred-operator-webhook'),
  'webhook-configuration-name': z.string().max(253).regex(SECRET_NAME, 'must be an object name').default('regcred-operator'),
  'webhook-secret-name': z.string().max(253).regex(SECRET_NAME, 'must be a Secret name').default('regcred-operator-webhook-tls'),
  'webhook-certificates': z.enum(['operator', 'external']).default('operator'),
  // Off when absent; optional rather than .default(false) so the parsed defaults stay as they were.
  'remediate-pods': bool.optional(),
};

type FlagName = keyof typeof flagShape;

interface FlagDoc {
  /** What the value is, as --help shows it; absent for a boolean flag. */
  arg?: string;
  help: string;
  /** As --help shows it; absent when there is none or `help` explains it. */
  default?: string;
}

/** --help's text of every flag; the type makes sure none is left out. */
const FLAG_DOCS: Record<FlagName, FlagDoc> = {
  kubeconfig: { arg: 'PATH', help: 'kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)' },
  'credentials-namespace': { arg: 'NAME', help: "namespace holding the source Secrets (default: the operator's own namespace, else regcred-system)" },
  concurrency: { arg: 'N', help: 'RegistryCredentials reconciled at once', default: '4' },
  'max-concurrent-writes': { arg: 'N', help: 'writes in flight within one reconcile', default: '50' },
  'log-level': { arg: 'LEVEL', help: `${PINO_LEVELS.join('|')}, or a zap verbosity (0 info, 1 debug, 2 and more trace); alias --zap-log-level`, default: 'info' },
  'metrics-bind-address': { arg: 'ADDR', help: 'Prometheus metrics, [host]:port or 0', default: ':8080' },
  'health-probe-bind-address': { arg: 'ADDR', help: '/healthz and /readyz, [host]:port or 0', default: ':8081' },
  'leader-elect': { help: 'elect a leader through a Lease; only the leader writes' },
  'leader-election-namespace': { arg: 'NAME', help: 'namespace of the Lease (default: the credentials namespace)' },
  'leader-election-id': { arg: 'NAME', help: 'name of the Lease', default: 'regcred-operator-leader' },
  'lease-duration': { arg: 'D', help: 'how long a leader lease lasts without renewal', default: '15s' },
  'renew-deadline': { arg: 'D', help: 'how long the leader keeps trying to renew before it gives up', default: '10s' },
  'retry-period': { arg: 'D', help: 'between attempts to acquire or renew the lease', default: '2s' },
  'watch-inactivity-timeout': { arg: 'D', help: 'a watch silent this long is reconnected (kube-apiserver sends a bookmark on an idle watch about once a minute)', default: '90s' },
  http2: { help: 'requests and watches as HTTP/2 streams over a few connections instead of HTTP/1.1 connections (README, Connections)' },
  'watch-stale-limit': { arg: 'D', help: '/healthz fails when a cache saw no life for this long', default: '2m' },
  'queue-stall-limit': { arg: 'D', help: '/healthz fails when a queued key waited this long', default: '5m' },
  'shutdown-timeout': { arg: 'D', help: 'how long SIGTERM waits for reconciles in flight', default: '20s' },
  'kube-api-qps': { arg: 'N', help: 'client-side rate limit on API requests per second', default: '5000' },
  'kube-api-burst': { arg: 'N', help: 'requests allowed above the rate in a burst', default: '10000' },
  'resync-period': { arg: 'D', help: 'every RegistryCredential is reconciled again after about this long (±10% jitter) even without events; at least 10s', default: '10m' },
  'cache-sync-timeout': { arg: 'D', help: "longest wait for a cache's first list", default: '2m' },
  'reconcile-stuck-limit': { arg: 'D', help: '/healthz fails when one reconcile has run this long', default: '5m' },
  'status-interval': { arg: 'D', help: 'at most one status write per RegistryCredential this often; the last change of a burst is always written', default: '1s' },
  'token-max-lifetime': { arg: 'D', help: "cloud registry tokens (ecr, artifactRegistry, acr) are refreshed as if they expired after at most this long, at least 10s (default: each token's own lifetime)" },
  'digest-key-secret': { arg: 'NAME', help: 'Secret in the credentials namespace holding the key of the digests in status, annotations and Events; created at the first start', default: 'regcred-operator-digest-key' },
  'allowed-secret-names': { arg: 'A,B', help: "the only Secret names RegistryCredentials may render to; the operator's RBAC grants Secrets of these names alone, and it watches nothing else", default: 'regcred' },
  'metrics-secure': { help: 'serve metrics over HTTPS, only to callers whose bearer token the API server authenticates (TokenReview) and allows to get /metrics (SubjectAccessReview)' },
  'metrics-cert-dir': { arg: 'DIR', help: 'tls.crt and tls.key for --metrics-secure, re-read when they change (default: a self-signed certificate made at start)' },
  'pod-injection': { arg: 'MODE', help: 'webhook: a mutating admission webhook adds the pull secret to pods created before their ServiceAccount is patched; policy: the same through a MutatingAdmissionPolicy per RegistryCredential (Kubernetes 1.36+, no webhook or certificate); off', default: 'webhook' },
  'webhook-bind-address': { arg: 'ADDR', help: "the webhook's HTTPS endpoint, [host]:port", default: ':9443' },
  'webhook-url': { arg: 'URL', help: "how the API server reaches the webhook; default: in a cluster the Service --webhook-service-name in the operator's namespace, outside https://127.0.0.1:<bound port>/mutate-pods" },
  'webhook-service-name': { arg: 'NAME', help: "the webhook's Service", default: 'regcred-operator-webhook' },
  'webhook-configuration-name': { arg: 'NAME', help: 'the MutatingWebhookConfiguration kept', default: 'regcred-operator' },
  'webhook-secret-name': { arg: 'NAME', help: "Secret in the credentials namespace with the webhook's CA and serving certificate, made and rotated by the leader", default: 'regcred-operator-webhook-tls' },
  'webhook-certificates': { arg: 'WHO', help: "operator: the leader makes and rotates the webhook's CA and certificate; external: another tool (cert-manager) writes the Secret (tls.crt, tls.key, ca.crt), the operator only reads it", default: 'operator' },
  'remediate-pods': { help: 'evict controller-owned pods that wait on an image pull and lack the pull secret their ServiceAccount now lists, so their controller recreates them with it (1/s, burst 5; bare pods are never touched)' },
};

/** Other names kubebuilder operators use for the same flag. */
const ALIASES: Record<string, FlagName> = { 'zap-log-level': 'log-level' };

/** Flags that act on others or on the run rather than setting a value of their own. */
const EXTRA_DOCS: Array<[string, string]> = [
  ['--zap-devel', `controller-runtime's development mode: --log-level debug unless a level is given [$${envName('zap-devel')}]`],
  ['--version', 'print the name and version and exit'],
  ['--help, -h', 'this text'],
];

const isBoolean = (name: FlagName) => FLAG_DOCS[name].arg === undefined;

export const flagsSchema = z.object(flagShape).superRefine((f, ctx) => {
  if (f['metrics-cert-dir'] !== undefined && !f['metrics-secure']) {
    ctx.addIssue({ code: 'custom', path: ['metrics-cert-dir'], message: 'needs --metrics-secure' });
  }
  // client-go's rules: otherwise a leader could still write after a standby has taken the lease.
  // Zod runs this even when a field failed (it then holds the raw string); compare parsed ones only.
  const timings = [f['lease-duration'], f['renew-deadline'], f['retry-period']];
  if (!timings.every((v) => typeof v === 'number')) return;
  if (f['lease-duration'] <= f['renew-deadline']) {
    ctx.addIssue({ code: 'custom', path: ['lease-duration'], message: 'must be longer than --renew-deadline' });
  }
  if (f['renew-deadline'] <= 1.2 * f['retry-period']) {
    ctx.addIssue({ code: 'custom', path: ['renew-deadline'], message: 'must be longer than 1.2 × --retry-period' });
  }
});

export type Flags = z.output<typeof flagsSchema> & { credentialsNamespace: string };

const HELP_INDENT = 36;
const HELP_WIDTH = 110;

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line];
}

function helpEntry(head: string, text: string): string {
  const [first = '', ...rest] = wrap(text, HELP_WIDTH - HELP_INDENT);
  const pad = ' '.repeat(HELP_INDENT);
  const start = head.length + 2 < HELP_INDENT ? `  ${head.padEnd(HELP_INDENT - 2)}${first}` : `  ${head}\n${pad}${first}`;
  return [start, ...rest.map((l) => pad + l)].join('\n');
}

export const HELP = `regcred-operator: renders RegistryCredentials into pull secrets in every matching namespace.

Usage: regcred-operator [flags]

Flags are --flag value or --flag=value; booleans --flag, --flag=true or --flag=false. Durations are
Go durations: 300ms, 1.5h, 2h45m, 1m30s (units ns, us, ms, s, m, h).
Every flag can also be set through the environment variable in brackets after it (${ENV_PREFIX}, then the
name in capitals with - as _). A flag on the command line wins over its variable, and the variable
over the default; an empty variable counts as unset.

${[
  ...Object.entries(FLAG_DOCS).map(([name, doc]) =>
    helpEntry(`--${name}${doc.arg ? ` ${doc.arg}` : ''}`, `${doc.help}${doc.default !== undefined ? ` (default ${doc.default})` : ''} [$${envName(name)}]`),
  ),
  ...EXTRA_DOCS.map(([head, text]) => helpEntry(head, text)),
].join('\n')}
`;

/** package.json, next to src/ and dist/ alike. */
function packageJson(): { name: string; version: string } {
  return JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
}

/** `regcred-operator <version>`. */
export function versionText(): string {
  const pkg = packageJson();
  return `${pkg.name} ${pkg.version}\n`;
}

/** How the API server's audit log and metrics name the operator, in client-go's form. */
export function userAgent(): string {
  const pkg = packageJson();
  return `${pkg.name}/${pkg.version} (${process.platform}/${process.arch}) node/${process.version}`;
}

function defaultCredentialsNamespace(env: NodeJS.ProcessEnv): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return 'regcred-system';
  }
}

export type ParseResult =
  | { ok: true; flags: Flags }
  | { ok: false; help: true }
  | { ok: false; help: false; version: true }
  | { ok: false; help: false; version?: false; message: string };

type Source = 'flag' | 'env';

/**
 * Flags from `argv`, then REGCRED_* variables from `env` for those not given, then defaults.
 * As with pflag, a flag given twice takes its last value.
 */
export function parseFlags(argv: string[], env: NodeJS.ProcessEnv = process.env): ParseResult {
  const names = Object.keys(flagShape) as FlagName[];
  const options = Object.fromEntries([
    ...names.map((n) => [n, { type: isBoolean(n) ? 'boolean' : 'string' }] as const),
    ...Object.entries(ALIASES).map(([alias, n]) => [alias, { type: isBoolean(n) ? 'boolean' : 'string' }] as const),
    ...['zap-devel', 'version', 'help'].map((n) => [n, { type: 'boolean' }] as const),
  ]);
  // Not strict: parseArgs' strict mode refuses --flag=false; the tokens are checked here instead.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const raw: Partial<Record<FlagName, string | boolean>> = {};
  const source: Partial<Record<FlagName, Source>> = {};
  const errors: string[] = [];
  let help = false;
  let version: string | boolean = false;
  let zapDevel: { value: string | boolean; source: Source } | undefined;
  for (const token of tokens) {
    if (token.kind === 'positional') {
      errors.push(`unexpected argument ${JSON.stringify(token.value)}`);
      continue;
    }
    if (token.kind !== 'option') continue;
    const value = token.value ?? true;
    if (token.rawName === '-h' || token.name === 'help') help = true;
    else if (token.name === 'version') version = value;
    else if (token.name === 'zap-devel') zapDevel = { value, source: 'flag' };
    else if (token.rawName.startsWith('--') && (token.name in flagShape || token.name in ALIASES)) {
      const name = ALIASES[token.name] ?? (token.name as FlagName);
      // As parseArgs' strict mode: `--concurrency --leader-elect` is a forgotten value, not a value.
      if (!isBoolean(name) && (token.value === undefined || (!token.inlineValue && token.value.startsWith('--')))) {
        errors.push(`${token.rawName}: needs a value`);
        continue;
      }
      raw[name] = value;
      source[name] = 'flag';
    } else errors.push(`unknown flag ${token.rawName}`);
  }
  if (help) return { ok: false, help: true };
  if (version !== false) {
    const on = typeof version === 'boolean' ? version : parseGoBool(version);
    if (on === undefined) errors.push(`--version: must be true or false, not ${JSON.stringify(version)}`);
    else if (on && errors.length === 0) return { ok: false, help: false, version: true };
  }
  if (errors.length) return { ok: false, help: false, message: errors.join('\n') };

  for (const name of names) {
    const value = env[envName(name)];
    if (raw[name] === undefined && value) {
      raw[name] = value;
      source[name] = 'env';
    }
  }
  const zapDevelEnv = env[envName('zap-devel')];
  if (!zapDevel && zapDevelEnv) zapDevel = { value: zapDevelEnv, source: 'env' };
  if (zapDevel) {
    const on = typeof zapDevel.value === 'boolean' ? zapDevel.value : parseGoBool(zapDevel.value);
    const where = zapDevel.source === 'env' ? ` (from ${envName('zap-devel')})` : '';
    if (on === undefined) return { ok: false, help: false, message: `--zap-devel${where}: must be true or false, not ${JSON.stringify(zapDevel.value)}` };
    if (on && raw['log-level'] === undefined) raw['log-level'] = 'debug';
  }

  const parsed = flagsSchema.safeParse(raw);
  if (!parsed.success) {
    const message = parsed.error.issues.map((i) => {
      const name = String(i.path[0]) as FlagName;
      const where = source[name] === 'env' ? ` (from ${envName(name)})` : '';
      return `--${i.path.join('.')}${where}: ${i.message}`;
    });
    return { ok: false, help: false, message: message.join('\n') };
  }
  return { ok: true, flags: { ...parsed.data, credentialsNamespace: parsed.data['credentials-namespace'] ?? defaultCredentialsNamespace(env) } };
}
