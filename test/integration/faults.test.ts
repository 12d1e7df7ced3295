// Faults on a control plane of this file's own, with the operator on HTTP/2: the API server dies and
// comes back, and the connection goes silent without closing. The operator's caches must recover by themselves and
// /healthz must say when they cannot.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient } from '../../src/kube/client.ts';
import { ControlPlane } from '../controlplane/controlplane.ts';
import { eventually } from '../support/cluster.ts';
import { FreezableProxy } from '../support/proxy.ts';
import { decode, Scenario } from '../support/scenario.ts';

let cp: ControlPlane;
let proxy: FreezableProxy;
let s: Scenario;
let password = '';

const registries = [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

beforeAll(async () => {
  cp = await ControlPlane.start({ log: () => undefined });
  execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', 'crds/regcred.dev_registrycredentials.yaml'], { stdio: 'ignore' });
  execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev'], { stdio: 'ignore' });
  proxy = await FreezableProxy.start(cp.server);
  const viaProxy = JSON.parse(readFileSync(cp.kubeconfigPath, 'utf8'));
  viaProxy.clusters[0].cluster.server = `https://127.0.0.1:${proxy.port}`;
  const path = join(cp.dir, 'via-proxy.kubeconfig');
  writeFileSync(path, JSON.stringify(viaProxy));
  s = new Scenario('fault', KubeClient.load(cp.kubeconfigPath));
  s.operatorKubeconfig = path;
  // Over HTTP/2 (--http2): the restart and the silent connection must be noticed on shared
  // connections too; the chaos suite runs the default, HTTP/1.1, through the same faults.
  await s.setup(['--watch-inactivity-timeout', '2s', '--watch-stale-limit', '6s', '--http2']);
  password = s.password();
  await s.sourceSecret('pw', { password });
  await s.credential(`${s.id}-rc`, { secretName: 'fault', registries, namespaces: { include: [`${s.id}-*`] } });
});

afterAll(async () => {
  proxy?.thaw();
  await s?.teardown();
  await proxy?.stop();
  await cp?.stop();
});

const healthz = async () => {
  const res = await fetch(`http://127.0.0.1:${s.operator!.healthPort}/healthz`);
  return { status: res.status, body: await res.text() };
};

describe('faults', () => {
  it('recovers its watches after the API server is killed and restarted', async () => {
    const before = await s.namespace('before-restart');
    await s.secretEventually(before, 'fault');
    await cp.restartApiServer();
    const after = await s.namespace('after-restart');
    await s.secretEventually(after, 'fault', () => true, 60_000);
    expect(s.operator!.exited).toBe(false);
  });

  it('keeps its open file descriptors flat across many watch reconnects', async () => {
    const fds = () => readdirSync(`/proc/${s.operator!.child.pid}/fd`).length;
    const reconnects = () => (s.operator!.logs().match(/watch stream went silent; reconnecting/g) ?? []).length;
    const before = fds();
    const reconnectsBefore = reconnects();
    // Quiet watches are cut after 2 s of silence and resumed: count 20 reconnects, however long a
    // busy machine takes for them, then compare.
    await eventually('20 watch reconnects', async () => reconnects() - reconnectsBefore >= 20, 100_000);
    expect(fds() - before).toBeLessThan(10);
  });

  it('notices a silent connection: /healthz fails while it lasts, and the change made meanwhile lands after', async () => {
    await eventually('healthy', async () => (await healthz()).status === 200);
    proxy.freeze();
    const during = await s.namespace('during-freeze');
    const unhealthy = await eventually('/healthz to fail', async () => {
      const h = await healthz();
      return h.status === 503 ? h : undefined;
    }, 30_000);
    expect(unhealthy.body).toContain('silent');
    expect(await s.getSecret(during, 'fault').then(() => true, () => false)).toBe(false);

    proxy.thaw();
    await s.secretEventually(during, 'fault', () => true, 60_000);
    await eventually('healthy again', async () => (await healthz()).status === 200, 30_000);
    // What landed is the whole change: the rendered credential, and the ServiceAccount entry.
    const landed = await s.getSecret(during, 'fault');
    expect(landed.type).toBe('kubernetes.io/dockerconfigjson');
    const config = JSON.parse(decode(landed.data?.['.dockerconfigjson'])) as { auths: Record<string, { username?: string; password?: string }> };
    expect(config.auths['registry.acme.io']).toMatchObject({ username: 'registry-user', password });
    await s.saEventually(during, 'default', (entries) => entries.includes('fault'), 60_000);
  });
});
