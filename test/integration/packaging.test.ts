// config/default on the real API server: it applies cleanly (server-side, beside the CRD the global
// set-up installed), its RBAC lets the ServiceAccount make exactly the operator's calls, and the
// operator, running with that ServiceAccount's token, brings a RegistryCredential to Ready without a
// single refused request. No kubelet runs here, so the Deployment's pods never start; nothing waits
// for them. Afterwards `make undeploy` deletes everything applied but the CRD (other tests use it)
// and the namespace, whose Secrets it must keep; this file then deletes the namespace itself.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { createNamespace, eventually, kubectl, testClient, uniqueName } from '../support/cluster.ts';
import { OperatorProcess } from '../support/operator.ts';
import { writeServiceAccountKubeconfig } from '../support/identity.ts';
import { SOURCE_OPT_IN } from '../support/scenario.ts';

const NAMESPACE = 'regcred-system';
const SERVICE_ACCOUNT = `system:serviceaccount:${NAMESPACE}:regcred-operator`;
const CRD = 'registrycredentials.regcred.dev';
const WEBHOOKS = { group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', namespaced: false, plural: 'mutatingwebhookconfigurations' };

interface K8sObject {
  kind: string;
  metadata: { name: string; namespace?: string };
}

const client = testClient();
const id = uniqueName('pkg');
const workDir = mkdtempSync(join(tmpdir(), 'regcred-packaging-'));
let rendered: K8sObject[] = [];
let operator: OperatorProcess | undefined;
const credentials: string[] = [];
const namespaces: string[] = [];

/** `kubectl auth can-i` as the operator's ServiceAccount; it exits 1 for "no". */
function canI(...args: string[]): boolean {
  try {
    return kubectl('auth', 'can-i', `--as=${SERVICE_ACCOUNT}`, ...args).trim() === 'yes';
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '').trim();
    if (out === 'no') return false;
    throw err;
  }
}

beforeAll(() => {
  rendered = parseAllDocuments(execFileSync(inject('kubectl'), ['kustomize', 'config/default'], { encoding: 'utf8' }))
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
});

