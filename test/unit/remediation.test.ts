import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { SA_ENTRIES_ANNOTATION } from '../../src/api/labels.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import { Informer } from '../../src/kube/informer.ts';
import type { ServiceAccount } from '../../src/kube/objects.ts';
import { leanPod, podsToEvict, type Pod } from '../../src/controller/remediation/pods.ts';
import { Remediator, type RemediationResult } from '../../src/controller/remediation/remediator.ts';
import { FakeClient } from '../support/fake-client.ts';

const log = pino({ level: 'silent' });
const NS = 'team-a';
const OWNER = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs-uid', controller: true };

function sa(name = 'default', options: { ours?: string[]; entries?: string[]; namespace?: string } = {}): ServiceAccount {
  const ours = options.ours ?? ['regcred'];
  const entries = options.entries ?? ours;
  return {
    metadata: { name, namespace: options.namespace ?? NS, ...(ours.length ? { annotations: { [SA_ENTRIES_ANNOTATION]: ours.join(',') } } : {}) },
    ...(entries.length ? { imagePullSecrets: entries.map((n) => ({ name: n })) } : {}),
  };
}

interface PodOptions {
  sa?: string;
  owner?: boolean | 'not-controller';
  secrets?: string[];
  reason?: string;
  init?: boolean;
  deleting?: boolean;
  namespace?: string;
  uid?: string;
}

function pod(name: string, o: PodOptions = {}): Pod {
  const statuses = [{ state: { waiting: { reason: o.reason ?? 'ImagePullBackOff' } } }];
  return {
    metadata: {
      name,
      namespace: o.namespace ?? NS,
      uid: o.uid ?? `uid-${name}`,
      ...(o.owner === false ? {} : { ownerReferences: [{ ...OWNER, ...(o.owner === 'not-controller' ? { controller: false } : {}) }] }),
      ...(o.deleting ? { deletionTimestamp: '2024-06-01T00:00:00Z' } : {}),
    },
    spec: { ...(o.sa ? { serviceAccountName: o.sa } : {}), ...(o.secrets ? { imagePullSecrets: o.secrets.map((n) => ({ name: n })) } : {}) },
    status: { phase: 'Pending', ...(o.init ? { initContainerStatuses: statuses } : { containerStatuses: statuses }) },
  };
}

describe('podsToEvict', () => {
  const cases: Array<[string, Pod, ServiceAccount, boolean]> = [
    ['controlled, default SA, ImagePullBackOff, lacking the entry', pod('a'), sa(), true],
    ['ErrImagePull', pod('a', { reason: 'ErrImagePull' }), sa(), true],
    ['an init container failing its pull', pod('a', { init: true, reason: 'ErrImagePull' }), sa(), true],
    ['a named ServiceAccount', pod('a', { sa: 'builder' }), sa('builder'), true],
    ['other entries present but not ours', pod('a', { secrets: ['other'] }), sa(), true],
    ['a bare pod', pod('a', { owner: false }), sa(), false],
    ['an owner that is not the controller', pod('a', { owner: 'not-controller' }), sa(), false],
    ['the entry already there', pod('a', { secrets: ['regcred'] }), sa(), false],
    ['waiting for another reason', pod('a', { reason: 'ContainerCreating' }), sa(), false],
    ['being deleted', pod('a', { deleting: true }), sa(), false],
    ['another ServiceAccount', pod('a', { sa: 'builder' }), sa(), false],
    ['another namespace', pod('a', { namespace: 'team-b' }), sa(), false],
    ['an entry the SA holds but we do not manage', pod('a'), sa('default', { ours: [], entries: ['regcred'] }), false],
    ['an entry we list but the SA no longer holds', pod('a'), sa('default', { ours: ['regcred'], entries: [] }), false],
  ];
  it.each(cases)('%s', (_what, p, account, evict) => {
    expect(podsToEvict([p], account, 'regcred').map((x) => x.metadata.name)).toEqual(evict ? ['a'] : []);
  });

  it('only counts the secret asked about', () => {
    expect(podsToEvict([pod('a', { secrets: ['regcred'] })], sa('default', { ours: ['regcred', 'pull'] }), 'pull')).toHaveLength(1);
    expect(podsToEvict([pod('a')], sa(), 'pull')).toHaveLength(0);
  });
});

