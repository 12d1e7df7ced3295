// The RegistryCredential API. This file is the single source of truth: the CRD's OpenAPI schema and
// its CEL rules are generated from it (src/api/crd.ts), and the operator validates every object it
// reads with it, so a spec that slips past the API server still gets a clear InvalidSpec status.
import { z } from 'zod';

export const GROUP = 'regcred.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = 'RegistryCredential';
export const PLURAL = 'registrycredentials';
export const SINGULAR = 'registrycredential';
export const SHORT_NAMES = ['regcred'];

export const DEFAULT_EXCLUDED_NAMESPACES = ['kube-system', 'kube-public', 'kube-node-lease'];
export const DEFAULT_SERVICE_ACCOUNTS = ['default'];
export const MAX_REGISTRIES = 20;
export const MAX_FAILURES = 20;
/** Registries listed in status.registries: a dockerConfigFrom entry can bring many. */
export const MAX_VALIDATED_REGISTRIES = 50;
export const DEFAULT_VALIDATION_INTERVAL = '1h';
export const VALIDATION_RESULTS = ['Valid', 'Unauthorized', 'Unreachable', 'TLSError', 'Unexpected'] as const;

// Each rule is written once and used twice: as a CEL rule in the CRD and as a zod refinement.
interface Rule<T> {
  cel: string;
  message: string;
  check: (value: T) => boolean;
  path?: string[];
}

function withRules<S extends z.ZodType>(schema: S, rules: Rule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, ctx) => {
    for (const rule of rules) {
      if (!rule.check(value)) ctx.addIssue({ code: 'custom', message: rule.message, path: rule.path ?? [] });
    }
  });
  return refined.meta({
    'x-kubernetes-validations': rules.map((r) => ({ rule: r.cel, message: r.message })),
  }) as unknown as S;
}

const DNS1123_SUBDOMAIN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
const SECRET_KEY = '^[-._a-zA-Z0-9]+$';
// host[:port][/path], optionally with an http(s) scheme as docker's own config files write it.
const SERVER = '^(https?://)?[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[-A-Za-z0-9._~/]*)?$';

const objectName = z
  .string()
  .min(1)
  .max(253)
  .regex(new RegExp(DNS1123_SUBDOMAIN), 'must be a DNS-1123 subdomain (lowercase letters, digits, "-" and ".")');

export const secretKeySelectorSchema = z.object({
  name: objectName.describe('Name of a Secret in the credentials namespace.'),
  key: z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(SECRET_KEY), 'must consist of letters, digits, "-", "_" and "."')
    .describe('Key within the Secret.'),
});

export const valueFromSchema = z.object({
  secretKeyRef: secretKeySelectorSchema,
});

export const secretRefSchema = z.object({
  secretRef: z.object({
    name: objectName.describe(
      'Name of a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg Secret in the credentials namespace.',
    ),
  }),
});

export const configMapKeySelectorSchema = z.object({
  name: objectName.describe('Name of a ConfigMap in the credentials namespace.'),
  key: z
    .string()
    .min(1)
    .max(253)
    .regex(new RegExp(SECRET_KEY), 'must consist of letters, digits, "-", "_" and "."')
    .describe('Key within the ConfigMap.'),
});

type CaBundleFrom = { secretKeyRef?: unknown; configMapKeyRef?: unknown };

export const caBundleFromSchema = withRules(
  z.object({
    secretKeyRef: secretKeySelectorSchema.optional().describe('A key of a Secret in the credentials namespace (it must opt in as a source).'),
    configMapKeyRef: configMapKeySelectorSchema.optional().describe('A key of a ConfigMap in the credentials namespace.'),
  }),
  [
    {
      cel: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
      message: 'caBundleFrom needs exactly one of secretKeyRef or configMapKeyRef',
      check: (c: CaBundleFrom) => (c.secretKeyRef !== undefined) !== (c.configMapKeyRef !== undefined),
    },
  ],
);

