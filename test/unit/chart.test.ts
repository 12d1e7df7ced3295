// The Helm chart renders the same objects as config/default: `helm template` (helm built by
// test/tools/build-helm.sh) against `kubectl kustomize` (the kubectl of test/controlplane/build.sh).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }>;
  ports: Array<{ name: string; containerPort: number }>;
  livenessProbe: { httpGet: { path: string; port: string | number } };
  readinessProbe: { httpGet: { path: string; port: string | number } };
  resources: unknown;
  securityContext: Record<string, unknown>;
}

interface Deployment extends K8sObject {
  spec: { replicas: number; template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Container[] } } };
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

const CHART = 'charts/regcred-operator';
const RELEASE = 'regcred-operator';
const NAMESPACE = 'regcred-system';

/** Runs a build script (quietly when its output is cached) and returns the last line it prints. */
function toolPath(script: string): string {
  const out = execFileSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const last = out.trim().split('\n').at(-1);
  if (!last) throw new Error(`${script} printed nothing`);
  return last;
}

function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** Everything but labels and annotations, which differ by design (helm adds chart and release labels). */
function withoutMetadataLabels(o: K8sObject): unknown {
  const { labels: _labels, annotations: _annotations, ...metadata } = o.metadata;
  return { ...o, metadata };
}

function byKey(objects: K8sObject[]): Map<string, K8sObject> {
  return new Map(objects.map((o) => [key(o), o]));
}

function find<T extends K8sObject = K8sObject>(objects: K8sObject[], kind: string, name: string): T {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`${kind} ${name} not rendered; have ${objects.map(key).join(', ')}`);
  return o as T;
}

let helm: string;
let kubectl: string;

function helmTemplate(...args: string[]): K8sObject[] {
  return parseObjects(execFileSync(helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE, '--include-crds', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

function kustomize(dir: string): K8sObject[] {
  return parseObjects(execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' }));
}

// On a fresh machine the first call builds helm (about 2 minutes) and the control plane binaries
// (about 7 minutes); later calls return the cached paths at once.
beforeAll(() => {
  helm = toolPath('test/tools/build-helm.sh');
  kubectl = `${toolPath('test/controlplane/build.sh')}/kubectl`;
}, 900_000);

describe('config/default', () => {
  it('holds the CRD, RBAC with exactly the calls the operator makes, and a hardened Deployment', () => {
    const objects = kustomize('config/default');
    expect(objects.map(key).sort()).toEqual([
      'ClusterRole//regcred-operator',
      'ClusterRoleBinding//regcred-operator',
      'CustomResourceDefinition//registrycredentials.regcred.dev',
      'Deployment/regcred-system/regcred-operator',
      'Namespace//regcred-system',
      'PodDisruptionBudget/regcred-system/regcred-operator',
      'Role/default/regcred-operator-events',
      'Role/regcred-system/regcred-operator-leader-election',
      'RoleBinding/default/regcred-operator-events',
      'RoleBinding/regcred-system/regcred-operator-leader-election',
      'Service/regcred-system/regcred-operator-metrics',
      'ServiceAccount/regcred-system/regcred-operator',
    ]);
    // `make undeploy` deletes by this label and so keeps the CRD, which does not carry it.
    expect(objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] !== 'regcred-operator').map(key)).toEqual([
      'CustomResourceDefinition//registrycredentials.regcred.dev',
    ]);
    expect(find(objects, 'CustomResourceDefinition', 'registrycredentials.regcred.dev')).toEqual(
      parseObjects(readFileSync('crds/regcred.dev_registrycredentials.yaml', 'utf8'))[0],
    );

    const clusterRules = find(objects, 'ClusterRole', 'regcred-operator').rules as Rule[];
    expect(clusterRules).toEqual([
      { apiGroups: ['regcred.dev'], resources: ['registrycredentials'], verbs: ['list', 'watch', 'patch'] },
      { apiGroups: ['regcred.dev'], resources: ['registrycredentials/status'], verbs: ['patch'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch', 'patch'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
    ]);
    // The Lease in the operator's namespace; Events about cluster-scoped objects in `default`.
    const leaseRole = find(objects, 'Role', 'regcred-operator-leader-election');
    expect(leaseRole.metadata.namespace).toBe(NAMESPACE);
    expect(leaseRole.rules).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    const eventsRole = find(objects, 'Role', 'regcred-operator-events');
    expect(eventsRole.metadata.namespace).toBe('default');
    expect(eventsRole.rules).toEqual([{ apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] }]);
    for (const rule of [...clusterRules, ...(leaseRole.rules as Rule[]), ...(eventsRole.rules as Rule[])]) {
      expect([...rule.apiGroups, ...rule.resources, ...rule.verbs]).not.toContain('*');
    }
    const subject = [{ kind: 'ServiceAccount', name: 'regcred-operator', namespace: NAMESPACE }];
    expect(find(objects, 'ClusterRoleBinding', 'regcred-operator').subjects).toEqual(subject);
    const leaseBinding = find(objects, 'RoleBinding', 'regcred-operator-leader-election');
    expect([leaseBinding.metadata.namespace, leaseBinding.roleRef, leaseBinding.subjects]).toEqual([
      NAMESPACE, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'regcred-operator-leader-election' }, subject,
    ]);
    const eventsBinding = find(objects, 'RoleBinding', 'regcred-operator-events');
    expect([eventsBinding.metadata.namespace, eventsBinding.roleRef, eventsBinding.subjects]).toEqual([
      'default', { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'regcred-operator-events' }, subject,
    ]);

    const deployment = find<Deployment>(objects, 'Deployment', 'regcred-operator');
    expect(deployment.spec.replicas).toBe(2);
    const pod = deployment.spec.template.spec;
    expect(pod.serviceAccountName).toBe('regcred-operator');
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } });
    const [manager] = pod.containers;
    expect(manager?.image).toBe('regcred-operator:latest');
    expect(manager?.args).toContain('--leader-elect');
    expect(manager?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 65532,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(manager?.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect(manager?.ports).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'metrics', containerPort: 8080 }),
      expect.objectContaining({ name: 'health', containerPort: 8081 }),
    ]));
    expect(manager?.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(manager?.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(manager?.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
      ['POD_NAMESPACE', 'metadata.namespace'],
      ['POD_NAME', 'metadata.name'],
    ]);
    expect(find(objects, 'PodDisruptionBudget', 'regcred-operator').spec).toMatchObject({ minAvailable: 1 });
  });
});

