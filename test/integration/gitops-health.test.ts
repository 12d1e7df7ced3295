// What GitOps tools make of RegistryCredentials on the real control plane: each object is read back
// from the API server and handed to test/tools/kstatus, which runs kstatus itself (cli-utils'
// status.Compute), the Flux healthCheckExprs and the Argo CD health script of docs/gitops.md (read
// from the file, so the docs cannot drift from what is tested) as Flux and Argo CD evaluate them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RECONCILE_REQUESTED_ANNOTATION } from '../../src/api/labels.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import { createNamespace, eventually } from '../support/cluster.ts';
import { Scenario } from '../support/scenario.ts';

interface Verdict { status?: string; message?: string; error?: string }
interface Health { name: string; kstatus: Verdict; flux: Verdict; argo: Verdict }

const s = new Scenario('gitops');
const dir = mkdtempSync(join(tmpdir(), 'regcred-gitops-'));
let tool: string;
let kustomization: string;
let configMap: string;

/** The fenced yaml blocks of docs/gitops.md, the one whose kind is given. */
function docsBlock(kind: string): string {
  const blocks = [...readFileSync('docs/gitops.md', 'utf8').matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
  const found = blocks.filter((b) => (parse(b) as { kind?: string }).kind === kind);
  if (found.length !== 1) throw new Error(`docs/gitops.md has ${found.length} yaml blocks of kind ${kind}`);
  return found[0]!;
}

/** The three verdicts on objects as read from the API server. */
function health(...objects: RegistryCredential[]): Health[] {
  const out = execFileSync(tool, ['--flux-kustomization', kustomization, '--argo-configmap', configMap], {
    input: JSON.stringify(objects),
    encoding: 'utf8',
  });
  return out.trim().split('\n').map((line) => JSON.parse(line) as Health);
}

function expectHealth(rc: RegistryCredential, kstatus: string, flux: string, argo: string): Health {
  const [h] = health(rc);
  expect({ kstatus: h!.kstatus.status, flux: h!.flux.status, argo: h!.argo.status }, JSON.stringify(h)).toEqual({ kstatus, flux, argo });
  for (const v of [h!.kstatus, h!.flux, h!.argo]) expect(v.error).toBeUndefined();
  return h!;
}

const registries = (source = 'pw') => [{ server: 'registry.acme.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: source, key: 'password' } } }];
const exists = (ns: string, name: string) => s.getSecret(ns, name).then(() => true, () => false);
const reasonOf = (rc: RegistryCredential, type: string) => rc.status?.conditions?.find((c) => c.type === type)?.reason;
/** The later cases need the operator, whatever became of the one that stops and starts it. */
const operatorRunning = async () => {
  if (!s.operator) await s.startOperator();
};

beforeAll(async () => {
  const out = execFileSync('bash', ['test/tools/kstatus/build.sh'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  tool = out.trim().split('\n').at(-1)!;
  kustomization = join(dir, 'kustomization.yaml');
  configMap = join(dir, 'argocd-cm.yaml');
  writeFileSync(kustomization, docsBlock('Kustomization'));
  writeFileSync(configMap, docsBlock('ConfigMap'));
  // The credentials namespace without the opt-out label: only the credentials-namespace rule keeps Secrets out of it.
  await createNamespace(s.client, s.credentialsNamespace);
  await s.sourceSecret('pw', { password: s.password() });
}, 600_000);
afterAll(async () => {
  await s.teardown();
  rmSync(dir, { recursive: true, force: true });
});

describe('GitOps health of RegistryCredentials', () => {
  it('reads the snippets of docs/gitops.md', () => {
    const k = parse(readFileSync(kustomization, 'utf8')) as { spec: { healthCheckExprs: Array<Record<string, string>> } };
    expect(k.spec.healthCheckExprs).toEqual([expect.objectContaining({ apiVersion: 'regcred.dev/v1alpha1', kind: 'RegistryCredential' })]);
    const cm = parse(readFileSync(configMap, 'utf8')) as { data: Record<string, string> };
    expect(Object.keys(cm.data)).toEqual(['resource.customizations.health.regcred.dev_RegistryCredential']);
  });

  it('follows a credential from creation through a pass, a new generation and a reconcile request', async () => {
    const app = await s.namespace('app');
    const name = `${s.id}-ok`;
    // No operator yet: nothing has been done, and every tool must say so.
    const created = await s.credential(name, { secretName: 'regcred', registries: registries(), namespaces: { include: [`${s.id}-*`] } });
    const fresh = await s.getCredential(name);
    expect(fresh.status).toEqual({ observedGeneration: -1 });
    const h = expectHealth(fresh, 'InProgress', 'InProgress', 'Progressing');
    expect(h.kstatus.message).toBe(`RegistryCredential generation is ${created.metadata.generation}, but latest observed generation is -1`);

    // Every status the operator writes, as a watch sees it.
    const seen: RegistryCredential[] = [];
    const watch = await s.client.watch(RESOURCES.registryCredentials, undefined, { fieldSelector: `metadata.name=${name}`, resourceVersion: fresh.metadata.resourceVersion! }, (_type, obj) => {
      seen.push(obj as RegistryCredential);
    }, () => undefined);
    try {
      await s.startOperator();
      const ready = await s.readyEventually(name, (r) => r.status?.namespaces?.synced === 1);
      expectHealth(ready, 'Current', 'Current', 'Healthy');
      await eventually('the watch to deliver the ready status', async () => seen.some((o) => reasonOf(o, 'Ready') === 'Synced'));
    } finally {
      watch.stop();
    }
    // The first status written says the pass is in progress, and is read so.
    const first = seen.find((o) => o.status?.conditions?.length);
    expect(first?.status?.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Ready=Unknown', 'Reconciling=True']);
    expectHealth(first!, 'InProgress', 'InProgress', 'Progressing');

    // The glob matches the credentials namespace too; only the app namespace gets the Secret.
    expect(await exists(app, 'regcred')).toBe(true);
    expect(await exists(s.credentialsNamespace, 'regcred')).toBe(false);

    // A new generation the operator has not observed (it is stopped, so it cannot have).
    await s.stopOperator();
    const bumped = await s.client.patch<RegistryCredential>(RESOURCES.registryCredentials, undefined, name, { spec: { serviceAccounts: { names: ['default', 'builder'] } } });
    expect(bumped.metadata.generation).toBe((created.metadata.generation ?? 0) + 1);
    const unobserved = await s.getCredential(name);
    expect(reasonOf(unobserved, 'Ready')).toBe('Synced');
    expectHealth(unobserved, 'InProgress', 'InProgress', 'Progressing');

    await s.startOperator();
    expectHealth(await s.readyEventually(name, (r) => r.status?.observedGeneration === bumped.metadata.generation), 'Current', 'Current', 'Healthy');

    // A reconcile request: a full pass puts back a Secret deleted behind the operator's back, and the value is echoed.
    const requested = new Date().toISOString();
    await s.client.delete(RESOURCES.secrets, app, 'regcred');
    await s.client.patch(RESOURCES.registryCredentials, undefined, name, { metadata: { annotations: { [RECONCILE_REQUESTED_ANNOTATION]: requested } } });
    const handled = await eventually('lastHandledReconcileAt', async () => {
      const rc = await s.getCredential(name);
      return rc.status?.lastHandledReconcileAt === requested ? rc : undefined;
    });
    expect(await exists(app, 'regcred')).toBe(true);
    expectHealth(handled, 'Current', 'Current', 'Healthy');
  });

  it('reads a credential waiting for a missing source as Failed and Degraded', async () => {
    await operatorRunning();
    const name = `${s.id}-missing`;
    await s.credential(name, { secretName: 'pull', registries: registries('absent'), namespaces: { include: [`${s.id}-none-*`] } });
    const stalled = await s.conditionEventually(name, 'SourceNotFound');
    expect(stalled.status?.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'SourceNotFound' });
    const h = expectHealth(stalled, 'Failed', 'Failed', 'Degraded');
    expect(h.kstatus.message).toContain('absent');
    expect(h.argo.message).toContain('absent');
  });

  it('reads a Secret name the operator may not write as Failed and Degraded', async () => {
    await operatorRunning();
    const name = `${s.id}-name`;
    await s.credential(name, { secretName: 'not-allowed-here', registries: registries(), namespaces: { include: [`${s.id}-none-*`] } });
    expectHealth(await s.conditionEventually(name, 'SecretNameNotAllowed'), 'Failed', 'Failed', 'Degraded');
  });

  it('reads a suspended credential as Current in kstatus and Flux and Suspended in Argo CD, and writes nothing for it', async () => {
    await operatorRunning();
    const ns = await s.namespace('paused');
    const name = `${s.id}-paused`;
    await s.credential(name, { secretName: 'pull', registries: registries(), namespaces: { include: [ns] }, suspend: true });
    const suspended = await s.conditionEventually(name, 'Suspended');
    expect(suspended.status?.conditions?.map((c) => c.type)).not.toContain('Reconciling');
    const h = expectHealth(suspended, 'Current', 'Current', 'Suspended');
    expect(h.argo.message).toContain('spec.suspend is true');
    expect(await exists(ns, 'pull')).toBe(false);

    await s.client.patch(RESOURCES.registryCredentials, undefined, name, { spec: { suspend: false } });
    expectHealth(await s.conditionEventually(name, 'Synced'), 'Current', 'Current', 'Healthy');
    expect(await exists(ns, 'pull')).toBe(true);
  });
});
