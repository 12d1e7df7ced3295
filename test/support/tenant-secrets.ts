// A tenant's labelled Secrets must not grow the operator's memory by their data. Shared by
// test/integration/tenant-secrets.test.ts (a reduced size, on the suite's control plane) and
// test/chaos/tenant-secrets.test.ts (10,000 Secrets in `make chaos`, on a control plane of its own).
//
// The operator runs with --inspect; one RegistryCredential selects three namespaces `<id>-sel-*`,
// one of which (the sentinel) holds a Secret of the credential's secretName that someone else made,
// so the credential reports a SecretConflict there. Every tenant namespace `<id>-t<i>` is created
// (with its default ServiceAccount, which the operator caches) before the baseline: heap after two
// forced full GCs, read over the inspector. Then, as a tenant, 100 KiB random Secrets labelled
// `app.kubernetes.io/managed-by=regcred-operator` and `regcred.dev/credential=<credential>`:
//   (a) the worst case: one named the allowed name in each tenant namespace, which the credential
//       does not select (the operator watches that name cluster-wide);
//   (b) `otherPerNamespace` Secrets of other names in each of them.
// Last, the tenant labels the sentinel's Secret the same way. Its watch event comes after every
// tenant Secret's on any watch that could carry them (events on one watch arrive in resourceVersion
// order); the operator has seen it once the sentinel's failure message in status changes (from
// "not managed by regcred-operator" to "carries regcred-operator's labels but no owner reference").
// Once the work queue is empty the heap is read again: the difference must stay under the bound,
// and no tenant Secret may have been changed or deleted.
import { randomBytes } from 'node:crypto';
import PQueue from 'p-queue';
import { CREDENTIAL_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../../src/api/labels.ts';
import type { Failure, RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { createNamespace, eventually } from './cluster.ts';
import { heapAfterGc, MiB, type HeapUsage } from './heap.ts';
import { OperatorProcess } from './operator.ts';
import type { Scenario } from './scenario.ts';

/** The requirement: the tenant's Secrets change the operator's heap by less than this. */
export const HEAP_BOUND_BYTES = 20 * MiB;
export const TENANT_SECRET_BYTES = 100 * 1024;
/** The credential's secretName, and the operator's only --allowed-secret-names. */
export const ALLOWED_NAME = 'tenant-pull';
const SELECTED = ['a', 'b'];
const SENTINEL = 'z';

export interface TenantSecretsOptions {
  /** Tenant namespaces, each with one Secret of the allowed name (a). */
  namespaces: number;
  /** Secrets of other names in each tenant namespace (b). */
  otherPerNamespace: number;
  /** Requests in flight while creating. */
  concurrency?: number;
  /** How long the operator may take to show it saw the sentinel. */
  seenTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface TenantSecretsResult {
  /** Tenant Secrets created: (a) + (b). */
  secrets: number;
  allowedNamed: number;
  otherNamed: number;
  baseline: HeapUsage;
  after: HeapUsage;
  /** after.usedSize - baseline.usedSize, in bytes. */
  delta: number;
  createSeconds: number;
  /** From the last tenant write to the operator's status showing it saw it. */
  seenSeconds: number;
  /** Tenant Secrets the operator changed or deleted, as "namespace/name: what". */
  changed: string[];
  /** How the credential's status differs from before: still 2 synced and the sentinel's conflict. */
  statusProblems: string[];
}

interface Made {
  uid: string;
  resourceVersion: string;
}

/** Runs `fn` over `items` with at most `limit` calls in flight; rejects with the first error. */
async function inPool<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  const queue = new PQueue({ concurrency: limit });
  await Promise.all(items.map((item, i) => queue.add(() => fn(item, i))));
}

export class TenantSecrets {
  readonly s: Scenario;
  readonly options: Required<Omit<TenantSecretsOptions, 'log'>> & Pick<TenantSecretsOptions, 'log'>;
  readonly credential: string;
  readonly selected: string[];
  readonly sentinel: string;
  readonly tenantNamespaces: string[];
  private readonly made = new Map<string, Made>();

  constructor(s: Scenario, options: TenantSecretsOptions) {
    this.s = s;
    this.options = { concurrency: 32, seenTimeoutMs: 300_000, ...options };
    this.credential = `${s.id}-rc`;
    this.selected = SELECTED.map((x) => `${s.id}-sel-${x}`);
    this.sentinel = `${s.id}-sel-${SENTINEL}`;
    this.tenantNamespaces = Array.from({ length: options.namespaces }, (_, i) => `${s.id}-t${i}`);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  get operator(): OperatorProcess {
    if (!this.s.operator) throw new Error('no operator running');
    return this.s.operator;
  }

  /**
   * The credentials namespace, the operator (with --inspect), the namespaces and the credential,
   * converged: synced in the two selected namespaces, a SecretConflict in the sentinel.
   */
  async setup(): Promise<void> {
    const s = this.s;
    const started = Date.now();
    await createNamespace(s.client, s.credentialsNamespace, { 'regcred.dev/ignore': 'true' });
    s.operator = await OperatorProcess.start({
      credentialsNamespace: s.credentialsNamespace,
      args: ['--allowed-secret-names', ALLOWED_NAME],
      nodeArgs: ['--inspect=127.0.0.1:0'],
      ...(s.operatorKubeconfig ? { kubeconfig: s.operatorKubeconfig } : {}),
    });
    if (!this.operator.inspectorUrl) throw new Error('the operator printed no inspector URL');
    await s.sourceSecret('pw', { password: s.password() });

    for (const ns of [...this.selected, this.sentinel]) await createNamespace(s.client, ns);
    // Someone else's Secret of the allowed name: the sentinel's conflict.
    await s.client.create(RESOURCES.secrets, this.sentinel, { metadata: { name: ALLOWED_NAME }, type: 'Opaque', data: { note: Buffer.from('not the operator').toString('base64') } });
    await inPool(this.tenantNamespaces, this.options.concurrency, (ns) => createNamespace(s.client, ns));
    await this.serviceAccountsExist([...this.selected, this.sentinel, ...this.tenantNamespaces]);
    this.log(`${this.tenantNamespaces.length + 3} namespaces with their ServiceAccounts in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    await s.credential(this.credential, {
      secretName: ALLOWED_NAME,
      registries: [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
      namespaces: { include: [`${s.id}-sel-*`] },
    });
    await eventually(`${this.credential} to converge (2 synced, a conflict in ${this.sentinel})`, async () => {
      const rc = await s.getCredential(this.credential);
      const st = rc.status;
      return st?.observedGeneration === rc.metadata.generation
        && st?.namespaces?.matched === 3 && st.namespaces.synced === 2
        && st.serviceAccounts?.patched === 2
        && this.sentinelFailure(rc)?.reason === 'SecretConflict';
    }, 60_000);
  }

  private sentinelFailure(rc: RegistryCredential): Failure | undefined {
    return rc.status?.failures?.find((f) => f.namespace === this.sentinel);
  }

  /** The tenant's Secrets between two heap readings. */
  async run(): Promise<TenantSecretsResult> {
    const s = this.s;
    const url = this.operator.inspectorUrl!;
    const before = this.sentinelFailure(await s.getCredential(this.credential))!.message;

    await this.quiet();
    await heapAfterGc(url); // the first session sets up what the inspector keeps for good
    const baseline = await heapAfterGc(url);
    this.log(`baseline heap ${(baseline.usedSize / MiB).toFixed(1)} MiB`);

    const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CREDENTIAL_LABEL]: this.credential };
    const others = Array.from({ length: this.options.otherPerNamespace }, (_, j) => `tenant-data-${j}`);
    const targets = this.tenantNamespaces.flatMap((ns) => [ALLOWED_NAME, ...others].map((name) => [ns, name] as const));
    const createStarted = Date.now();
    await inPool(targets, this.options.concurrency, async ([ns, name]) => {
      const created = await s.client.create<Secret>(RESOURCES.secrets, ns, {
        metadata: { name, labels },
        type: 'Opaque',
        data: { blob: randomBytes(TENANT_SECRET_BYTES).toString('base64') },
      });
      this.made.set(`${ns}/${name}`, { uid: created.metadata.uid!, resourceVersion: created.metadata.resourceVersion! });
    });
    const createSeconds = (Date.now() - createStarted) / 1000;
    this.log(`${targets.length} Secrets of ${TENANT_SECRET_BYTES / 1024} KiB created in ${createSeconds.toFixed(1)} s (${(targets.length / createSeconds).toFixed(0)}/s)`);

    // The last tenant write: our labels on the sentinel's Secret.
    const relabelled = await s.client.patch<Secret>(RESOURCES.secrets, this.sentinel, ALLOWED_NAME, { metadata: { labels } });
    this.made.set(`${this.sentinel}/${ALLOWED_NAME}`, { uid: relabelled.metadata.uid!, resourceVersion: relabelled.metadata.resourceVersion! });
    const lastWrite = Date.now();
    await eventually(`the operator to show it saw the relabelled Secret ${this.sentinel}/${ALLOWED_NAME} (its status failure for that namespace still reads "${before}")`, async () => {
      if (this.operator.exited) throw new Error('the operator exited');
      const f = this.sentinelFailure(await s.getCredential(this.credential));
      return f?.message !== before;
    }, this.options.seenTimeoutMs);
    const seenSeconds = (Date.now() - lastWrite) / 1000;
    this.log(`the operator saw the last tenant write ${seenSeconds.toFixed(1)} s after it`);

    await this.quiet();
    const after = await heapAfterGc(url);
    const delta = after.usedSize - baseline.usedSize;
    this.log(`heap after ${(after.usedSize / MiB).toFixed(1)} MiB: ${delta >= 0 ? '+' : ''}${(delta / MiB).toFixed(2)} MiB for ${targets.length} Secrets (bound ${HEAP_BOUND_BYTES / MiB} MiB)`);

    return {
      secrets: targets.length,
      allowedNamed: this.tenantNamespaces.length,
      otherNamed: targets.length - this.tenantNamespaces.length,
      baseline,
      after,
      delta,
      createSeconds,
      seenSeconds,
      changed: await this.changed(),
      statusProblems: await this.statusProblems(),
    };
  }

  /** The credential still serves its two namespaces and reports the sentinel as a conflict. */
  async statusProblems(): Promise<string[]> {
    const rc = await this.s.getCredential(this.credential);
    const st = rc.status;
    const problems: string[] = [];
    if (st?.observedGeneration !== rc.metadata.generation) problems.push(`observedGeneration ${st?.observedGeneration} ≠ generation ${rc.metadata.generation}`);
    if (st?.namespaces?.matched !== 3 || st.namespaces.synced !== 2) problems.push(`status.namespaces ${JSON.stringify(st?.namespaces)}, want 3 matched, 2 synced`);
    const f = this.sentinelFailure(rc);
    if (f?.reason !== 'SecretConflict') problems.push(`${this.sentinel}: failure ${JSON.stringify(f)}, want a SecretConflict`);
    const others = (st?.failures ?? []).filter((x) => x.namespace !== this.sentinel);
    if (others.length) problems.push(`unexpected failures: ${JSON.stringify(others.slice(0, 5))}`);
    return problems;
  }

  /** Tenant Secrets whose uid or resourceVersion is not what the tenant left, or that are gone. */
  async changed(): Promise<string[]> {
    const found = new Map<string, Made>();
    let cont: string | undefined;
    do {
      const page = await this.s.client.list<Secret>(RESOURCES.secrets, undefined, { labelSelector: `${CREDENTIAL_LABEL}=${this.credential}`, limit: 500, ...(cont ? { continue: cont } : {}) }, true);
      for (const x of page.items) found.set(`${x.metadata.namespace}/${x.metadata.name}`, { uid: x.metadata.uid!, resourceVersion: x.metadata.resourceVersion! });
      cont = page.metadata.continue || undefined;
    } while (cont);
    const changed: string[] = [];
    for (const [key, made] of this.made) {
      const now = found.get(key);
      if (!now) changed.push(`${key}: deleted`);
      else if (now.uid !== made.uid) changed.push(`${key}: replaced`);
      else if (now.resourceVersion !== made.resourceVersion) changed.push(`${key}: modified`);
    }
    return changed;
  }

  /** Deletes every namespace made here; with `wait`, until they are gone (bounded). */
  async cleanup(wait: boolean, timeoutMs = 180_000): Promise<void> {
    const all = [...this.tenantNamespaces, ...this.selected, this.sentinel];
    const started = Date.now();
    await inPool(all, this.options.concurrency, (ns) => this.s.client.delete(RESOURCES.namespaces, undefined, ns).catch(() => undefined));
    if (!wait) return;
    const mine = new Set(all);
    try {
      await eventually(`${all.length} namespaces to be gone`, async () => {
        const left = (await this.s.client.list<{ metadata: { name: string } }>(RESOURCES.namespaces, undefined, {}, true)).items.filter((n) => mine.has(n.metadata.name));
        return left.length === 0;
      }, timeoutMs);
      this.log(`${all.length} namespaces deleted in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (err) {
      this.log(String(err)); // the namespace controller finishes on its own; nothing asserts on it
    }
  }

  /** Waits until every namespace has its default ServiceAccount (the controller manager makes them). */
  private async serviceAccountsExist(namespaces: string[]): Promise<void> {
    const want = new Set(namespaces);
    await eventually(`${want.size} default ServiceAccounts`, async () => {
      const have = new Set<string>();
      let cont: string | undefined;
      do {
        const page = await this.s.client.list<Secret>(RESOURCES.serviceAccounts, undefined, { fieldSelector: 'metadata.name=default', limit: 1000, ...(cont ? { continue: cont } : {}) }, true);
        for (const sa of page.items) if (want.has(sa.metadata.namespace!)) have.add(sa.metadata.namespace!);
        cont = page.metadata.continue || undefined;
      } while (cont);
      return have.size === want.size;
    }, 300_000);
  }

  /**
   * Until the operator's work queue has stayed empty for a second, then a second more. Without a
   * readable regcred_workqueue_depth (metrics served otherwise) only the second more, which is said.
   */
  private async quiet(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let emptyFor = 0;
    while (emptyFor < 4) {
      const depth = await this.queueDepth();
      if (depth === undefined) {
        this.log('regcred_workqueue_depth unreadable: not waiting for an empty work queue');
        break;
      }
      if (Date.now() > deadline) throw new Error(`the operator's work queue was not empty for a second within ${timeoutMs} ms (depth ${depth})`);
      emptyFor = depth === 0 ? emptyFor + 1 : 0;
      await new Promise((r) => setTimeout(r, 250));
    }
    await new Promise((r) => setTimeout(r, 1000));
  }

  private async queueDepth(): Promise<number | undefined> {
    try {
      const text = await (await fetch(`http://127.0.0.1:${this.operator.metricsPort}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('regcred_workqueue_depth '));
      const n = line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
      return Number.isFinite(n) ? n : undefined;
    } catch {
      return undefined;
    }
  }
}