describe('leanPod', () => {
  it('keeps only what is read, and nothing of a pod that cannot qualify', () => {
    const full = { ...pod('a', { secrets: ['x'] }), spec: { serviceAccountName: 'sa', imagePullSecrets: [{ name: 'x' }], containers: [{ name: 'c', image: 'i', env: [{ name: 'K', value: 'V' }] }] } } as Pod;
    full.metadata.labels = { big: 'label' };
    const lean = leanPod(full)!;
    expect(lean.metadata.labels).toBeUndefined();
    expect(lean.spec).toEqual({ serviceAccountName: 'sa', imagePullSecrets: [{ name: 'x' }] });
    expect(lean.status).toEqual({ containerStatuses: [{ state: { waiting: { reason: 'ImagePullBackOff' } } }] });
    expect(leanPod(pod('b', { owner: false }))).toBeUndefined();
    expect(leanPod(pod('c', { reason: 'ContainerCreating' }))).toBeUndefined();
  });
});

const until = async (what: string, check: () => boolean, timeoutMs = 3000) => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

describe('Remediator', () => {
  let stop: (() => void) | undefined;
  afterEach(() => stop?.());

  interface Harness {
    fake: FakeClient;
    evictions: Array<{ path: string; body: unknown; at: number }>;
    results: RemediationResult[];
    remediator: Remediator;
    serviceAccounts: Informer<ServiceAccount>;
    /** Answers the next eviction requests with these statuses (then 201). */
    refuse: number[];
  }

  async function harness(serviceAccounts: ServiceAccount[], pods: Pod[], options: { qps?: number; burst?: number; refuse?: number[] } = {}): Promise<Harness> {
    const fake = new FakeClient();
    fake.seed(RESOURCES.serviceAccounts, ...serviceAccounts);
    fake.seed(RESOURCES.pods, ...pods);
    const h = { fake, evictions: [], results: [], refuse: [...(options.refuse ?? [])] } as unknown as Harness;
    (fake as unknown as { request: (m: string, p: string, o: { body?: unknown }) => Promise<unknown> }).request = async (method, path, opts) => {
      expect(method).toBe('POST');
      h.evictions.push({ path, body: opts.body, at: performance.now() });
      const status = h.refuse.shift();
      if (status) throw new KubeError(status, status === 429 ? 'TooManyRequests' : 'InternalError', 'refused');
      return {};
    };
    h.serviceAccounts = new Informer<ServiceAccount>(fake.client, RESOURCES.serviceAccounts, log);
    h.serviceAccounts.start();
    await h.serviceAccounts.waitForSync(1000);
    h.remediator = new Remediator(fake.client, log, h.serviceAccounts, { qps: options.qps ?? 1000, burst: options.burst ?? 5, initialBackoffMs: 20, onResult: (r) => h.results.push(r) });
    h.remediator.start();
    await h.remediator.pods.waitForSync(1000);
    stop = () => {
      h.remediator.stop();
      h.serviceAccounts.stop();
    };
    return h;
  }

  it('evicts controlled pods that lack the entry, with a uid precondition and an Event; never a bare pod', async () => {
    const h = await harness([sa(), sa('builder', { ours: [] })], [
      pod('web'),
      pod('bare', { owner: false }),
      pod('has', { secrets: ['regcred'] }),
      pod('other-sa', { sa: 'builder' }),
    ]);
    await until('an eviction', () => h.results.length === 1);
    await settle();
    expect(h.evictions.map((e) => e.path)).toEqual([`/api/v1/namespaces/${NS}/pods/web/eviction`]);
    expect(h.evictions[0]!.body).toMatchObject({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: 'web', namespace: NS }, deleteOptions: { preconditions: { uid: 'uid-web' } } });
    expect(h.results).toEqual(['Evicted']);
    await until('the event', () => h.fake.objects(RESOURCES.events).length === 1);
    const [event] = h.fake.objects<{ metadata: { namespace: string; name: string }; reason: string; type: string; regarding: unknown }>(RESOURCES.events);
    expect(event).toMatchObject({ metadata: { namespace: NS }, reason: 'PodEvicted', type: 'Normal', regarding: { kind: 'Pod', name: 'web', namespace: NS, uid: 'uid-web' } });
    // The bare pod was never even kept.
    expect(h.remediator.pods.get(NS, 'bare')).toBeUndefined();
  });

  it('acts when our entry lands on the ServiceAccount (watch), and when told of our own write', async () => {
    const h = await harness([sa('default', { ours: [] }), sa('builder', { ours: [] })], [pod('web'), pod('build', { sa: 'builder' })]);
    await settle();
    expect(h.evictions).toHaveLength(0);
    // Someone else's write: the ServiceAccount watch says so.
    await h.fake.patch(RESOURCES.serviceAccounts, NS, 'default', { metadata: { annotations: { [SA_ENTRIES_ANNOTATION]: 'regcred' } }, imagePullSecrets: [{ name: 'regcred' }] });
    await until('an eviction of web', () => h.evictions.length === 1);
    expect(h.evictions[0]!.path).toContain('/pods/web/');
    // Our own write: recorded in the cache (no handler wakes), then announced.
    const patched = await h.fake.patch<ServiceAccount>(RESOURCES.serviceAccounts, NS, 'builder', { metadata: { annotations: { [SA_ENTRIES_ANNOTATION]: 'regcred' } }, imagePullSecrets: [{ name: 'regcred' }] });
    h.serviceAccounts.observe(patched);
    h.remediator.serviceAccountPatched(NS, 'builder', 'regcred');
    await until('an eviction of build', () => h.evictions.length === 2);
    expect(h.evictions[1]!.path).toContain('/pods/build/');
  });

  it('evicts each pod at most once per uid', async () => {
    const h = await harness([sa()], [pod('web')]);
    await until('an eviction', () => h.evictions.length === 1);
    // The pod lingers (e.g. a grace period) and changes: not evicted again.
    await h.fake.patch(RESOURCES.pods, NS, 'web', { status: { containerStatuses: [{ state: { waiting: { reason: 'ErrImagePull' } } }] } });
    h.remediator.serviceAccountPatched(NS, 'default', 'regcred');
    await settle(100);
    expect(h.evictions).toHaveLength(1);
    // A new pod of the same name (another uid) is judged afresh.
    h.fake.remove(RESOURCES.pods, pod('web'));
    await settle();
    await h.fake.create(RESOURCES.pods, NS, pod('web', { uid: 'uid-web-2' }));
    await until('a second eviction', () => h.evictions.length === 2);
  });

  it('retries a PodDisruptionBudget refusal (429) later, with backoff', async () => {
    const h = await harness([sa()], [pod('web')], { refuse: [429, 429] });
    await until('three attempts', () => h.evictions.length === 3, 5000);
    expect(h.results).toEqual(['Blocked', 'Blocked', 'Evicted']);
    const gaps = [h.evictions[1]!.at - h.evictions[0]!.at, h.evictions[2]!.at - h.evictions[1]!.at];
    expect(gaps[0]).toBeGreaterThanOrEqual(15);
    expect(gaps[1]).toBeGreaterThanOrEqual(35);
    await settle(100);
    expect(h.evictions).toHaveLength(3);
  });

  it('gives up on a pod that is gone or replaced (404, 409)', async () => {
    const h = await harness([sa()], [pod('a'), pod('b')], { refuse: [404, 409] });
    await until('two attempts', () => h.results.length === 2);
    await settle(100);
    expect(h.results).toEqual(['Gone', 'Gone']);
    expect(h.evictions).toHaveLength(2);
  });

  it('rate limits evictions with a token bucket', async () => {
    const pods = Array.from({ length: 6 }, (_, i) => pod(`p${i}`));
    const h = await harness([sa()], pods, { qps: 20, burst: 2 });
    await until('six evictions', () => h.evictions.length === 6, 5000);
    const span = h.evictions[5]!.at - h.evictions[0]!.at;
    // Two at once, then one every 50 ms.
    expect(span).toBeGreaterThanOrEqual(180);
    expect(h.evictions[1]!.at - h.evictions[0]!.at).toBeLessThan(40);
  });
});
