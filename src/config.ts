// Command-line flags, validated with zod so a bad flag fails at start with a clear message.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';

const SA_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

const duration = z
  .string()
  .regex(/^\d+(\.\d+)?(ms|s|m)$/, 'must be a duration such as 500ms, 15s or 2m')
  .transform((v) => {
    const n = parseFloat(v);
    return v.endsWith('ms') ? n : v.endsWith('m') ? n * 60_000 : n * 1000;
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
  'log-level': z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  'metrics-bind-address': address.default(':8080'),
  'health-probe-bind-address': address.default(':8081'),
  'leader-elect': z.boolean().default(false),
  'leader-election-namespace': z.string().optional(),
  'leader-election-id': z.string().default('regcred-operator-leader'),
  'lease-duration': duration.default(15_000),
  'renew-deadline': duration.default(10_000),
  'retry-period': duration.default(2_000),
  'watch-inactivity-timeout': duration.default(30_000),
  'watch-stale-limit': duration.default(120_000),
  'queue-stall-limit': duration.default(300_000),
  'shutdown-timeout': duration.default(20_000),
  'kube-api-qps': z.coerce.number().positive().max(100_000).default(5000),
  'kube-api-burst': z.coerce.number().int().min(1).max(100_000).default(10000),
  'resync-period': duration.refine((v) => v >= 10_000, 'must be at least 10s').default(600_000),
  'cache-sync-timeout': duration.default(120_000),
  'reconcile-stuck-limit': duration.default(300_000),
  'status-interval': duration.default(1000),
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
  'metrics-secure': z.boolean().default(false),
  'metrics-cert-dir': z.string().min(1).optional(),
  'pod-injection': z.enum(['webhook', 'policy', 'off']).default('webhook'),
  'webhook-bind-address': address.default(':9443'),
  'webhook-url': z.url({ protocol: /^https$/ }).optional(),
  'webhook-service-name': z.string().regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a Service name').max(63).default('regcred-operator-webhook'),
  'webhook-configuration-name': z.string().max(253).regex(SECRET_NAME, 'must be an object name').default('regcred-operator'),
  'webhook-secret-name': z.string().max(253).regex(SECRET_NAME, 'must be a Secret name').default('regcred-operator-webhook-tls'),
  'webhook-certificates': z.enum(['operator', 'external']).default('operator'),
  // Off when absent; optional rather than .default(false) so the parsed defaults stay as they were.
  'remediate-pods': z.boolean().optional(),
};

/** The flags that take no value. */
const BOOLEAN_FLAGS = new Set(['leader-elect', 'metrics-secure', 'remediate-pods']);

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

export const HELP = `regcred-operator: renders RegistryCredentials into pull secrets in every matching namespace.

Usage: regcred-operator [flags]

  --kubeconfig PATH                 kubeconfig to use (default: $KUBECONFIG, ~/.kube/config, or in-cluster)
  --credentials-namespace NAME      namespace holding the source Secrets
                                    (default: the operator's own namespace, else regcred-system)
  --concurrency N                   RegistryCredentials reconciled at once (default 4)
  --max-concurrent-writes N         writes in flight within one reconcile (default 50)
  --log-level LEVEL                 trace|debug|info|warn|error|fatal|silent (default info)
  --metrics-bind-address ADDR       Prometheus metrics, [host]:port or 0 (default :8080)
  --health-probe-bind-address ADDR  /healthz and /readyz, [host]:port or 0 (default :8081)
  --leader-elect                    elect a leader through a Lease; only the leader writes
  --leader-election-namespace NAME  namespace of the Lease (default: the credentials namespace)
  --leader-election-id NAME         name of the Lease (default regcred-operator-leader)
  --lease-duration D                (default 15s)
  --renew-deadline D                (default 10s)
  --retry-period D                  (default 2s)
  --watch-inactivity-timeout D      a watch silent this long is reconnected (default 30s)
  --watch-stale-limit D             /healthz fails when a cache saw no life for this long (default 2m)
  --queue-stall-limit D             /healthz fails when a queued key waited this long (default 5m)
  --shutdown-timeout D              how long SIGTERM waits for reconciles in flight (default 20s)
  --kube-api-qps N                  client-side rate limit on API requests per second (default 5000)
  --kube-api-burst N                requests allowed above the rate in a burst (default 10000)
  --resync-period D                 every RegistryCredential is reconciled again after about this
                                    long (±10% jitter) even without events (default 10m)
  --cache-sync-timeout D            longest wait for a cache's first list (default 2m)
  --reconcile-stuck-limit D         /healthz fails when one reconcile has run this long (default 5m)
  --status-interval D               at most one status write per RegistryCredential this often; the
                                    last change of a burst is always written (default 1s)
  --digest-key-secret NAME          Secret in the credentials namespace holding the key of the
                                    digests in status, annotations and Events; created at the
                                    first start (default regcred-operator-digest-key)
  --allowed-secret-names A,B        the only Secret names RegistryCredentials may render to; the
                                    operator's RBAC grants Secrets of these names alone, and it
                                    watches nothing else (default regcred)
  --metrics-secure                  serve metrics over HTTPS, only to callers whose bearer token
                                    the API server authenticates (TokenReview) and allows to get
                                    /metrics (SubjectAccessReview)
  --metrics-cert-dir DIR            tls.crt and tls.key for --metrics-secure, re-read when they
                                    change (default: a self-signed certificate made at start)
  --pod-injection MODE              webhook: a mutating admission webhook adds the pull secret to pods
                                    created before their ServiceAccount is patched; policy: the same
                                    through a MutatingAdmissionPolicy per RegistryCredential (Kubernetes
                                    1.36+, no webhook or certificate); off (default webhook)
  --webhook-bind-address ADDR       the webhook's HTTPS endpoint, [host]:port (default :9443)
  --webhook-url URL                 how the API server reaches the webhook; default: in a cluster the
                                    Service --webhook-service-name in the operator's namespace, outside
                                    https://127.0.0.1:<bound port>/mutate-pods
  --webhook-service-name NAME       (default regcred-operator-webhook)
  --webhook-configuration-name NAME the MutatingWebhookConfiguration kept (default regcred-operator)
  --webhook-secret-name NAME        Secret in the credentials namespace with the webhook's CA and
                                    serving certificate, made and rotated by the leader
                                    (default regcred-operator-webhook-tls)
  --webhook-certificates WHO        operator: the leader makes and rotates the webhook's CA and
                                    certificate; external: another tool (cert-manager) writes the
                                    Secret (tls.crt, tls.key, ca.crt), the operator only reads it
                                    (default operator)
  --remediate-pods                  evict controller-owned pods that wait on an image pull and lack
                                    the pull secret their ServiceAccount now lists, so their
                                    controller recreates them with it (1/s, burst 5; bare pods are
                                    never touched)
  --help                            this text
`;

function defaultCredentialsNamespace(): string {
  if (process.env.POD_NAMESPACE) return process.env.POD_NAMESPACE;
  try {
    return readFileSync(SA_NAMESPACE_FILE, 'utf8').trim();
  } catch {
    return 'regcred-system';
  }
}

export type ParseResult = { ok: true; flags: Flags } | { ok: false; help: true } | { ok: false; help: false; message: string };

export function parseFlags(argv: string[]): ParseResult {
  let values: Record<string, unknown>;
  try {
    const keys = Object.keys(flagShape);
    const options = Object.fromEntries(keys.map((k) => [k, { type: BOOLEAN_FLAGS.has(k) ? 'boolean' : 'string' } as const]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true, allowPositionals: false }).values;
  } catch (err) {
    return { ok: false, help: false, message: (err as Error).message };
  }
  if (values.help) return { ok: false, help: true };
  const parsed = flagsSchema.safeParse(values);
  if (!parsed.success) {
    return { ok: false, help: false, message: parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n') };
  }
  return { ok: true, flags: { ...parsed.data, credentialsNamespace: parsed.data['credentials-namespace'] ?? defaultCredentialsNamespace() } };
}
