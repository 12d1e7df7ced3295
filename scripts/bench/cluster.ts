// The cluster side of a run: a fresh control plane, the CRD, the source Secret, the namespaces the
// scenarios select, the unrelated Secrets of the memory scenario, and putting the cluster back to
// "nothing written yet" between the scenarios that need it.
import { execFileSync } from 'node:child_process';
import { SOURCE_LABEL, SOURCE_LABEL_VALUE } from '../../src/api/labels.ts';
import { DEFAULT_WEBHOOK_TLS_SECRET } from '../../src/controller/webhook/certificates.ts';
import { DEFAULT_WEBHOOK_CONFIGURATION } from '../../src/controller/webhook/configuration.ts';
import { isNotFound, KubeClient, RESOURCES } from '../../src/kube/client.ts';
import { ControlPlane, type ControlPlaneOptions } from '../../test/controlplane/controlplane.ts';
import type { Observer } from './observer.ts';
import { openWatches } from './apiserver-metrics.ts';
import { forEachConcurrent, sleep } from './stats.ts';

export const CREDENTIALS_NAMESPACE = 'regcred-bench';
export const SOURCE_SECRET = 'bench-registry-password';
export const SECRET_NAME = 'regcred';
export const REGISTRY = 'private-registry.io';
export const USERNAME = 'registry-user';
/** Selected by the fan-out credential: the base set and the namespaces created during churn. */
export const MANAGED = { bench: 'managed' };
/** Only the base set: start-up and the heap-limited run converge over exactly N namespaces. */
export const BASE = { 'bench-set': 'base' };
const SET_UP_CONCURRENCY = 100;
const SA_ENTRIES_ANNOTATION = 'regcred.dev/managed-pull-secrets';

export async function startControlPlane(log: (l: string) => void, options: Pick<ControlPlaneOptions, 'apiServerProfiling' | 'apiServerArgs'> = {}): Promise<{ cp: ControlPlane; admin: KubeClient }> {
  const cp = await ControlPlane.start({
    log,
    ...options,
    // The controller manager creates every namespace's `default` ServiceAccount; with its default
    // client throttle (20 QPS) that, not the operator, would set the pace of every set-up.
    controllerManagerArgs: ['--kube-api-qps=1000', '--kube-api-burst=2000'],
  });
  // No client-side throttle on the bench's own client (setRateLimit is never called).
  const admin = KubeClient.load(cp.kubeconfigPath);
  // Told apart from the operator (regcred-operator/<version>) in the API server's audit log.
  admin.setUserAgent('regcred-bench');
  const kubectl = (...args: string[]) => execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, ...args], { stdio: 'ignore' });
  kubectl('apply', '-f', 'crds/regcred.dev_registrycredentials.yaml');
  kubectl('wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev', '--timeout=60s');
  await admin.create(RESOURCES.namespaces, undefined, { metadata: { name: CREDENTIALS_NAMESPACE } });
  return { cp, admin };
}

/**
 * The garbage collector learns a new kind at its next discovery sync (up to 30 s after the CRD).
 * Until then every Secret owned by a RegistryCredential sends it into rate-limited retries (about
 * ten GETs a second, for minutes at 10,000 namespaces) that would land in the measurements; a real
 * cluster has long known the kind. Its watch on the kind (a watch-list, so no LIST is counted),
 * open before anything else watches it, is the sign it does.
 */
export async function garbageCollectorKnowsCredentials(admin: KubeClient): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (!(await openWatches(admin, 'registrycredentials'))) {
    if (Date.now() > deadline) throw new Error('the garbage collector did not start watching RegistryCredentials within 120 s');
    await sleep(500);
  }
}

/**
 * Takes away the webhook's certificate Secret, so that the next start is a first one, as on a
 * fresh control plane: the leader makes the webhook's CA and certificate while the fan-out begins.
 */
export async function forgetWebhookCertificate(admin: KubeClient): Promise<void> {
  await admin.delete(RESOURCES.secrets, CREDENTIALS_NAMESPACE, DEFAULT_WEBHOOK_TLS_SECRET).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** Takes away the webhook's configuration too: the next start is a first install. */
export async function forgetWebhook(admin: KubeClient): Promise<void> {
  await forgetWebhookCertificate(admin);
  await admin.delete(RESOURCES.mutatingWebhookConfigurations, undefined, DEFAULT_WEBHOOK_CONFIGURATION).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

/** When (performance.now()) the webhook's configuration first exists, looked for every 20 ms. */
export async function webhookConfigured(admin: KubeClient, timeoutMs: number): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      await admin.get(RESOURCES.mutatingWebhookConfigurations, undefined, DEFAULT_WEBHOOK_CONFIGURATION);
      return performance.now();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await sleep(20);
  }
  throw new Error(`no MutatingWebhookConfiguration ${DEFAULT_WEBHOOK_CONFIGURATION} within ${timeoutMs} ms`);
}

