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
  secretKeyRef: secretKeySelectorSchema.describe(
    'A key of a Secret in the credentials namespace; the Secret must be labelled regcred.dev/source=true.',
  ),
});

export const secretRefSchema = z.object({
  secretRef: z.object({
    name: objectName.describe(
      'Name of a kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg Secret in the credentials namespace.',
    ),
  }).describe('A whole Secret in the credentials namespace; it must be labelled regcred.dev/source=true.'),
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

// Cloud registries hand out short-lived tokens instead of passwords: each of these entries names
// the registry and how to authenticate to the cloud, and the operator fetches and refreshes the token.
const HOST = '^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$';
const HTTP_URL = '^https?://[^\\s]+$';
const UUID = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** <account>.dkr.ecr[-fips].<region>.amazonaws.com[.cn]: the region is read from the host. */
export const ECR_HOST = '^[0-9]{12}[.]dkr[.]ecr(-fips)?[.]([a-z0-9-]+)[.]amazonaws[.]com([.]cn)?$';
export const MAX_TOKENS = 20;
export const TOKEN_RESULTS = ['Refreshed', 'Failed', 'Pending'] as const;
export const DEFAULT_AWS_AUDIENCE = 'sts.amazonaws.com';
export const DEFAULT_GCP_KEY = 'key.json';
export const DEFAULT_ACR_SECRET_KEY = 'clientSecret';
export const DEFAULT_AZURE_AUDIENCE = 'api://AzureADTokenExchange';

const host = z.string().min(1).max(253).regex(new RegExp(HOST), 'must be a host name, without scheme, port or path');
const httpUrl = z.string().min(1).max(2048).regex(new RegExp(HTTP_URL), 'must be an http(s) URL');
const uuid = z.string().regex(new RegExp(UUID), 'must be a UUID');
const serviceAccountName = objectName.describe('Name of a ServiceAccount in the credentials namespace; the operator requests a short-lived token for it (TokenRequest API).');

type TokenAuth = { secretRef?: unknown; serviceAccountRef?: unknown };

/** Exactly one way to authenticate to the cloud. */
function tokenAuth<S extends z.ZodType, A extends z.ZodType>(secretRef: S, serviceAccountRef: A) {
  return withRules(z.object({ secretRef: secretRef.optional(), serviceAccountRef: serviceAccountRef.optional() }), [
    {
      cel: 'has(self.secretRef) != has(self.serviceAccountRef)',
      message: 'auth needs exactly one of secretRef or serviceAccountRef',
      check: (a: TokenAuth) => (a.secretRef !== undefined) !== (a.serviceAccountRef !== undefined),
    },
  ]);
}

const secretKeyName = z.string().min(1).max(253).regex(new RegExp(SECRET_KEY), 'must consist of letters, digits, "-", "_" and "."');

export const ecrSourceSchema = withRules(
  z.object({
    registry: host.describe('The ECR registry host, <account>.dkr.ecr.<region>.amazonaws.com; the token is written for it.'),
    region: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[a-z0-9-]+$/, 'must be an AWS region such as eu-west-1')
      .optional()
      .describe('The AWS region of the registry; read from the registry host when omitted (required when the host does not name it).'),
    endpoint: httpUrl.optional().describe('Override of the ECR API endpoint (private endpoints, other partitions).'),
    auth: tokenAuth(
      z.object({ name: objectName.describe('Name of an opted-in source Secret with the keys aws_access_key_id, aws_secret_access_key and optionally aws_session_token.') })
        .describe('Static AWS access keys read from a source Secret of the credentials namespace.'),
      z.object({
        name: serviceAccountName,
        audience: z.string().min(1).max(256).optional().describe(`The audience of the ServiceAccount token (default ${DEFAULT_AWS_AUDIENCE}).`),
        roleARN: z.string().min(20).max(2048).regex(/^arn:aws[a-z-]*:iam::[0-9]{12}:role\/.+$/, 'must be an IAM role ARN').describe('The IAM role assumed with the ServiceAccount token (STS AssumeRoleWithWebIdentity).'),
        stsEndpoint: httpUrl.optional().describe('Override of the STS endpoint.'),
      }).describe('Keyless: a ServiceAccount token of the credentials namespace, traded for the role\'s temporary credentials.'),
    ).describe('How the operator authenticates to AWS: exactly one of secretRef or serviceAccountRef.'),
  }),
  [
    {
      cel: `has(self.region) || self.registry.matches('${ECR_HOST}')`,
      message: 'ecr.region is required when the registry host does not name the region',
      check: (e: { registry: string; region?: string | undefined }) => e.region !== undefined || new RegExp(ECR_HOST).test(e.registry),
    },
  ],
);

export const artifactRegistrySourceSchema = z.object({
  servers: withRules(z.array(host).min(1).max(MAX_REGISTRIES), [
    {
      cel: 'self.all(a, self.filter(b, b == a).size() == 1)',
      message: 'artifactRegistry.servers must not list a host twice',
      check: (list: string[]) => new Set(list).size === list.length,
    },
  ]).describe('Artifact Registry hosts such as europe-docker.pkg.dev; the token is written for each, with the user name oauth2accesstoken.'),
  tokenURI: httpUrl.optional().describe("Override of the OAuth2 token endpoint: for a key, instead of the key's token_uri; for a ServiceAccount, the STS endpoint."),
  auth: tokenAuth(
    z.object({
      name: objectName.describe('Name of an opted-in source Secret holding a Google service-account JSON key.'),
      key: secretKeyName.optional().describe(`Key of the Secret holding the JSON key (default ${DEFAULT_GCP_KEY}).`),
    }).describe('A Google service-account key read from a source Secret of the credentials namespace.'),
    z.object({
      name: serviceAccountName,
      audience: z.string().min(1).max(1024).describe('The workload identity pool provider: //iam.googleapis.com/projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>.'),
      serviceAccountEmail: z.string().min(3).max(256).regex(/^[^@\s]+@[^@\s]+$/, 'must be an e-mail address').optional().describe('A Google service account to impersonate after the STS exchange.'),
      impersonationURL: httpUrl.optional().describe('Override of the IAM credentials endpoint used for impersonation.'),
    }).describe('Keyless: a ServiceAccount token of the credentials namespace, exchanged through workload identity federation.'),
  ).describe('How the operator authenticates to Google Cloud: exactly one of secretRef or serviceAccountRef.'),
});

export const acrSourceSchema = z.object({
  server: z.string().min(1).max(253).regex(new RegExp(SERVER), 'must be host[:port]').describe('The registry, such as myregistry.azurecr.io; the token is written for it with the user name 00000000-0000-0000-0000-000000000000.'),
  tenantID: uuid.describe('The Microsoft Entra tenant.'),
  clientID: uuid.describe('The application (client) ID of the app registration or managed identity.'),
  authorityHost: httpUrl.optional().describe('Override of the Microsoft Entra authority host (sovereign clouds).'),
  auth: tokenAuth(
    z.object({
      name: objectName.describe('Name of an opted-in source Secret holding the client secret.'),
      key: secretKeyName.optional().describe(`Key of the Secret holding the client secret (default ${DEFAULT_ACR_SECRET_KEY}).`),
    }).describe('A client secret read from a source Secret of the credentials namespace.'),
    z.object({
      name: serviceAccountName,
      audience: z.string().min(1).max(256).optional().describe(`The audience of the ServiceAccount token (default ${DEFAULT_AZURE_AUDIENCE}).`),
    }).describe('Keyless: a ServiceAccount token of the credentials namespace, presented as a federated identity credential.'),
  ).describe('How the operator authenticates to Microsoft Entra ID: exactly one of secretRef or serviceAccountRef.'),
});

type Entry = {
  server?: string | undefined;
  username?: string | undefined;
  usernameFrom?: unknown;
  passwordFrom?: unknown;
  email?: string | undefined;
  dockerConfigFrom?: unknown;
  ecr?: unknown;
  artifactRegistry?: unknown;
  acr?: unknown;
};

const TOKEN_KINDS = ['ecr', 'artifactRegistry', 'acr'] as const;

const entryRules: Rule<Entry>[] = [
  {
    cel: '[has(self.server), has(self.dockerConfigFrom), has(self.ecr), has(self.artifactRegistry), has(self.acr)].filter(x, x).size() == 1',
    message: 'each registry entry needs exactly one of server or dockerConfigFrom, or one cloud token source: ecr, artifactRegistry or acr',
    check: (e) => [e.server, e.dockerConfigFrom, e.ecr, e.artifactRegistry, e.acr].filter((v) => v !== undefined).length === 1,
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
  {
    cel: '!(has(self.ecr) || has(self.artifactRegistry) || has(self.acr)) || !(has(self.username) || has(self.usernameFrom) || has(self.passwordFrom) || has(self.email))',
    message: 'ecr, artifactRegistry and acr cannot be combined with username, usernameFrom, passwordFrom or email: the cloud issues the credentials',
    check: (e) =>
      TOKEN_KINDS.every((k) => e[k] === undefined) ||
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
    ecr: ecrSourceSchema.optional().describe('Amazon ECR: a 12-hour token from GetAuthorizationToken, refreshed before it expires.'),
    artifactRegistry: artifactRegistrySourceSchema
      .optional()
      .describe('Google Artifact Registry: an OAuth2 access token (user oauth2accesstoken), refreshed before it expires.'),
    acr: acrSourceSchema.optional().describe('Azure Container Registry: a refresh token from the registry\'s token exchange, refreshed before it expires.'),
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
  key: z.string().min(1).max(317).describe('The label key the requirement applies to.'),
  operator: z
    .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
    .describe('In: the label is set to one of values. NotIn: the label is absent or set to none of values. Exists: the label is set. DoesNotExist: it is not.'),
  values: z
    .array(z.string().max(63))
    .max(100)
    .optional()
    .describe('The values In and NotIn compare with; Exists and DoesNotExist ignore them.'),
});

export const labelSelectorSchema = z.object({
  matchLabels: z
    .record(z.string(), z.string().max(63))
    .optional()
    .describe('Labels an object must carry with exactly these values; ANDed with matchExpressions.'),
  matchExpressions: z
    .array(labelSelectorRequirementSchema)
    .max(20)
    .optional()
    .describe('Label requirements an object must all meet; ANDed with matchLabels.'),
});

const glob = z.string().min(1).max(253);

export const namespaceSelectionSchema = z.object({
  selector: labelSelectorSchema.optional().describe('Namespaces whose labels match.'),
  include: z.array(glob).max(100).optional().describe("Name globs a namespace must match; omitted means all. The operator's credentials namespace is matched only when listed by its exact name, never by a glob."),
  exclude: z
    .array(glob)
    .max(100)
    .optional()
    .describe("Name globs never matched; omitted means kube-system, kube-public and kube-node-lease. The operator's credentials namespace is never matched either, unless include lists it by its exact name."),
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
  suspend: z
    .boolean()
    .optional()
    .describe('While true nothing is written to Secrets or ServiceAccounts (Ready has reason Suspended); deleting the object still cleans up.'),
});

export const conditionSchema = z.object({
  type: z.string().max(316).describe('The aspect the condition reports on, such as Ready (propagation to the namespaces) or CredentialsValid (the registries accept the credentials).'),
  status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
  reason: z.string().max(1024).describe('A CamelCase word for why the condition has its status, such as Synced, PartiallySynced or SourceNotFound.'),
  message: z.string().max(32768).describe('What a person needs to know about the status; it names Secrets and keys, never their content.'),
  observedGeneration: z.int().min(0).optional().describe('The metadata.generation of the spec the condition was computed from.'),
  lastTransitionTime: z.string().meta({ format: 'date-time' }).describe('When the status last changed between True, False and Unknown.'),
});

export const failureSchema = z.object({
  namespace: z.string().max(253).describe('The namespace that failed.'),
  reason: z.string().max(1024).describe('SecretConflict (a Secret of that name that this credential does not own is there) or WriteFailed (the API server refused or failed a write; retried with backoff).'),
  message: z.string().max(4096).describe('What failed in that namespace.'),
});

export const registryStatusSchema = z.object({
  server: z.string().max(300).describe('The registry as written in the rendered config.'),
  result: z.enum(VALIDATION_RESULTS).describe('What the registry answered to the credentials.'),
  message: z.string().max(1024).describe('What the registry answered, without any credential or token.'),
  checkedAt: z.string().meta({ format: 'date-time' }).describe('When the registry was last checked.'),
  insecureSkipTLSVerify: z.boolean().optional().describe('The certificate was not verified (insecureSkipTLSVerify).'),
  plainHTTP: z.boolean().optional().describe('The registry speaks plain HTTP: the credentials travel unencrypted.'),
});

export const tokenStatusSchema = z.object({
  source: z.string().max(512).describe('The entry and what it fetches a token for, such as "registries[0] ecr 123456789012.dkr.ecr.eu-west-1.amazonaws.com".'),
  result: z.enum(TOKEN_RESULTS).describe('Refreshed: the last fetch succeeded. Failed: it failed (the last good token, if any, is used until expiresAt). Pending: no token yet.'),
  expiresAt: z.string().meta({ format: 'date-time' }).optional().describe('When the token in use expires, as the cloud says.'),
  refreshedAt: z.string().meta({ format: 'date-time' }).optional().describe('When the token in use was fetched.'),
  code: z.string().max(256).optional().describe("The cloud's error code of the last failed fetch, such as AccessDeniedException or invalid_grant."),
  message: z.string().max(1024).optional().describe('What failed, without any credential or token.'),
});

export const registryCredentialStatusSchema = z.object({
  // -1 until the operator writes a status (the CRD default at the end of this object), so that
  // kstatus and Flux see an unobserved generation, not a finished object, before the first reconcile.
  observedGeneration: z.int().min(-1).optional().describe('The metadata.generation of the spec this status describes; lower than metadata.generation while the operator has not seen the latest spec.'),
  conditions: z.array(conditionSchema).max(8).meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }).optional().describe('Ready: every matched namespace holds the Secret and every selected ServiceAccount the entry. Reconciling (True while work is in progress) and Stalled (True while it cannot go on without new input) follow kstatus: absent otherwise. CredentialsValid: every registry accepts the credentials.'),
  namespaces: z
    .object({
      matched: z.int().min(0).describe('Namespaces the selection matches.'),
      synced: z.int().min(0).describe('Matched namespaces whose Secret and ServiceAccount entries are in place.'),
      failed: z.int().min(0).describe('Matched namespaces that failed; see failures.'),
    })
    .optional()
    .describe('Counts of the namespaces this credential selects.'),
  serviceAccounts: z
    .object({ patched: z.int().min(0).describe('Selected ServiceAccounts that list the Secret in imagePullSecrets.') })
    .optional()
    .describe('Counts of the ServiceAccounts this credential selects.'),
  failures: z.array(failureSchema).max(MAX_FAILURES).optional().describe(`The namespaces that failed, sorted by name, at most ${MAX_FAILURES}.`),
  credentialHash: z.string().max(100).optional().describe('HMAC-SHA256 of the rendered config under a random key of the installation; never the config itself, nor a plain hash of it.'),
  lastSyncTime: z.string().meta({ format: 'date-time' }).optional().describe('When a reconcile last wrote something or changed the status; a reconcile that finds everything in place leaves it.'),
  lastRotationTime: z.string().meta({ format: 'date-time' }).optional().describe('When the rendered credentials last changed (a rotation).'),
  registries: z.array(registryStatusSchema).max(MAX_VALIDATED_REGISTRIES).optional().describe('The last check of the credentials against each registry.'),
  tokens: z.array(tokenStatusSchema).max(MAX_TOKENS).optional().describe('The short-lived cloud token of each ecr, artifactRegistry and acr entry.'),
  lastHandledReconcileAt: z.string().max(256).optional().describe('The value of the annotation reconcile.regcred.dev/requestedAt that the last reconcile handled.'),
}).meta({ default: { observedGeneration: -1 } });

export type RegistryEntry = z.output<typeof registryEntrySchema>;
export type LabelSelector = z.output<typeof labelSelectorSchema>;
export type RegistryCredentialSpec = z.output<typeof registryCredentialSpecSchema>;
export type RegistryCredentialStatus = z.output<typeof registryCredentialStatusSchema>;
export type Condition = z.output<typeof conditionSchema>;
export type Failure = z.output<typeof failureSchema>;
export type RegistryStatus = z.output<typeof registryStatusSchema>;
export type EcrSource = z.output<typeof ecrSourceSchema>;
export type ArtifactRegistrySource = z.output<typeof artifactRegistrySourceSchema>;
export type AcrSource = z.output<typeof acrSourceSchema>;
export type TokenStatus = z.output<typeof tokenStatusSchema>;
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
