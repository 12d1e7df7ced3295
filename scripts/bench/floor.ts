// The floor: what the API server needs for exactly the writes a scenario makes, done by a minimal
// client in the same language (KubeClient, no client-side throttle) at the best concurrency.
// Fan-out: N Secret creates + N `default` ServiceAccount patches. Rotation: N Secret updates.
// New namespaces: one Secret create and one ServiceAccount patch, each alone on a quiet server.
import { isNotFound, RESOURCES, type KubeClient } from '../../src/kube/client.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import { REGISTRY, USERNAME } from './cluster.ts';
import { forEachConcurrent, median } from './stats.ts';

/** Not the operator's name: the observer never sees the floor's Secrets. */
const FLOOR_SECRET = 'bench-floor';
const CLEANUP_CONCURRENCY = 100;
const RTT_SAMPLES = 50;

/** Running totals by name, read before and after a fan-out. */
export type Metered = Record<string, number>;

/** What each running total grew by between two readings. */
export function since(before: Metered, after: Metered): Metered {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

export interface FloorResult {
  /** Best time for N creates + N patches, and the concurrency that gave it. */
  fanoutMs: number;
  fanoutConcurrency: number;
  rotationMs: number;
  rotationConcurrency: number;
  byConcurrency: Array<{ concurrency: number; fanoutMs: number; rotationMs: number; fanoutMetered?: Metered; rotationMetered?: Metered }>;
  /** What `meter` counted over the best fan-out and the best rotation (other processes' CPU seconds, say). */
  fanoutMetered?: Metered;
  rotationMetered?: Metered;
  secretCreateRttMs: number;
  saPatchRttMs: number;
}

/** A Secret of the same type and about the same size as the operator's. */
function floorSecret(password: string): Secret {
  const auth = Buffer.from(`${USERNAME}:${password}`).toString('base64');
  const config = JSON.stringify({ auths: { [REGISTRY]: { auth, password, username: USERNAME } } });
  return {
    metadata: { name: FLOOR_SECRET, labels: { 'app.kubernetes.io/managed-by': 'bench-floor' } },
    type: 'kubernetes.io/dockerconfigjson',
    data: { '.dockerconfigjson': Buffer.from(config).toString('base64') },
  };
}

/** resourceVersions of the `default` ServiceAccounts, as an operator's cache would hold them. */
async function serviceAccountVersions(client: KubeClient): Promise<Map<string, string>> {
  const list = await client.list<ServiceAccount>(RESOURCES.serviceAccounts, undefined, { fieldSelector: 'metadata.name=default' });
  return new Map(list.items.map((sa) => [sa.metadata.namespace ?? '', sa.metadata.resourceVersion ?? '']));
}

const patchEntry = (client: KubeClient, ns: string, rv: string | undefined) =>
  client.patch(RESOURCES.serviceAccounts, ns, 'default', { metadata: { resourceVersion: rv }, imagePullSecrets: [{ name: FLOOR_SECRET }] });

/** Takes the floor's Secrets and ServiceAccount entries away again. */
export async function cleanUp(client: KubeClient, namespaces: string[]): Promise<void> {
  const ignoreMissing = (err: unknown) => {
    if (!isNotFound(err)) throw err;
  };
  await forEachConcurrent(namespaces, CLEANUP_CONCURRENCY, async (ns) => {
    await client.delete(RESOURCES.secrets, ns, FLOOR_SECRET).catch(ignoreMissing);
    await client.patch(RESOURCES.serviceAccounts, ns, 'default', { imagePullSecrets: null }).catch(ignoreMissing);
  });
}

/** The fan-out's writes alone: N Secret creates and N ServiceAccount patches. */
export async function floorFanout(client: KubeClient, namespaces: string[], concurrency: number): Promise<{ fanoutMs: number; created: Map<string, Secret> }> {
  const versions = await serviceAccountVersions(client);
  const secret = floorSecret('floor-password-1');
  const created = new Map<string, Secret>();
  // Both writes of every namespace as independent requests: the least a client has to wait for.
  const writes = namespaces.flatMap((ns) => [{ ns, kind: 'secret' as const }, { ns, kind: 'sa' as const }]);
  const t0 = performance.now();
  await forEachConcurrent(writes, concurrency, async ({ ns, kind }) => {
    if (kind === 'secret') created.set(ns, await client.create<Secret>(RESOURCES.secrets, ns, secret));
    else await patchEntry(client, ns, versions.get(ns));
  });
  return { fanoutMs: performance.now() - t0, created };
}

async function atConcurrency(client: KubeClient, namespaces: string[], concurrency: number, meter?: () => Metered): Promise<{ fanoutMs: number; rotationMs: number; fanoutMetered?: Metered; rotationMetered?: Metered }> {
  const before = meter?.();
  const { fanoutMs, created } = await floorFanout(client, namespaces, concurrency);
  const fanoutMetered = before && since(before, meter!());
  const rotated = floorSecret('floor-password-2').data;
  const rotating = meter?.();
  const t0 = performance.now();
  await forEachConcurrent(namespaces, concurrency, async (ns) => {
    await client.replace(RESOURCES.secrets, ns, FLOOR_SECRET, { ...created.get(ns)!, data: rotated });
  });
  const rotationMs = performance.now() - t0;
  const rotationMetered = rotating && since(rotating, meter!());
  await cleanUp(client, namespaces);
  return { fanoutMs, rotationMs, ...(fanoutMetered ? { fanoutMetered } : {}), ...(rotationMetered ? { rotationMetered } : {}) };
}

/** One write at a time on a quiet server: the floor for a single new namespace's latency. */
async function roundTrips(client: KubeClient, namespaces: string[]): Promise<{ secretCreateRttMs: number; saPatchRttMs: number }> {
  const sample = namespaces.slice(0, RTT_SAMPLES);
  const versions = await serviceAccountVersions(client);
  const creates: number[] = [];
  const patches: number[] = [];
  for (const ns of sample) {
    let t = performance.now();
    await client.create(RESOURCES.secrets, ns, floorSecret('floor-password-1'));
    creates.push(performance.now() - t);
    t = performance.now();
    await patchEntry(client, ns, versions.get(ns));
    patches.push(performance.now() - t);
  }
  await cleanUp(client, sample);
  return { secretCreateRttMs: median(creates), saPatchRttMs: median(patches) };
}

export async function measureFloor(client: KubeClient, namespaces: string[], concurrencies: number[], meter?: () => Metered): Promise<FloorResult> {
  const byConcurrency: FloorResult['byConcurrency'] = [];
  for (const concurrency of concurrencies) byConcurrency.push({ concurrency, ...(await atConcurrency(client, namespaces, concurrency, meter)) });
  const best = (key: 'fanoutMs' | 'rotationMs') => byConcurrency.reduce((a, b) => (b[key] < a[key] ? b : a));
  const rtt = await roundTrips(client, namespaces);
  return {
    fanoutMs: best('fanoutMs').fanoutMs,
    fanoutConcurrency: best('fanoutMs').concurrency,
    ...(best('fanoutMs').fanoutMetered ? { fanoutMetered: best('fanoutMs').fanoutMetered } : {}),
    ...(best('rotationMs').rotationMetered ? { rotationMetered: best('rotationMs').rotationMetered } : {}),
    rotationMs: best('rotationMs').rotationMs,
    rotationConcurrency: best('rotationMs').concurrency,
    byConcurrency,
    ...rtt,
  };
}