describe('Helm chart', () => {
  it('carries the generated CRD byte for byte', () => {
    expect(readFileSync(`${CHART}/crds/regcred.dev_registrycredentials.yaml`, 'utf8')).toBe(readFileSync('crds/regcred.dev_registrycredentials.yaml', 'utf8'));
  });

  it('renders with default values the objects of config/default, field for field', () => {
    const chart = byKey(helmTemplate());
    const kustomized = byKey(kustomize('config/default'));
    // The namespace is created by `helm install --create-namespace`, not by the chart.
    expect([...kustomized.keys()].filter((k) => !chart.has(k))).toEqual([`Namespace//${NAMESPACE}`]);
    expect([...chart.keys()].filter((k) => !kustomized.has(k))).toEqual([]);
    for (const [k, fromChart] of chart) {
      const fromKustomize = kustomized.get(k)!;
      expect(withoutMetadataLabels(fromChart), k).toEqual(withoutMetadataLabels(fromKustomize));
      expect(fromChart.metadata.labels ?? {}, k).toMatchObject(fromKustomize.metadata.labels ?? {});
    }
  });

  it('renders the ServiceMonitor of config/prometheus when serviceMonitor.enabled', () => {
    const monitor = find(helmTemplate('--set', 'serviceMonitor.enabled=true'), 'ServiceMonitor', RELEASE);
    const [fromKustomize] = kustomize('config/prometheus');
    expect(withoutMetadataLabels(monitor)).toEqual(withoutMetadataLabels(fromKustomize!));
  });

  it('puts the Role for the Lease in the credentials namespace and passes it to the operator', () => {
    const objects = helmTemplate('--set', 'credentialsNamespace=creds');
    expect(find(objects, 'Role', `${RELEASE}-leader-election`).metadata.namespace).toBe('creds');
    const binding = find(objects, 'RoleBinding', `${RELEASE}-leader-election`);
    expect(binding.metadata.namespace).toBe('creds');
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: RELEASE, namespace: NAMESPACE }]);
    expect(find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0]?.args).toContain('--credentials-namespace=creds');
    expect(find(objects, 'Role', `${RELEASE}-events`).metadata.namespace).toBe('default');
  });

  it('drops the Lease permission and the metrics Service when they are switched off', () => {
    const objects = helmTemplate('--set', 'replicas=1,leaderElection.enabled=false,metrics.enabled=false');
    expect(objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').map(key)).toEqual([
      `Role/default/${RELEASE}-events`,
      `RoleBinding/default/${RELEASE}-events`,
    ]);
    expect(objects.some((o) => o.kind === 'Service')).toBe(false);
    const manager = find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0];
    expect(manager?.args).not.toContain('--leader-elect');
    expect(manager?.args).toContain('--metrics-bind-address=0');
    expect(manager?.ports.map((p) => p.name)).toEqual(['health']);
  });

  it('refuses several replicas without leader election, and values outside the schema', () => {
    expect(() => helmTemplate('--set', 'replicas=2,leaderElection.enabled=false')).toThrow(/requires leaderElection.enabled/);
    expect(() => helmTemplate('--set', 'logLevel=loud')).toThrow(/logLevel/);
  });
});
