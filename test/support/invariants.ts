// An oracle for the operator's end state, read from the live cluster (never from the operator's
// caches): what must hold for a set of RegistryCredentials once the operator has converged. It
// returns the violations as sentences (empty when all is well); `converge` polls it until it is
// empty or a timeout passes. The label, annotation and reason strings are the operator's public
// contract and are written out here on purpose, not imported from src/.
import { isDeepStrictEqual } from 'node:util';
import { createHmac } from 'node:crypto';
import { isNotFound, RESOURCES, type KubeClient, type Resource } from '../../src/kube/client.ts';

const MANAGED_BY = 'app.kubernetes.io/managed-by';
const MANAGED_BY_VALUE = 'regcred-operator';
const CREDENTIAL_LABEL = 'regcred.dev/credential';
const HASH_ANNOTATION = 'regcred.dev/credential-hash';
/** The Secrets holding an operator's digest key (one per operator namespace in a test run). */
const DIGEST_KEY_SELECTOR = 'app.kubernetes.io/name=regcred-operator,app.kubernetes.io/component=digest-key';
const SA_ENTRIES = 'regcred.dev/managed-pull-secrets';
const IGNORE_LABEL = 'regcred.dev/ignore';
const DOCKERCONFIGJSON = 'kubernetes.io/dockerconfigjson';

export interface AuthExpectation {
  username: string;
  password: string;
  email?: string;
}

/** Registry key as written in .dockerconfigjson (e.g. "registry.acme.io") → credentials. */
export type ExpectedAuths = Record<string, AuthExpectation>;

export interface CredentialExpectation {
  name: string;
  secretName: string;
  /** Namespaces where this credential must hold the Secret and its ServiceAccount entries. */
  namespaces: string[];
  /** Matched namespaces where the Secret name belongs to someone else: matched and failed, nothing of ours. */
  conflicted?: string[];
  /** Selected ServiceAccount names, or '*' for all; default ['default']. */
  serviceAccounts?: string[] | '*';
  auths: ExpectedAuths;
  deletionPolicy?: 'Delete' | 'Retain';
  /** 'counts' (default): status counts, observedGeneration and Ready must agree; 'skip': not checked. */
  status?: 'counts' | 'skip';
}

export interface DeletedExpectation {
  name: string;
  secretName: string;
  deletionPolicy: 'Delete' | 'Retain';
  /** Retain: namespaces that must still hold the Secret (and its entries), free of any ownerReference to it. */
  retainedIn?: string[];
  serviceAccounts?: string[] | '*';
  /** Retain: the bytes the retained Secrets must still carry. */
  auths?: ExpectedAuths;
}

export interface Expectation {
  credentials: CredentialExpectation[];
  /** RegistryCredentials that must be gone. */
  deleted?: DeletedExpectation[];
  /** Namespaces the checker scans for leftovers ("nothing of ours outside the matched set"). */
  inScope: (namespace: string) => boolean;
  /** 'namespace/serviceAccount' → entries someone else added: each must be there exactly once. */
  foreignEntries?: Record<string, string[]>;
  /** 'namespace/serviceAccount' → entries that must not be there (removed by whoever added them). */
  absentEntries?: Record<string, string[]>;
  /** 'namespace/name' → resourceVersion of a Secret we do not manage, taken earlier: it must not change. */
  unmanagedSecrets?: Record<string, string>;
}

interface Meta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
}
interface SecretObj { metadata: Meta; type?: string; data?: Record<string, string> }
interface SaObj { metadata: Meta; imagePullSecrets?: Array<{ name?: string }> }
interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number }
interface RcObj {
  metadata: Meta;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    namespaces?: { matched: number; synced: number; failed: number };
    serviceAccounts?: { patched: number };
  };
}

export const prefixScope = (prefix: string) => (ns: string) => ns.startsWith(prefix);

export function expectedConfig(auths: ExpectedAuths): { auths: Record<string, Record<string, string>> } {
  const out: Record<string, Record<string, string>> = {};
  for (const [registry, a] of Object.entries(auths)) {
    out[registry] = {
      username: a.username,
      password: a.password,
      auth: Buffer.from(`${a.username}:${a.password}`, 'utf8').toString('base64'),
      ...(a.email ? { email: a.email } : {}),
    };
  }
  return { auths: out };
}

