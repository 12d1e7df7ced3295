// Pod remediation (--remediate-pods) on the real control plane: a ReplicaSet's pod created before
// our entry landed on its ServiceAccount, and stuck in ImagePullBackOff, is evicted once the entry
// lands, and the ReplicaSet's replacement carries the pull secret (the ServiceAccount admission
// plugin copies it from the patched ServiceAccount). A bare pod in the same state is left alone.
//
// The shared control plane's kube-controller-manager runs no replicaset controller (nothing else
// needs one), so this file runs a second kube-controller-manager with that controller alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { RESOURCES } from '../../src/kube/client.ts';
import { eventually } from '../support/cluster.ts';
import { LOG_DIR } from '../support/operator.ts';
import { Scenario } from '../support/scenario.ts';

const s = new Scenario('rem');
const replicaSets = { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true };
let controllerManager: ChildProcess | undefined;

interface Pod {
  metadata: { name: string; namespace: string; uid: string; ownerReferences?: Array<{ controller?: boolean }> };
  spec: { imagePullSecrets?: Array<{ name: string }> };
  status?: { phase?: string };
}
interface EventItem { reason: string; type: string; regarding: { kind: string; name: string; uid?: string } }

beforeAll(async () => {
  mkdirSync(LOG_DIR, { recursive: true });
  const out = openSync(join(LOG_DIR, `replicaset-controller-${Date.now()}.log`), 'a');
  controllerManager = spawn(join(inject('binDir'), 'kube-controller-manager'), [
    `--kubeconfig=${inject('kubeconfig')}`,
    '--controllers=replicaset-controller',
    '--leader-elect=false',
    '--bind-address=127.0.0.1',
    '--secure-port=0',
    '--v=1',
  ], { stdio: ['ignore', out, out] });
  closeSync(out);
  await s.setup(['--remediate-pods']);
}, 120_000);

afterAll(async () => {
  await s.teardown();
  if (controllerManager && controllerManager.exitCode === null) {
    const exited = new Promise((r) => controllerManager!.once('exit', r));
    controllerManager.kill('SIGTERM');
    await exited;
  }
});

const container = { name: 'app', image: 'registry.acme.io/app:1' };
const names = (p: Pod) => (p.spec.imagePullSecrets ?? []).map((e) => e.name);
const podsOf = async (ns: string) => (await s.client.list<Pod>(RESOURCES.pods, ns)).items;

/** Marks the pod as a kubelet would after a failed pull, through the status subresource. */
async function backOff(ns: string, name: string): Promise<void> {
  await s.client.patch(RESOURCES.pods, ns, name, {
    status: {
      phase: 'Pending',
      containerStatuses: [{
        name: 'app', image: container.image, imageID: '', ready: false, restartCount: 0, started: false,
        state: { waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image' } },
      }],
    },
  }, 'merge', 'status');
}

describe('--remediate-pods', () => {
  it('evicts a ReplicaSet pod lacking the secret once the ServiceAccount has it; the replacement has it; a bare pod is left alone', async () => {
    await s.sourceSecret('pw', { password: s.password() });
    const ns = await s.namespace('app');
    await eventually('the default ServiceAccount', () => s.getServiceAccount(ns).then(() => true, () => false), 60_000);

    await s.client.create(replicaSets, ns, {
      metadata: { name: 'web' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [container] } },
      },
    });
    const first = await eventually('the ReplicaSet pod', async () => (await podsOf(ns)).find((p) => p.metadata.ownerReferences?.some((r) => r.controller)), 60_000);
    expect(names(first)).toEqual([]);
    await backOff(ns, first.metadata.name);

    const bare = await s.client.create<Pod>(RESOURCES.pods, ns, { metadata: { name: 'bare' }, spec: { containers: [container] } });
    expect(names(bare)).toEqual([]);
    await backOff(ns, 'bare');

    await s.credential(`${s.id}-rem`, {
      secretName: 'regcred',
      registries: [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
      namespaces: { include: [ns] },
    });
    await s.saEventually(ns, 'default', (entries) => entries.includes('regcred'), 60_000);

    await eventually('the first pod to be evicted', async () => !(await podsOf(ns)).some((p) => p.metadata.uid === first.metadata.uid), 60_000);
    const replacement = await eventually('the replacement pod', async () =>
      (await podsOf(ns)).find((p) => p.metadata.uid !== first.metadata.uid && p.metadata.name !== 'bare'), 60_000);
    expect(names(replacement)).toContain('regcred');

    const events = (await s.client.list<EventItem>(RESOURCES.events, ns)).items;
    expect(events.some((e) => e.reason === 'PodEvicted' && e.type === 'Normal' && e.regarding.kind === 'Pod' && e.regarding.uid === first.metadata.uid)).toBe(true);

    // The bare pod stays, well after the replacement came.
    await new Promise((r) => setTimeout(r, 3000));
    const still = await s.client.get<Pod>(RESOURCES.pods, ns, 'bare');
    expect(still.metadata.uid).toBe(bare.metadata.uid);
    expect(still.status?.phase).toBe('Pending');

    const metrics = await fetch(`http://127.0.0.1:${s.operator!.metricsPort}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/regcred_pod_remediations_total\{result="Evicted"\} 1/);
  });
});