type Entry = {
  server?: string | undefined;
  username?: string | undefined;
  usernameFrom?: unknown;
  passwordFrom?: unknown;
  email?: string | undefined;
  dockerConfigFrom?: unknown;
};

const entryRules: Rule<Entry>[] = [
  {
    cel: 'has(self.server) != has(self.dockerConfigFrom)',
    message: 'each registry entry needs exactly one of server or dockerConfigFrom',
    check: (e) => (e.server !== undefined) !== (e.dockerConfigFrom !== undefined),
  },
  {
    cel: '!has(self.server) || (has(self.username) != has(self.usernameFrom))',
    message: 'a server entry needs exactly one of username or usernameFrom',
    check: (e) => e.server === undefined || (e.username !== undefined) !== (e.usernameFrom !== undefined),
  },
  {
    cel: '!has(self.server) || has(self.passwordFrom)',
    message: 'a server entry needs passwordFrom: passwords are only read from Secrets, never written in the spec',
    check: (e) => e.server === undefined || e.passwordFrom !== undefined,
  },
  {
    cel: '!has(self.dockerConfigFrom) || !(has(self.username) || has(self.usernameFrom) || has(self.passwordFrom) || has(self.email))',
    message: 'dockerConfigFrom cannot be combined with username, usernameFrom, passwordFrom or email',
    check: (e) =>
      e.dockerConfigFrom === undefined ||
      [e.username, e.usernameFrom, e.passwordFrom, e.email].every((v) => v === undefined),
  },
];

export const registryEntrySchema = withRules(
  z.object({
    server: z
      .string()
      .min(1)
      .max(253)
      .regex(new RegExp(SERVER), 'must be host[:port][/path]')
      .optional()
      .describe(
        'Registry host[:port][/path]. docker.io, index.docker.io and registry-1.docker.io all render as https://index.docker.io/v1/ (with a repository path, as docker.io/<path>); a /v1/ or /v2/ path means the whole host.',
      ),
    username: z.string().min(1).max(256).optional().describe('Literal user name.'),
    usernameFrom: valueFromSchema.optional().describe('User name read from a Secret key.'),
    passwordFrom: valueFromSchema.optional().describe('Password or token read from a Secret key.'),
    email: z.string().max(256).optional().describe('Optional e-mail written into the entry.'),
    dockerConfigFrom: secretRefSchema
      .optional()
      .describe('Merge every registry of an existing dockerconfigjson or dockercfg Secret.'),
    caBundleFrom: caBundleFromSchema
      .optional()
      .describe("Validation only: PEM CA certificates, besides the system roots, that this entry's registries may present a certificate from."),
    insecureSkipTLSVerify: z
      .boolean()
      .optional()
      .describe("Validation only: do not verify this entry's registries' TLS certificates (shown in status). Off by default."),
  }),
  entryRules,
);

// Go-style durations of hours, minutes and seconds: 90s, 30m, 1h, 1h30m.
const DURATION = '^([0-9]+h)?([0-9]+m)?([0-9]+s)?$';

/** Milliseconds of a duration such as 1h30m; NaN when it is not one. */
export function durationMs(value: string): number {
  const m = new RegExp(DURATION).exec(value);
  if (!m || value === '') return NaN;
  const [h, min, sec] = [m[1], m[2], m[3]].map((part) => (part ? Number(part.slice(0, -1)) : 0));
  return ((h! * 60 + min!) * 60 + sec!) * 1000;
}

export const validationSchema = z.object({
  enabled: z.boolean().optional().describe('Check that the credentials open each registry (default true). Never blocks or delays propagation.'),
  interval: withRules(z.string().min(2).max(32), [
    {
      cel: `self.matches('${DURATION}') && self != ''`,
      message: 'interval must be a duration of hours, minutes and seconds such as 30m or 1h',
      check: (v: string) => !Number.isNaN(durationMs(v)),
    },
  ])
    .optional()
    .describe(`How often the credentials are checked again, jittered (default ${DEFAULT_VALIDATION_INTERVAL}, at least 1m); they are also checked on every change of the rendered config and when the annotation regcred.dev/validate-requested-at changes.`),
});