afterAll(async () => {
  for (const name of credentials) await client.delete(RESOURCES.registryCredentials, undefined, name).catch(() => undefined);
  if (operator) {
    await eventually('RegistryCredentials to be gone', async () => {
      for (const name of credentials) if (await client.get(RESOURCES.registryCredentials, undefined, name).then(() => true, () => false)) return false;
      return true;
    }, 60_000).catch((err: unknown) => console.error(String(err)));
    await operator.stop();
  }
  for (const ns of namespaces) await client.delete(RESOURCES.namespaces, undefined, ns).catch(() => undefined);
  // Kept by the operator across restarts, and not part of config/default: this file made it.
  await client.delete(WEBHOOKS, undefined, 'regcred-operator').catch(() => undefined);
  // `make undeploy` itself, on this control plane: everything config/default created but the CRD
  // and the namespace, where a person's source Secret must survive.
  if (rendered.length) {
    const kept = `${id}-kept`;
    await client.create(RESOURCES.secrets, NAMESPACE, { metadata: { name: kept, labels: SOURCE_OPT_IN }, type: 'Opaque', data: { password: Buffer.from('kept').toString('base64') } });
    const env = { ...process.env };
    for (const name of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[name];
    execFileSync('make', ['--no-print-directory', '-o', '.cluster/kubectl-path', 'undeploy', `KUBECTL=${inject('kubectl')}`, `KUBECONFIG=${inject('kubeconfig')}`], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(kubectl('get', `crd/${CRD}`, '-o', 'name').trim()).toBe(`customresourcedefinition.apiextensions.k8s.io/${CRD}`);
    expect(kubectl('get', `secret/${kept}`, '-n', NAMESPACE, '-o', 'name').trim()).toBe(`secret/${kept}`);
    // Only the objects this file applied, by name: other files share the control plane, and
    // rbac.test.ts keeps renamed copies of these roles with the same labels.
    const left = rendered
      .filter((o) => o.kind !== 'CustomResourceDefinition' && o.kind !== 'Namespace')
      .filter((o) => kubectl('get', `${o.kind}/${o.metadata.name}`, ...(o.metadata.namespace ? ['-n', o.metadata.namespace] : []), '--ignore-not-found', '-o', 'name').trim() !== '')
      .map((o) => `${o.kind}/${o.metadata.name}`);
    expect(left).toEqual([]);
    kubectl('delete', `namespace/${NAMESPACE}`, '--wait=true', '--timeout=120s');
  }
  rmSync(workDir, { recursive: true, force: true });
}, 240_000);

describe('config/default on the API server', () => {
  it('applies cleanly with server-side apply, twice, beside the CRD the set-up installed', () => {
    expect(rendered.map((o) => o.kind)).toContain('CustomResourceDefinition');
    const first = kubectl('apply', '--server-side', '--field-manager=regcred-packaging-test', '-k', 'config/default');
    expect(first.trim().split('\n')).toHaveLength(rendered.length);
    const second = kubectl('apply', '--server-side', '--field-manager=regcred-packaging-test', '-k', 'config/default');
    expect(second.trim().split('\n')).toHaveLength(rendered.length);

    for (const o of rendered) {
      const args = ['get', `${o.kind}/${o.metadata.name}`, '-o', 'name'];
      if (o.metadata.namespace) args.push('-n', o.metadata.namespace);
      expect(kubectl(...args).trim(), `${o.kind} ${o.metadata.name}`).not.toBe('');
    }
    const kinds = rendered.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(expect.arrayContaining([
      'Deployment/regcred-operator',
      'ServiceAccount/regcred-operator',
      'ClusterRole/regcred-operator',
      'ClusterRoleBinding/regcred-operator',
      'Role/regcred-operator-leader-election',
      'RoleBinding/regcred-operator-leader-election',
      'Role/regcred-operator-events',
      'RoleBinding/regcred-operator-events',
      'Role/regcred-operator-sources',
      'RoleBinding/regcred-operator-sources',
      'ValidatingAdmissionPolicy/regcred-operator-writes',
      'ValidatingAdmissionPolicyBinding/regcred-operator-writes',
      `CustomResourceDefinition/${CRD}`,
    ]));
    const deployment = JSON.parse(kubectl('get', 'deployment/regcred-operator', '-n', NAMESPACE, '-o', 'json')) as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string; containers: Array<{ image: string; args: string[] }> } } };
    };
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.serviceAccountName).toBe('regcred-operator');
    expect(deployment.spec.template.spec.containers[0]?.image).toBe('regcred-operator:latest');
    expect(deployment.spec.template.spec.containers[0]?.args).toContain('--leader-elect');
    const established = kubectl('get', `crd/${CRD}`, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}');
    expect(established).toBe('True');
  });

  it('lets the ServiceAccount make exactly the calls the operator makes', () => {
    const allowed: string[][] = [
      ...['list', 'watch', 'patch'].map((v) => [v, 'registrycredentials.regcred.dev']),
      ['patch', 'registrycredentials.regcred.dev', '--subresource=status'],
      ...['list', 'watch'].map((v) => [v, 'namespaces']),
      ...['get', 'list', 'watch', 'patch'].map((v) => [v, 'serviceaccounts', '-n', 'default']),
      // Secrets of the allowed name anywhere (the admission policy narrows create to them).
      ...['list', 'watch'].map((v) => [v, 'secrets/regcred', '--all-namespaces']),
      ...['get', 'update', 'patch', 'delete'].map((v) => [v, 'secrets/regcred', '-n', 'default']),
      ['create', 'secrets', '-n', 'default'],
      // Sources and the digest key Secret, read (and the key created once) in the credentials namespace.
      ...['get', 'list', 'watch', 'create'].map((v) => [v, 'secrets', '-n', NAMESPACE]),
      // ConfigMaps that may hold CA bundles for validation, in the credentials namespace.
      ...['list', 'watch'].map((v) => [v, 'configmaps', '-n', NAMESPACE]),
      // The pod webhook: its configuration and the renewal of its TLS Secret.
      ...['get', 'list', 'watch', 'update'].map((v) => [v, 'mutatingwebhookconfigurations.admissionregistration.k8s.io/regcred-operator']),
      ['create', 'mutatingwebhookconfigurations.admissionregistration.k8s.io'],
      ['update', 'secrets/regcred-operator-webhook-tls', '-n', NAMESPACE],
      ['create', 'events.events.k8s.io', '-n', 'default'],
      ...['get', 'create', 'update'].map((v) => [v, 'leases.coordination.k8s.io', '-n', NAMESPACE]),
      // --metrics-secure: who a scraper's token belongs to, and whether it may read /metrics.
      ['create', 'tokenreviews.authentication.k8s.io'],
      ['create', 'subjectaccessreviews.authorization.k8s.io'],
    ];
    const denied: string[][] = [
      ['get', 'registrycredentials.regcred.dev'],
      ['get', 'namespaces'],
      ['create', 'registrycredentials.regcred.dev'],
      ['update', 'registrycredentials.regcred.dev'],
      ['delete', 'registrycredentials.regcred.dev'],
      ['update', 'registrycredentials.regcred.dev', '--subresource=status'],
      ['create', 'namespaces'],
      ['patch', 'namespaces'],
      ['create', 'serviceaccounts', '-n', 'default'],
      ['update', 'serviceaccounts', '-n', 'default'],
      ['delete', 'serviceaccounts', '-n', 'default'],
      ['deletecollection', 'secrets', '-n', 'default'],
      ...['list', 'watch'].map((v) => [v, 'secrets', '--all-namespaces']),
      ...['get', 'list', 'watch', 'update', 'patch', 'delete'].map((v) => [v, 'secrets', '-n', 'default']),
      ...['get', 'update', 'delete'].map((v) => [v, 'secrets/other', '-n', 'default']),
      ...['update', 'patch', 'delete'].map((v) => [v, 'secrets', '-n', NAMESPACE]),
      ['create', 'events.events.k8s.io', '-n', NAMESPACE],
      ['create', 'events.events.k8s.io', '-n', 'kube-system'],
      ['update', 'events.events.k8s.io', '-n', 'default'],
      ['create', 'events', '-n', 'default'],
      ['get', 'leases.coordination.k8s.io', '-n', 'default'],
      ['update', 'leases.coordination.k8s.io', '-n', 'kube-system'],
      ['delete', 'leases.coordination.k8s.io', '-n', NAMESPACE],
      ['list', 'configmaps', '--all-namespaces'],
      ['list', 'pods', '-n', NAMESPACE],
      ['create', 'clusterrolebindings'],
      ['update', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/other'],
      ['delete', 'mutatingwebhookconfigurations.admissionregistration.k8s.io/regcred-operator'],
      ['update', 'validatingwebhookconfigurations.admissionregistration.k8s.io'],
      ['update', 'customresourcedefinitions'],
      // regcred-operator-metrics-reader is for the scraper, not bound to the operator.
      ['get', '/metrics'],
    ];
    expect(allowed.filter((a) => !canI(...a)).map((a) => a.join(' '))).toEqual([]);
    expect(denied.filter((a) => canI(...a)).map((a) => a.join(' '))).toEqual([]);
  });

  it('is enough for the operator: with the ServiceAccount token it leads, renders and records, refused nothing', async () => {
    operator = await OperatorProcess.start({
      credentialsNamespace: NAMESPACE,
      kubeconfig: await writeServiceAccountKubeconfig(testClient(), inject('kubeconfig'), NAMESPACE, 'regcred-operator', join(workDir, 'kubeconfig')),
      args: [
        '--leader-elect', '--lease-duration=5s', '--renew-deadline=4s', '--retry-period=1s', '--allowed-secret-names=regcred',
        '--pod-injection=webhook', '--webhook-bind-address=127.0.0.1:0',
      ],
    });
    await operator.waitForLog('became leader', 30_000);

    await client.create(RESOURCES.secrets, NAMESPACE, {
      metadata: { name: `${id}-password`, labels: SOURCE_OPT_IN },
      type: 'Opaque',
      data: { password: Buffer.from(`pw-${id}`).toString('base64') },
    });
    const target = `${id}-app`;
    namespaces.push(target);
    await createNamespace(client, target);
    const name = `${id}-cred`;
    credentials.push(name);
    await client.create(RESOURCES.registryCredentials, undefined, {
      metadata: { name },
      spec: {
        secretName: 'regcred',
        namespaces: { include: [`${id}-*`] },
        registries: [{ server: 'private-registry.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: `${id}-password`, key: 'password' } } }],
      },
    });

    const ready = await eventually(`RegistryCredential ${name} to be ready`, async () => {
      const rc = await client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, name);
      const condition = rc.status?.conditions?.find((c) => c.type === 'Ready');
      return condition?.status === 'True' && rc.status?.observedGeneration === rc.metadata.generation ? rc : undefined;
    }, 60_000);
    expect(ready.status?.namespaces).toEqual({ matched: 1, synced: 1, failed: 0 });
    const secret = await client.get<Secret>(RESOURCES.secrets, target, 'regcred');
    expect(secret.type).toBe('kubernetes.io/dockerconfigjson');
    const sa = await eventually('the default ServiceAccount entry', async () => {
      const s = await client.get<ServiceAccount>(RESOURCES.serviceAccounts, target, 'default');
      return s.imagePullSecrets?.some((e) => e.name === 'regcred') ? s : undefined;
    });
    expect(sa.imagePullSecrets).toContainEqual({ name: 'regcred' });

    const lease = JSON.parse(kubectl('get', 'lease/regcred-operator-leader', '-n', NAMESPACE, '-o', 'json')) as { spec: { holderIdentity?: string } };
    expect(lease.spec.holderIdentity).toBeTruthy();
    // Events about cluster-scoped objects are kept in `default`.
    await eventually(`an Event about ${name}`, async () => {
      const events = await client.list(RESOURCES.events, 'default', { fieldSelector: `regarding.name=${name}` });
      return events.items.length > 0;
    });

    // The pod webhook, as the shipped ServiceAccount under the shipped policy: its certificate and
    // configuration made, and a pod admitted with the entry it lacked.
    await eventually('the pod webhook configuration', () => client.get<{ webhooks: Array<{ clientConfig: { caBundle?: string } }> }>(WEBHOOKS, undefined, 'regcred-operator')
      .then((c) => !!c.webhooks[0]?.clientConfig.caBundle, () => false), 60_000);
    const podNs = `${id}-pod`;
    namespaces.push(podNs);
    await createNamespace(client, podNs);
    const pod = await eventually('a pod admitted', () => client.create<{ spec: { imagePullSecrets?: Array<{ name: string }> } }>(RESOURCES.pods, podNs, {
      metadata: { name: 'app' },
      spec: { containers: [{ name: 'app', image: 'private-registry.io/app:1' }] },
    }).catch(() => undefined));
    expect(pod.spec.imagePullSecrets).toContainEqual({ name: 'regcred' });

    const logs = operator.logs();
    expect(logs).not.toContain('"status":403');
    expect(logs).not.toContain('could not record event');
    expect(logs).not.toContain(`pw-${id}`);
  });
});
