// The pod race, closed at admission, on the real control plane: a namespace and a pod created back
// to back still give a pod with our entry, 50 times in a row, because the operator's webhook adds it
// when the ServiceAccount does not carry it yet. Nothing is patched where nothing is selected, a pod
// that lists the Secret already is left alone, a server-side dry run is answered the same, a
// stopped webhook lets pods through (fail open), and a caBundle someone overwrites is restored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IGNORE_LABEL } from '../../src/api/labels.ts';
import { KubeError, RESOURCES } from '../../src/kube/client.ts';
import { createNamespace, eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('hook');
const CONFIGURATION = `${s.id}-webhook`;
const configurations = { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', namespaced: false, plural: 'mutatingwebhookconfigurations' };

interface Pod { metadata: { name: string; namespace: string }; spec: { imagePullSecrets?: Array<{ name: string }> } }
interface Webhooks { metadata: { resourceVersion: string }; webhooks: Array<{ clientConfig: { caBundle?: string; url?: string } }> }

beforeAll(async () => {
  await s.setup([
    '--pod-injection=webhook',
    '--webhook-bind-address=127.0.0.1:0',
    `--webhook-configuration-name=${CONFIGURATION}`,
    `--webhook-secret-name=${s.id}-webhook-tls`,
  ]);
  await s.sourceSecret('pw', { password: s.password() });
  await s.credential(`${s.id}-pods`, {
    secretName: 'regcred',
    registries: [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
    namespaces: { include: [`${s.id}-*`] },
  });
  // The leader publishes the configuration once it serves: from then on admissions reach it.
  await eventually('the webhook configuration', () => s.client.get<Webhooks>(configurations, undefined, CONFIGURATION).then((c) => !!c.webhooks[0]?.clientConfig.caBundle, () => false), 60_000);
}, 120_000);

afterAll(async () => {
  await s.teardown();
  // The operator keeps its configuration through restarts; the test's copy goes with the test.
  await s.client.delete(configurations, undefined, CONFIGURATION).catch(() => undefined);
});

const pod = (name: string, extra: Record<string, unknown> = {}) => ({ metadata: { name }, spec: { containers: [{ name: 'app', image: 'registry.acme.io/app:1' }], ...extra } });
const names = (p: Pod) => (p.spec.imagePullSecrets ?? []).map((e) => e.name);

/**
 * Creates a pod as a controller would: the ServiceAccount admission plugin refuses a pod until the
 * namespace's `default` ServiceAccount exists, and the client tries again.
 */
async function createPod(ns: string, name: string, extra?: Record<string, unknown>, query?: Record<string, string>): Promise<Pod> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await s.client.request<Pod>('POST', `/api/v1/namespaces/${ns}/pods`, { body: { apiVersion: 'v1', kind: 'Pod', ...pod(name, extra) }, ...(query ? { query } : {}) });
    } catch (err) {
      const waitingForServiceAccount = err instanceof KubeError && /serviceaccount|service account/i.test(err.message);
      if (!waitingForServiceAccount || attempt > 200) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

describe('pod admission', () => {
  it('a namespace and a pod created back to back: the pod has our entry, 50 times in a row', async () => {
    const missing: string[] = [];
    for (let i = 0; i < 50; i++) {
      const ns = `${s.id}-race-${i}`;
      await createNamespace(s.client, ns);
      const created = await createPod(ns, 'app');
      if (!names(created).includes('regcred')) missing.push(ns);
    }
    expect(missing).toEqual([]);
  }, 180_000);

  it('patches nothing in kube-system or in an opted-out namespace, and never adds the entry twice', async () => {
    const system = await createPod('kube-system', `${s.id}-probe`);
    try {
      expect(names(system)).not.toContain('regcred');
    } finally {
      await s.client.delete(RESOURCES.pods, 'kube-system', `${s.id}-probe`).catch(() => undefined);
    }
    const optedOut = await s.namespace('ignored', { [IGNORE_LABEL]: 'true' });
    expect(names(await createPod(optedOut, 'app'))).toEqual([]);

    const ns = await s.namespace('listed');
    const listed = await createPod(ns, 'app', { imagePullSecrets: [{ name: 'other' }, { name: 'regcred' }] });
    expect(names(listed)).toEqual(['other', 'regcred']);
    const others = await createPod(ns, 'other', { imagePullSecrets: [{ name: 'other' }] });
    expect(names(others)).toContain('regcred');
    expect(names(others).filter((n) => n === 'regcred')).toHaveLength(1);
  });

  it('answers a server-side dry run the same, and nothing is stored', async () => {
    const ns = await s.namespace('dry');
    const dry = await createPod(ns, 'dry', undefined, { dryRun: 'All' });
    expect(names(dry)).toContain('regcred');
    expect(await s.client.get(RESOURCES.pods, ns, 'dry').then(() => 'stored', () => 'absent')).toBe('absent');
  });

  it('restores a caBundle someone overwrites', async () => {
    const live = await s.client.get<Webhooks>(configurations, undefined, CONFIGURATION);
    const good = live.webhooks[0]!.clientConfig.caBundle;
    const broken = structuredClone(live);
    broken.webhooks[0]!.clientConfig.caBundle = Buffer.from('not a CA').toString('base64');
    await s.client.replace(configurations, undefined, CONFIGURATION, broken);
    await eventually('the caBundle restored', async () => (await s.client.get<Webhooks>(configurations, undefined, CONFIGURATION)).webhooks[0]!.clientConfig.caBundle === good);
    const ns = await s.namespace('after-restore');
    expect(names(await createPod(ns, 'app'))).toContain('regcred');
  });

  it('lets pods through when the webhook hangs (fail open), within its 3 s timeout', async () => {
    const ns = await s.namespace('hung');
    await s.saEventually(ns, 'default', () => true);
    const child = s.operator!.child;
    child.kill('SIGSTOP');
    try {
      const started = Date.now();
      const created = await createPod(ns, 'through');
      expect(created.metadata.name).toBe('through');
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      child.kill('SIGCONT');
    }
  });
});