const labelSelectorRequirementSchema = z.object({
  key: z.string().min(1).max(317),
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: z.array(z.string().max(63)).max(100).optional(),
});

export const labelSelectorSchema = z.object({
  matchLabels: z.record(z.string(), z.string().max(63)).optional(),
  matchExpressions: z.array(labelSelectorRequirementSchema).max(20).optional(),
});

const glob = z.string().min(1).max(253);

export const namespaceSelectionSchema = z.object({
  selector: labelSelectorSchema.optional().describe('Namespaces whose labels match.'),
  include: z.array(glob).max(100).optional().describe('Name globs a namespace must match; omitted means all.'),
  exclude: z
    .array(glob)
    .max(100)
    .optional()
    .describe('Name globs never matched; omitted means kube-system, kube-public and kube-node-lease.'),
});

export const serviceAccountSelectionSchema = z.object({
  names: z
    .array(z.string().min(1).max(253))
    .max(100)
    .optional()
    .describe('ServiceAccount names to patch; "*" means every ServiceAccount; omitted means ["default"].'),
  selector: labelSelectorSchema.optional().describe('ServiceAccounts whose labels match, ORed with names.'),
});

type Registries = Entry[];

export const registryCredentialSpecSchema = z.object({
  registries: withRules(z.array(registryEntrySchema).min(1).max(MAX_REGISTRIES), [
    {
      cel: 'self.all(a, !has(a.server) || self.filter(b, has(b.server) && b.server == a.server).size() == 1)',
      message: 'registries must not list the same server twice',
      check: (list: Registries) => {
        const servers = list.flatMap((e) => (e.server === undefined ? [] : [e.server]));
        return new Set(servers).size === servers.length;
      },
    },
  ]).describe('Registries merged, in order, into one .dockerconfigjson.'),
  secretName: withRules(z.string().min(1).max(253), [
    {
      cel: `self.matches('${DNS1123_SUBDOMAIN}')`,
      message: 'secretName must be a valid Secret name: lowercase letters, digits, "-" and ".", starting and ending with a letter or digit',
      check: (s: string) => new RegExp(DNS1123_SUBDOMAIN).test(s),
    },
  ])
    .optional()
    .describe("Name of the Secret in every target namespace; defaults to metadata.name. Must be one of the operator's allowed Secret names (--allowed-secret-names, default regcred), or the credential reports SecretNameNotAllowed."),
  namespaces: namespaceSelectionSchema.optional().describe('Which namespaces receive the Secret; a namespace must pass every part given.'),
  serviceAccounts: serviceAccountSelectionSchema.optional().describe('Which ServiceAccounts list the Secret in imagePullSecrets.'),
  deletionPolicy: z
    .enum(['Delete', 'Retain'])
    .optional()
    .describe('Delete (default) removes our Secrets and ServiceAccount entries when a namespace stops matching or this object is deleted; Retain leaves them.'),
  validation: validationSchema.optional().describe('Checking the credentials against the registries (status.registries, condition CredentialsValid).'),
});

export const conditionSchema = z.object({
  type: z.string().max(316),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z.string().max(1024),
  message: z.string().max(32768),
  observedGeneration: z.int().min(0).optional(),
  lastTransitionTime: z.string().meta({ format: 'date-time' }),
});

export const failureSchema = z.object({
  namespace: z.string().max(253),
  reason: z.string().max(1024),
  message: z.string().max(4096),
});

export const registryStatusSchema = z.object({
  server: z.string().max(300).describe('The registry as written in the rendered config.'),
  result: z.enum(VALIDATION_RESULTS).describe('What the registry answered to the credentials.'),
  message: z.string().max(1024),
  checkedAt: z.string().meta({ format: 'date-time' }),
  insecureSkipTLSVerify: z.boolean().optional().describe('The certificate was not verified (insecureSkipTLSVerify).'),
  plainHTTP: z.boolean().optional().describe('The registry speaks plain HTTP: the credentials travel unencrypted.'),
});