export async function kubernetesVersion(admin: KubeClient): Promise<string> {
  const v = await admin.request<{ gitVersion?: string }>('GET', '/version');
  return v.gitVersion ?? 'unknown';
}

export async function setSourcePassword(admin: KubeClient, password: string): Promise<void> {
  const data = { password: Buffer.from(password).toString('base64') };
  try {
    await admin.patch(RESOURCES.secrets, CREDENTIALS_NAMESPACE, SOURCE_SECRET, { data });
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await admin.create(RESOURCES.secrets, CREDENTIALS_NAMESPACE, { metadata: { name: SOURCE_SECRET, labels: { [SOURCE_LABEL]: SOURCE_LABEL_VALUE } }, data });
  }
}

export function credentialSpec(selector: Record<string, string>) {
  return {
    secretName: SECRET_NAME,
    namespaces: { selector: { matchLabels: selector } },
    registries: [{ server: REGISTRY, username: USERNAME, passwordFrom: { secretKeyRef: { name: SOURCE_SECRET, key: 'password' } } }],
  };
}

export async function createCredential(admin: KubeClient, name: string, selector: Record<string, string>): Promise<void> {
  await admin.create(RESOURCES.registryCredentials, undefined, { metadata: { name }, spec: credentialSpec(selector) });
}

export const namespaceNames = (prefix: string, n: number): string[] => {
  const width = String(n - 1).length;
  return Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(width, '0')}`);
};

/** Creates the namespaces at high concurrency and returns once each has its `default` ServiceAccount. */
export async function createNamespaces(admin: KubeClient, observer: Observer, names: string[], labels: Record<string, string>, timeoutMs: number): Promise<void> {
  await forEachConcurrent(names, SET_UP_CONCURRENCY, async (name) => {
    await admin.create(RESOURCES.namespaces, undefined, { metadata: { name, labels } });
  });
  await observer.waitServiceAccounts(names, timeoutMs);
}

/** Unrelated Secrets (no label the operator selects on, another name), one per namespace in turn. */
export async function createBlobs(admin: KubeClient, namespaces: string[], count: number, kib: number): Promise<void> {
  const payload = Buffer.alloc(kib * 1024, 'x').toString('base64');
  await forEachConcurrent(Array.from({ length: count }, (_, i) => i), 25, async (i) => {
    await admin.create(RESOURCES.secrets, namespaces[i % namespaces.length], {
      metadata: { name: `bench-blob-${i}` },
      type: 'Opaque',
      data: { blob: payload },
    });
  });
}

/**
 * Takes away everything the operator wrote, with the operator stopped: the credential (finalizer
 * dropped, so it goes at once), its Secrets and our ServiceAccount entries. What follows then starts
 * from the same state as a first convergence.
 */
export async function resetCredential(admin: KubeClient, observer: Observer, credential: string, namespaces: string[], timeoutMs: number): Promise<void> {
  const ignoreMissing = (err: unknown) => {
    if (!isNotFound(err)) throw err;
  };
  await admin.patch(RESOURCES.registryCredentials, undefined, credential, { metadata: { finalizers: null } }).catch(ignoreMissing);
  await admin.delete(RESOURCES.registryCredentials, undefined, credential).catch(ignoreMissing);
  const withSecret = observer.namespacesWithSecret();
  const withEntry = observer.namespacesWithEntry();
  await forEachConcurrent(withSecret, SET_UP_CONCURRENCY, (ns) => admin.delete(RESOURCES.secrets, ns, SECRET_NAME).catch(ignoreMissing));
  await forEachConcurrent(withEntry, SET_UP_CONCURRENCY, async (ns) => {
    await admin
      .patch(RESOURCES.serviceAccounts, ns, 'default', { metadata: { annotations: { [SA_ENTRIES_ANNOTATION]: null } }, imagePullSecrets: null })
      .catch(ignoreMissing);
  });
  await observer.waitCleared(namespaces, timeoutMs);
}
