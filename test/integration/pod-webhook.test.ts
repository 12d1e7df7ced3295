// The pod race, closed at admission, on the real control plane: a namespace and a pod created back
// to back still give a pod with our entry, 50 times in a row, because the operator's webhook adds it
// when the ServiceAccount does not carry it yet. Nothing is patched where nothing is selected, a pod
// that lists the Secret already is left alone, a server-side dry run is answered the same, a
// stopped webhook lets pods through (fail open), a caBundle someone overwrites is restored, and a
// new CA (the TLS Secret deleted) is made, published and served while pods keep being created.
import { X509Certificate } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IGNORE_LABEL } from '../../src/api/labels.ts';
import { generateCA, generateServingCertificate } from '../../src/server/certs.ts';
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
  it('makes, publishes and serves a new CA when its Secret is deleted, while no pod creation fails', async () => {
    const secretName = `${s.id}-webhook-tls`;
    const before = await s.client.get<{ metadata: { uid: string } }>(RESOURCES.secrets, s.credentialsNamespace, secretName);
    const ns = await s.namespace('rotate');
    await s.saEventually(ns, 'default', () => true);
    let stop = false;
    let created = 0;
    const creating = (async () => {
      for (let i = 0; !stop; i++, created++) await createPod(ns, `p${i}`);
    })();
    try {
      await s.client.delete(RESOURCES.secrets, s.credentialsNamespace, secretName);
      const after = await eventually('a new TLS Secret', () => s.client.get<{ metadata: { uid: string }; data: Record<string, string> }>(RESOURCES.secrets, s.credentialsNamespace, secretName)
        .then((x) => (x.metadata.uid !== before.metadata.uid ? x : undefined), () => undefined));
      const caPem = Buffer.from(after.data['ca.crt']!, 'base64').toString().trim();
      const ca = new X509Certificate(caPem);
      await eventually('the new CA published', async () =>
        Buffer.from((await s.client.get<Webhooks>(configurations, undefined, CONFIGURATION)).webhooks[0]!.clientConfig.caBundle ?? '', 'base64').toString().includes(caPem));
      await eventually('a certificate from the new CA served', async () => (await servedCertificate()).checkIssued(ca));
    } finally {
      stop = true;
      await creating;
    }
    expect(created).toBeGreaterThan(0);
    const ns2 = await s.namespace('rotated');
    expect(names(await createPod(ns2, 'app'))).toContain('regcred');
  });
});

/** The certificate the operator's webhook port presents now. */
async function servedCertificate(): Promise<X509Certificate> {
  const line = s.operator!.logs().split('\n').find((l) => l.includes('"msg":"serving the pod webhook"'));
  const port = (JSON.parse(line!) as { port: number }).port;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'localhost' }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.end();
      if (cert) resolve(cert);
      else reject(new Error('no certificate presented'));
    });
    socket.once('error', reject);
  });
}

describe('health', () => {
  it('says the webhook is not serving when it cannot (its port taken), while the caches stay ready', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as AddressInfo).port;
    const down = new Scenario('hookdown');
    try {
      await down.setup([
        '--pod-injection=webhook',
        `--webhook-bind-address=127.0.0.1:${port}`,
        `--webhook-configuration-name=${down.id}-webhook`,
        `--webhook-secret-name=${down.id}-webhook-tls`,
        '--watch-stale-limit=3s',
      ]);
      const health = await eventually('/healthz failing on the webhook', async () => {
        const res = await fetch(`http://127.0.0.1:${down.operator!.healthPort}/healthz`);
        const body = await res.text();
        return res.status === 503 && body.includes('pod webhook: not serving') ? body : undefined;
      });
      expect(health).toContain('pod webhook: not serving');
      expect((await fetch(`http://127.0.0.1:${down.operator!.healthPort}/readyz`)).status).toBe(200);
    } finally {
      await down.teardown();
      taken.close();
    }
  });
});

describe('certificates from elsewhere (cert-manager)', () => {
  it('serves and publishes a Secret another tool writes, and never writes it', async () => {
    const ext = new Scenario('hookext');
    const secretName = `${ext.id}-webhook-tls`;
    const configuration = `${ext.id}-webhook`;
    try {
      await ext.setup([
        '--pod-injection=webhook',
        '--webhook-bind-address=127.0.0.1:0',
        '--webhook-certificates=external',
        `--webhook-configuration-name=${configuration}`,
        `--webhook-secret-name=${secretName}`,
      ]);
      // What cert-manager writes for a Certificate: tls.crt, tls.key and the issuing CA in ca.crt.
      const ca = await generateCA({ commonName: 'cert-manager test CA' });
      const serving = await generateServingCertificate({ issuer: ca, commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
      const b64 = (v: string) => Buffer.from(v).toString('base64');
      const written = await ext.client.create<{ metadata: { resourceVersion: string } }>(RESOURCES.secrets, ext.credentialsNamespace, {
        metadata: { name: secretName },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': b64(serving.cert), 'tls.key': b64(serving.key), 'ca.crt': b64(ca.cert) },
      });
      await ext.sourceSecret('pw', { password: ext.password() });
      await ext.credential(`${ext.id}-pods`, {
        secretName: 'regcred',
        registries: [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
        namespaces: { include: [`${ext.id}-*`] },
      });
      await eventually('the CA published', async () => {
        const live = await ext.client.get<Webhooks>(configurations, undefined, configuration).catch(() => undefined);
        return Buffer.from(live?.webhooks[0]?.clientConfig.caBundle ?? '', 'base64').toString() === ca.cert;
      }, 60_000);
      const ns = await ext.namespace('app');
      const created = await ext.client.create<Pod>(RESOURCES.pods, ns, pod('app')).catch(async () => {
        await ext.saEventually(ns, 'default', () => true);
        return ext.client.create<Pod>(RESOURCES.pods, ns, pod('app'));
      });
      expect(names(created)).toContain('regcred');
      const now = await ext.client.get<{ metadata: { resourceVersion: string } }>(RESOURCES.secrets, ext.credentialsNamespace, secretName);
      expect(now.metadata.resourceVersion).toBe(written.metadata.resourceVersion);
    } finally {
      await ext.teardown();
      await ext.client.delete(configurations, undefined, configuration).catch(() => undefined);
    }
  });
});