async function listAll<T>(client: KubeClient, res: Resource, labelSelector?: string): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const page = await client.list<T>(res, undefined, { limit: 500, ...(cont ? { continue: cont } : {}), ...(labelSelector ? { labelSelector } : {}) });
    items.push(...page.items);
    cont = page.metadata.continue || undefined;
  } while (cont);
  return items;
}

const entries = (sa: SaObj) => (sa.imagePullSecrets ?? []).map((e) => e.name ?? '');
const ourAnnotated = (sa: SaObj) => (sa.metadata.annotations?.[SA_ENTRIES] ?? '').split(',').filter(Boolean);
const count = (list: string[], name: string) => list.filter((n) => n === name).length;

function selects(names: string[] | '*' | undefined, sa: SaObj): boolean {
  if (sa.metadata.labels?.[IGNORE_LABEL] === 'true') return false;
  const wanted = names ?? ['default'];
  return wanted === '*' || wanted.includes('*') || wanted.includes(sa.metadata.name);
}

/** Checks every invariant once; returns one sentence per violation, empty when all hold. */
export async function checkInvariants(client: KubeClient, expectation: Expectation): Promise<string[]> {
  const v: string[] = [];
  const managed = await listAll<SecretObj>(client, RESOURCES.secrets, `${MANAGED_BY}=${MANAGED_BY_VALUE}`);
  const digestKeys = (await listAll<SecretObj>(client, RESOURCES.secrets, DIGEST_KEY_SELECTOR)).map((s) => Buffer.from(s.data?.key ?? '', 'base64'));
  const serviceAccounts = await listAll<SaObj>(client, RESOURCES.serviceAccounts);
  const saIn = new Map<string, SaObj[]>();
  for (const sa of serviceAccounts) {
    const ns = sa.metadata.namespace!;
    if (!saIn.has(ns)) saIn.set(ns, []);
    saIn.get(ns)!.push(sa);
  }
  const managedOf = (credential: string) => managed.filter((s) => s.metadata.labels?.[CREDENTIAL_LABEL] === credential);

  // Who may hold an annotated entry of a Secret name in a ServiceAccount: a live credential of that
  // name that owns the namespace and selects the ServiceAccount, or anything under Retain.
  const entryHolder = (secretName: string, ns: string, sa: SaObj) =>
    expectation.credentials.some((c) => c.secretName === secretName && (c.deletionPolicy === 'Retain' || (c.namespaces.includes(ns) && selects(c.serviceAccounts, sa)))) ||
    (expectation.deleted ?? []).some((d) => d.secretName === secretName && d.deletionPolicy === 'Retain');

  for (const c of expectation.credentials) {
    const mine = managedOf(c.name);
    const owned = new Set(c.namespaces);
    const wantConfig = expectedConfig(c.auths);
    let synced = 0;
    let patched = 0;
    for (const ns of c.namespaces) {
      const before = v.length;
      const here = mine.filter((s) => s.metadata.namespace === ns);
      if (here.length !== 1) v.push(`${c.name}: ${ns} holds ${here.length} managed Secrets, want exactly 1 (${c.secretName})`);
      const secret = here.find((s) => s.metadata.name === c.secretName);
      if (!secret) {
        if (here.length === 1) v.push(`${c.name}: ${ns} managed Secret is named ${here[0]!.metadata.name}, want ${c.secretName}`);
      } else {
        v.push(...secretProblems(`${c.name}: ${ns}/${c.secretName}`, secret, wantConfig, digestKeys));
      }
      for (const sa of saIn.get(ns) ?? []) {
        if (!selects(c.serviceAccounts, sa)) continue;
        const n = count(entries(sa), c.secretName);
        if (n === 1) patched++;
        else v.push(`${c.name}: ServiceAccount ${ns}/${sa.metadata.name} lists ${c.secretName} ${n} times, want exactly once`);
      }
      if (v.length === before) synced++;
    }
    for (const ns of c.conflicted ?? []) {
      if (mine.some((s) => s.metadata.namespace === ns)) v.push(`${c.name}: holds a Secret in ${ns}, where the name belongs to someone else`);
    }
    if ((c.deletionPolicy ?? 'Delete') === 'Delete') {
      for (const s of mine) {
        const ns = s.metadata.namespace!;
        if (expectation.inScope(ns) && !owned.has(ns)) v.push(`${c.name}: managed Secret ${ns}/${s.metadata.name} outside the matched set`);
      }
    }
    if (c.status !== 'skip') v.push(...(await statusProblems(client, c, synced, patched)));
  }

  for (const d of expectation.deleted ?? []) {
    const rc = await client.get<RcObj>(RESOURCES.registryCredentials, undefined, d.name).then((r) => r, (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (rc) v.push(`${d.name}: RegistryCredential still exists (deletionTimestamp ${JSON.stringify((rc.metadata as { deletionTimestamp?: string }).deletionTimestamp ?? null)})`);
    const mine = managedOf(d.name);
    if (d.deletionPolicy === 'Delete') {
      for (const s of mine) if (expectation.inScope(s.metadata.namespace!)) v.push(`${d.name} (deleted, Delete): Secret ${s.metadata.namespace}/${s.metadata.name} left behind`);
      for (const sa of serviceAccounts) {
        const ns = sa.metadata.namespace!;
        if (!expectation.inScope(ns) || entryHolder(d.secretName, ns, sa)) continue;
        const foreign = expectation.foreignEntries?.[`${ns}/${sa.metadata.name}`] ?? [];
        if (ourAnnotated(sa).includes(d.secretName)) v.push(`${d.name} (deleted, Delete): ServiceAccount ${ns}/${sa.metadata.name} still records ${d.secretName} as ours`);
        if (entries(sa).includes(d.secretName) && !foreign.includes(d.secretName)) v.push(`${d.name} (deleted, Delete): ServiceAccount ${ns}/${sa.metadata.name} still lists ${d.secretName}`);
      }
    } else {
      const want = d.auths ? expectedConfig(d.auths) : undefined;
      for (const ns of d.retainedIn ?? []) {
        const secret = mine.find((s) => s.metadata.namespace === ns && s.metadata.name === d.secretName);
        if (!secret) {
          v.push(`${d.name} (deleted, Retain): ${ns} lost its Secret ${d.secretName}`);
          continue;
        }
        if (want) v.push(...secretProblems(`${d.name} (deleted, Retain): ${ns}/${d.secretName}`, secret, want, digestKeys));
        const ref = (secret.metadata.ownerReferences ?? []).find((r) => r.kind === 'RegistryCredential' && r.name === d.name);
        if (ref) v.push(`${d.name} (deleted, Retain): ${ns}/${d.secretName} still has an ownerReference to it; garbage collection may take it`);
        for (const sa of saIn.get(ns) ?? []) {
          if (selects(d.serviceAccounts, sa) && count(entries(sa), d.secretName) !== 1) {
            v.push(`${d.name} (deleted, Retain): ServiceAccount ${ns}/${sa.metadata.name} lists ${d.secretName} ${count(entries(sa), d.secretName)} times, want exactly once`);
          }
        }
      }
    }
  }

  // Annotated entries of ours where no live credential wants them (Delete policies only).
  const liveNames = new Set(expectation.credentials.filter((c) => (c.deletionPolicy ?? 'Delete') === 'Delete').map((c) => c.secretName));
  for (const sa of serviceAccounts) {
    const ns = sa.metadata.namespace!;
    if (!expectation.inScope(ns)) continue;
    for (const name of ourAnnotated(sa)) {
      if (liveNames.has(name) && !entryHolder(name, ns, sa) && entries(sa).includes(name)) {
        v.push(`ServiceAccount ${ns}/${sa.metadata.name}: our entry ${name} is outside the matched set`);
      }
    }
  }

  const byKey = new Map(serviceAccounts.map((sa) => [`${sa.metadata.namespace}/${sa.metadata.name}`, sa]));
  for (const [key, names] of Object.entries(expectation.foreignEntries ?? {})) {
    const sa = byKey.get(key);
    if (!sa) {
      v.push(`ServiceAccount ${key} is gone (it held ${names.length} foreign entries)`);
      continue;
    }
    const list = entries(sa);
    for (const name of names) {
      const n = count(list, name);
      if (n !== 1) v.push(`ServiceAccount ${key}: foreign entry ${name} present ${n} times, want exactly once`);
    }
  }
  for (const [key, names] of Object.entries(expectation.absentEntries ?? {})) {
    const list = byKey.get(key) ? entries(byKey.get(key)!) : [];
    for (const name of names) if (list.includes(name)) v.push(`ServiceAccount ${key}: entry ${name} was removed by its writer but is back`);
  }

  for (const [key, rv] of Object.entries(expectation.unmanagedSecrets ?? {})) {
    const [ns, name] = key.split('/') as [string, string];
    const s = await client.get<SecretObj>(RESOURCES.secrets, ns, name).then((x) => x, (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    if (!s) v.push(`unmanaged Secret ${key} was deleted`);
    else if (s.metadata.resourceVersion !== rv) v.push(`unmanaged Secret ${key} changed (resourceVersion ${rv} → ${s.metadata.resourceVersion})`);
  }
  return v;
}

function secretProblems(where: string, secret: SecretObj, want: unknown, digestKeys: Buffer[]): string[] {
  const v: string[] = [];
  if (secret.type !== DOCKERCONFIGJSON) v.push(`${where}: type ${secret.type}, want ${DOCKERCONFIGJSON}`);
  if (secret.metadata.labels?.[MANAGED_BY] !== MANAGED_BY_VALUE) v.push(`${where}: lacks ${MANAGED_BY}=${MANAGED_BY_VALUE}`);
  const encoded = secret.data?.['.dockerconfigjson'];
  if (encoded === undefined) return [...v, `${where}: no .dockerconfigjson`];
  const bytes = Buffer.from(encoded, 'base64');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.toString('utf8'));
  } catch {
    return [...v, `${where}: .dockerconfigjson is not JSON`];
  }
  // Registry names only: the content is a secret and never goes into a message.
  if (!isDeepStrictEqual(parsed, want)) {
    const have = Object.keys((parsed as { auths?: object }).auths ?? {}).sort().join(',');
    v.push(`${where}: .dockerconfigjson differs from the expected auths (registries: ${have})`);
  }
  // The annotation is an HMAC of the bytes under the key of the operator that wrote them.
  const annotation = secret.metadata.annotations?.[HASH_ANNOTATION];
  if (!digestKeys.some((key) => annotation === `hmac-sha256:${createHmac('sha256', key).update(bytes).digest('hex')}`)) {
    v.push(`${where}: ${HASH_ANNOTATION} is no digest of its bytes under any digest key`);
  }
  return v;
}

async function statusProblems(client: KubeClient, c: CredentialExpectation, synced: number, patched: number): Promise<string[]> {
  const rc = await client.get<RcObj>(RESOURCES.registryCredentials, undefined, c.name).then((r) => r, (e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
  if (!rc) return [`${c.name}: RegistryCredential not found`];
  const v: string[] = [];
  const st = rc.status;
  if (st?.observedGeneration !== rc.metadata.generation) v.push(`${c.name}: status.observedGeneration ${st?.observedGeneration} ≠ generation ${rc.metadata.generation}`);
  const matched = c.namespaces.length + (c.conflicted?.length ?? 0);
  const want = { matched, synced, failed: matched - synced };
  if (!isDeepStrictEqual(st?.namespaces, want)) v.push(`${c.name}: status.namespaces ${JSON.stringify(st?.namespaces)}, the cluster shows ${JSON.stringify(want)}`);
  if (st?.serviceAccounts?.patched !== patched) v.push(`${c.name}: status.serviceAccounts.patched ${st?.serviceAccounts?.patched}, the cluster shows ${patched}`);
  const ready = st?.conditions?.find((x) => x.type === 'Ready');
  const [status, reason] = want.failed === 0 ? ['True', 'Synced'] : ['False', 'PartiallySynced'];
  if (ready?.status !== status || ready.reason !== reason) v.push(`${c.name}: Ready ${ready?.status}/${ready?.reason}, want ${status}/${reason}`);
  return v;
}

export interface Convergence {
  /** Seconds from the call until the checker first came back empty (or until the timeout). */
  seconds: number;
  /** Empty when converged; else the last check's violations. */
  violations: string[];
  checks: number;
}

/**
 * Polls checkInvariants until it returns nothing or `timeoutMs` passes. API errors (say, while the
 * API server restarts) count as a violation of that check, not as a failure of the helper.
 */
export async function converge(
  client: KubeClient,
  expectation: Expectation | (() => Expectation | Promise<Expectation>),
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Convergence> {
  const start = Date.now();
  const deadline = start + (options.timeoutMs ?? 60_000);
  let checks = 0;
  for (;;) {
    let violations: string[];
    try {
      violations = await checkInvariants(client, typeof expectation === 'function' ? await expectation() : expectation);
    } catch (err) {
      violations = [`could not read the cluster: ${String(err)}`];
    }
    checks++;
    if (violations.length === 0 || Date.now() >= deadline) return { seconds: (Date.now() - start) / 1000, violations, checks };
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 500));
  }
}