export const registryCredentialStatusSchema = z.object({
  observedGeneration: z.int().min(0).optional(),
  conditions: z.array(conditionSchema).max(8).optional(),
  namespaces: z
    .object({ matched: z.int().min(0), synced: z.int().min(0), failed: z.int().min(0) })
    .optional(),
  serviceAccounts: z.object({ patched: z.int().min(0) }).optional(),
  failures: z.array(failureSchema).max(MAX_FAILURES).optional(),
  credentialHash: z.string().max(100).optional().describe('HMAC-SHA256 of the rendered config under a random key of the installation; never the config itself, nor a plain hash of it.'),
  lastSyncTime: z.string().meta({ format: 'date-time' }).optional(),
  lastRotationTime: z.string().meta({ format: 'date-time' }).optional(),
  registries: z.array(registryStatusSchema).max(MAX_VALIDATED_REGISTRIES).optional().describe('The last check of the credentials against each registry.'),
});

export type RegistryEntry = z.output<typeof registryEntrySchema>;
export type LabelSelector = z.output<typeof labelSelectorSchema>;
export type RegistryCredentialSpec = z.output<typeof registryCredentialSpecSchema>;
export type RegistryCredentialStatus = z.output<typeof registryCredentialStatusSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type Failure = z.output<typeof failureSchema>;
export type RegistryStatus = z.output<typeof registryStatusSchema>;
export type ValidationResult = (typeof VALIDATION_RESULTS)[number];

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface RegistryCredential {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: RegistryCredentialSpec;
  status?: RegistryCredentialStatus;
}

/** The spec with every default applied; what the controller works from. */
export interface ResolvedSpec {
  registries: RegistryEntry[];
  secretName: string;
  namespaces: { selector?: LabelSelector; include?: string[]; exclude: string[] };
  serviceAccounts: { names: string[]; selector?: LabelSelector };
  deletionPolicy: 'Delete' | 'Retain';
  validation: { enabled: boolean; intervalMs: number };
}

/** Checks less often than this would only load the registries. */
export const MIN_VALIDATION_INTERVAL_MS = 60_000;

export type SpecResult = { ok: true; spec: ResolvedSpec } | { ok: false; message: string };

/** Validates a spec read from the API server and fills in the defaults. */
export function resolveSpec(name: string, rawSpec: unknown): SpecResult {
  const parsed = registryCredentialSpecSchema.safeParse(rawSpec);
  if (!parsed.success) {
    const message = parsed.error.issues
      .map((i) => `spec${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${i.message}`)
      .join('; ');
    return { ok: false, message };
  }
  const s = parsed.data;
  const secretName = s.secretName ?? name;
  if (!new RegExp(DNS1123_SUBDOMAIN).test(secretName)) {
    return { ok: false, message: `spec.secretName: defaulted to metadata.name "${name}", which is not a valid Secret name` };
  }
  return {
    ok: true,
    spec: {
      registries: s.registries,
      secretName,
      namespaces: {
        ...(s.namespaces?.selector ? { selector: s.namespaces.selector } : {}),
        ...(s.namespaces?.include ? { include: s.namespaces.include } : {}),
        exclude: s.namespaces?.exclude ?? DEFAULT_EXCLUDED_NAMESPACES,
      },
      serviceAccounts: {
        names: s.serviceAccounts?.names ?? DEFAULT_SERVICE_ACCOUNTS,
        ...(s.serviceAccounts?.selector ? { selector: s.serviceAccounts.selector } : {}),
      },
      deletionPolicy: s.deletionPolicy ?? 'Delete',
      validation: {
        enabled: s.validation?.enabled ?? true,
        intervalMs: Math.max(MIN_VALIDATION_INTERVAL_MS, durationMs(s.validation?.interval ?? DEFAULT_VALIDATION_INTERVAL)),
      },
    },
  };
}
