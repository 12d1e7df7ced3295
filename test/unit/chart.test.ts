// The Helm chart renders the same objects as config/default: `helm template` (helm built by
// test/tools/build-helm.sh) against `kubectl kustomize` (the kubectl of test/controlplane/build.sh).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

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

interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: unknown;
  topologySpreadConstraints?: unknown[];
  priorityClassName?: string;
}

interface Deployment extends K8sObject {
  spec: { replicas: number; template: { metadata: { labels: Record<string, string>; annotations: Record<string, string> }; spec: PodSpec } };
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface PodDisruptionBudget extends K8sObject {
  spec: { minAvailable?: number | string; maxUnavailable?: number | string; unhealthyPodEvictionPolicy?: string };
}

const CHART = 'charts/regcred-operator';
/** Every optional object of the chart switched on. */
const ALL_TOGGLES = [
  'serviceMonitor.enabled=true', 'prometheusRule.enabled=true', 'dashboard.enabled=true', 'networkPolicy.enabled=true',
  'remediatePods.enabled=true', 'podInjection.certManager.enabled=true', 'podDisruptionBudget.enabled=true',
].join(',');
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
  return parseObjects(execFileSync(helm, ['template', RELEASE, CHART, '--namespace', NAMESPACE, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** `helm lint --strict`; throws with helm's findings when the chart fails. */
function helmLint(...args: string[]): string {
  return execFileSync(helm, ['lint', '--strict', CHART, '--namespace', NAMESPACE, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** helmTemplate with a values file (the only way to give a value and then null it with --set). */
function helmTemplateWithValues(values: string, ...args: string[]): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-values-'));
  try {
    writeFileSync(join(dir, 'values.yaml'), values);
    return helmTemplate('-f', join(dir, 'values.yaml'), ...args);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const deploymentOf = (objects: K8sObject[]) => find<Deployment>(objects, 'Deployment', RELEASE);

function kustomize(dir: string): K8sObject[] {
  return parseObjects(execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8' }));
}

const AGGREGATE_TO = 'rbac.authorization.k8s.io/aggregate-to-';
const READ = ['get', 'list', 'watch'];

/**
 * regcred-admin, regcred-edit and regcred-view: each aggregated into the built-in role of its name
 * and about RegistryCredentials alone; admin and edit read and write them (the status only the
 * operator writes), view reads them and their status, and nothing else (no Secret).
 */
function expectRolesForPeople(objects: K8sObject[]): void {
  for (const role of ['admin', 'edit', 'view']) {
    const o = find(objects, 'ClusterRole', `regcred-${role}`);
    expect(Object.entries(o.metadata.labels ?? {}).filter(([k]) => k.startsWith(AGGREGATE_TO)), role).toEqual([[`${AGGREGATE_TO}${role}`, 'true']]);
    const rules = o.rules as Rule[];
    expect(rules.flatMap((r) => r.apiGroups), role).toEqual(rules.map(() => 'regcred.dev'));
    expect(rules.flatMap((r) => r.resources).filter((r) => r !== 'registrycredentials' && r !== 'registrycredentials/status'), role).toEqual([]);
    const verbsOn = (resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    if (role === 'view') {
      expect([verbsOn('registrycredentials'), verbsOn('registrycredentials/status')]).toEqual([READ, READ]);
    } else {
      expect(verbsOn('registrycredentials'), role).toEqual([...READ, 'create', 'update', 'patch', 'delete', 'deletecollection'].sort());
      expect(verbsOn('registrycredentials/status'), role).toEqual(['get']);
    }
  }
}

/** The disruption controller's arithmetic: evictions allowed with `pods` healthy pods of `pods` expected. */
function disruptionsAllowed(spec: PodDisruptionBudget['spec'], pods: number): number {
  const scaled = (v: number | string) => (typeof v === 'number' ? v : Math.ceil((pods * Number.parseInt(v, 10)) / 100));
  const desiredHealthy = spec.maxUnavailable !== undefined ? pods - scaled(spec.maxUnavailable) : scaled(spec.minAvailable ?? 0);
  return Math.max(0, pods - desiredHealthy);
}

/** A drain can evict the only pod of a single replica, healthy or not. */
function expectDrainableAtOneReplica(objects: K8sObject[]): void {
  for (const pdb of objects.filter((o): o is PodDisruptionBudget => o.kind === 'PodDisruptionBudget')) {
    expect(disruptionsAllowed(pdb.spec, 1), key(pdb)).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.unhealthyPodEvictionPolicy, key(pdb)).toBe('AlwaysAllow');
  }
}

/** Where runAsUser, runAsGroup or fsGroup is set, anywhere in an object. */
function identityFields(value: unknown, path = ''): string[] {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [
    ...(['runAsUser', 'runAsGroup', 'fsGroup'].includes(k) ? [`${path}.${k}`] : []),
    ...identityFields(v, `${path}.${k}`),
  ]);
}

/**
 * The objects `make undeploy` feeds to `kubectl delete`: make runs the target with a kubectl that
 * records its arguments and standard input (and passes `kustomize` on to the real one), and the
 * objects are rendered from what it recorded. One call only: a second would go unchecked.
 */
function undeployObjects(): K8sObject[] {
  const dir = mkdtempSync(join(tmpdir(), 'regcred-undeploy-'));
  try {
    const fake = join(dir, 'kubectl');
    writeFileSync(fake, [
      '#!/usr/bin/env bash',
      `if [ "$1" = kustomize ]; then exec '${kubectl}' "$@"; fi`,
      `echo >> '${dir}/calls'`,
      `printf '%s\\0' "$@" > '${dir}/args'`,
      `cat > '${dir}/stdin'`,
    ].join('\n'), { mode: 0o755 });
    const env = { ...process.env };
    for (const name of ['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL']) delete env[name];
    // -o: the real kubectl's path file (.cluster/kubectl-path) is neither needed nor made.
    execFileSync('make', ['--no-print-directory', '-o', '.cluster/kubectl-path', 'undeploy', `KUBECTL=${fake}`], { stdio: ['ignore', 'pipe', 'pipe'], env });
    expect(readFileSync(join(dir, 'calls'), 'utf8'), 'kubectl calls besides kustomize').toBe('\n');
    const [verb, ...args] = readFileSync(join(dir, 'args'), 'utf8').split('\0').slice(0, -1);
    expect(verb).toBe('delete');
    const objects: K8sObject[] = [];
    const selector: Array<[string, string]> = [];
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!;
      if (arg === '-k' || arg === '--kustomize') {
        objects.push(...kustomize(args[++i]!));
      } else if ((arg === '-f' || arg === '--filename') && args[i + 1] === '-') {
        objects.push(...parseObjects(readFileSync(join(dir, 'stdin'), 'utf8')));
        i++;
      } else if ((arg === '-l' || arg === '--selector') && /^[^,!=]+=[^,!=]*(,[^,!=]+=[^,!=]*)*$/.test(args[i + 1] ?? '')) {
        selector.push(...args[++i]!.split(',').map((term) => term.split('=') as [string, string]));
      } else if (!['--ignore-not-found', '--wait', '--wait=true'].includes(arg)) {
        throw new Error(`make undeploy passes ${arg} to kubectl delete; this test does not model it`);
      }
    }
    return objects.filter((o) => selector.every(([k, v]) => o.metadata.labels?.[k] === v));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
      'ClusterRole//regcred-admin',
      'ClusterRole//regcred-edit',
      'ClusterRole//regcred-operator',
      'ClusterRole//regcred-operator-metrics-auth',
      'ClusterRole//regcred-operator-metrics-reader',
      'ClusterRole//regcred-view',
      'ClusterRoleBinding//regcred-operator',
      'ClusterRoleBinding//regcred-operator-metrics-auth',
      'CustomResourceDefinition//registrycredentials.regcred.dev',
      'Deployment/regcred-system/regcred-operator',
      'Namespace//regcred-system',
      'PodDisruptionBudget/regcred-system/regcred-operator',
      'Role/default/regcred-operator-events',
      'Role/regcred-system/regcred-operator-leader-election',
      'Role/regcred-system/regcred-operator-sources',
      'Role/regcred-system/regcred-operator-token-request',
      'RoleBinding/default/regcred-operator-events',
      'RoleBinding/regcred-system/regcred-operator-leader-election',
      'RoleBinding/regcred-system/regcred-operator-sources',
      'RoleBinding/regcred-system/regcred-operator-token-request',
      'Service/regcred-system/regcred-operator-metrics',
      'Service/regcred-system/regcred-operator-webhook',
      'ServiceAccount/regcred-system/regcred-operator',
      'ValidatingAdmissionPolicy//regcred-operator-writes',
      'ValidatingAdmissionPolicyBinding//regcred-operator-writes',
    ]);
    // Every object but the CRD (shared by every install, and kept by `make undeploy`) is the operator's.
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
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['regcred'], verbs: ['get', 'list', 'watch', 'update', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], resourceNames: ['regcred-operator'], verbs: ['get', 'list', 'watch', 'update'] },
      { apiGroups: ['admissionregistration.k8s.io'], resources: ['mutatingwebhookconfigurations'], verbs: ['create'] },
    ]);
    // Source Secrets are read in the credentials namespace alone.
    const sourcesRole = find(objects, 'Role', 'regcred-operator-sources');
    expect(sourcesRole.metadata.namespace).toBe(NAMESPACE);
    expect(sourcesRole.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['regcred-operator-webhook-tls'], verbs: ['update'] },
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
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    const [manager] = pod.containers;
    expect(manager?.image).toBe('regcred-operator:latest');
    expect(manager?.args).toContain('--leader-elect');
    expect(manager?.args).toContain('--allowed-secret-names=regcred');
    expect(manager?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(manager?.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    expect(manager?.ports).toEqual(expect.arrayContaining([
      expect.objectContaining({ name: 'metrics', containerPort: 8080 }),
      expect.objectContaining({ name: 'health', containerPort: 8081 }),
      expect.objectContaining({ name: 'webhook', containerPort: 9443 }),
    ]));
    expect(manager?.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(manager?.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(manager?.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])).toEqual([
      ['POD_NAMESPACE', 'metadata.namespace'],
      ['POD_NAME', 'metadata.name'],
    ]);
    expect(find(objects, 'PodDisruptionBudget', 'regcred-operator').spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
  });

  it('ships the roles for people, aggregated into the built-in admin, edit and view', () => {
    expectRolesForPeople(kustomize('config/default'));
  });

  it('lets a drain evict the only replica of a single-replica install', () => {
    expectDrainableAtOneReplica(kustomize('config/default'));
  });

  it('fixes no user, group or fsGroup in the Deployment (OpenShift restricted-v2 assigns them)', () => {
    expect(identityFields(find(kustomize('config/default'), 'Deployment', 'regcred-operator'))).toEqual([]);
  });

  it('serves metrics under --metrics-secure: review rights for the operator, a reader role bound to no one', () => {
    const objects = kustomize('config/default');
    expect(find<Deployment>(objects, 'Deployment', 'regcred-operator').spec.template.spec.containers[0]?.args).toContain('--metrics-secure');
    expect(find(objects, 'ClusterRole', 'regcred-operator-metrics-auth').rules).toEqual([
      { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
    ]);
    const binding = find(objects, 'ClusterRoleBinding', 'regcred-operator-metrics-auth');
    expect([binding.roleRef, binding.subjects]).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'regcred-operator-metrics-auth' },
      [{ kind: 'ServiceAccount', name: 'regcred-operator', namespace: NAMESPACE }],
    ]);
    expect(find(objects, 'ClusterRole', 'regcred-operator-metrics-reader').rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    expect(objects.filter((o) => (o.roleRef as { name?: string } | undefined)?.name === 'regcred-operator-metrics-reader').map(key)).toEqual([]);
    const monitor = find(kustomize('config/prometheus'), 'ServiceMonitor', 'regcred-operator');
    expect((monitor.spec as { endpoints: unknown[] }).endpoints).toEqual([expect.objectContaining({
      scheme: 'https',
      bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      tlsConfig: { insecureSkipVerify: true },
    })]);
  });

  it('keeps the NetworkPolicy in config/network-policy, out of config/default', () => {
    expect(kustomize('config/default').some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    const policies = kustomize('config/network-policy');
    expect(policies.map(key)).toEqual([`NetworkPolicy/${NAMESPACE}/regcred-operator`]);
    expect(policies[0]!.spec).toEqual({
      podSelector: { matchLabels: { 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/instance': 'regcred-operator' } },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [{ port: 'metrics', protocol: 'TCP' }, { port: 'health', protocol: 'TCP' }, { port: 'webhook', protocol: 'TCP' }] }],
      egress: [
        { ports: [{ port: 443, protocol: 'TCP' }, { port: 6443, protocol: 'TCP' }] },
        { ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] },
      ],
    });
  });
});

describe('make undeploy', () => {
  it('deletes everything of config/default but the CRD and the namespace with the source Secrets', () => {
    const deleted = undeployObjects().map(key).sort();
    const deployed = kustomize('config/default').map(key).sort();
    expect(deleted).toEqual(deployed.filter((k) => k !== `Namespace//${NAMESPACE}` && !k.startsWith('CustomResourceDefinition/')));
  });
});

describe('Helm chart', () => {
  it('passes helm lint --strict with default values and with every toggle on', () => {
    expect(helmLint()).toMatch(/0 chart\(s\) failed/);
    expect(helmLint('--set', ALL_TOGGLES)).toMatch(/0 chart\(s\) failed/);
  });

  it('templates the generated CRD, kept on uninstall, so helm upgrade upgrades it', () => {
    // Helm installs a chart's crds/ once and never upgrades it: the CRD must be a template only.
    expect(existsSync(`${CHART}/crds`)).toBe(false);
    const [fromConfig] = parseObjects(readFileSync('config/crd/bases/regcred.dev_registrycredentials.yaml', 'utf8'));
    const crd = find(helmTemplate(), 'CustomResourceDefinition', 'registrycredentials.regcred.dev');
    expect(withoutMetadataLabels(crd)).toEqual(withoutMetadataLabels(fromConfig!));
    expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(crd.metadata.labels).toMatchObject({ 'app.kubernetes.io/instance': RELEASE, 'app.kubernetes.io/managed-by': 'Helm' });
    const notKept = find(helmTemplate('--set', 'crds.keep=false'), 'CustomResourceDefinition', 'registrycredentials.regcred.dev');
    expect(notKept.metadata.annotations).toBeUndefined();
    // A second release in the same cluster leaves the CRD to the first; nothing else changes.
    const withCrd = helmTemplate().map(key);
    const withoutCrd = helmTemplate('--set', 'crds.enabled=false').map(key);
    expect(withoutCrd.filter((k) => k.startsWith('CustomResourceDefinition/'))).toEqual([]);
    expect(withoutCrd).toEqual(withCrd.filter((k) => !k.startsWith('CustomResourceDefinition/')));
  });

  it('tags the image with the appVersion, which is the package version, unless told otherwise', () => {
    const chart = parse(readFileSync(`${CHART}/Chart.yaml`, 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
    const image = (...args: string[]) => deploymentOf(helmTemplate(...args)).spec.template.spec.containers[0]?.image;
    expect(image()).toBe(`regcred-operator:${pkg.version}`);
    expect(image('--set', 'image.repository=registry.example.com/regcred,image.tag=1.2.3')).toBe('registry.example.com/regcred:1.2.3');
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(image('--set', `image.tag=1.2.3,image.digest=${digest}`)).toBe(`regcred-operator@${digest}`);
    expect(() => helmTemplate('--set', 'image.digest=latest')).toThrow(/digest/);
  });

  it('renders with default values the objects of config/default, field for field', () => {
    // config/default runs the image `make docker-build` tags; the chart's default tag is its appVersion.
    const chart = byKey(helmTemplate('--set', 'image.tag=latest'));
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
    const fromKustomize = find(kustomize('config/prometheus'), 'ServiceMonitor', 'regcred-operator');
    expect(withoutMetadataLabels(monitor)).toEqual(withoutMetadataLabels(fromKustomize));
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

  it('lets the operator request tokens of the named ServiceAccounts of the credentials namespace only', () => {
    const everyOne = find<K8sObject & { rules: Array<Record<string, unknown>> }>(helmTemplate(), 'Role', `${RELEASE}-token-request`);
    expect(everyOne.rules).toEqual([{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'] }]);
    const named = find<K8sObject & { rules: Array<Record<string, unknown>> }>(
      helmTemplate('--set', 'tokenRequest.serviceAccountNames={ecr-puller,acr-puller}'),
      'Role',
      `${RELEASE}-token-request`,
    );
    expect(named.rules).toEqual([{ apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['ecr-puller', 'acr-puller'] }]);
    expect(() => helmTemplate('--set', 'tokenRequest.serviceAcountNames={x}')).toThrow();
  });

  it('drops the Lease permission and the metrics Service when they are switched off', () => {
    const objects = helmTemplate('--set', 'replicas=1,leaderElection.enabled=false,metrics.enabled=false,podInjection.mode=off,tokenRequest.enabled=false');
    expect(objects.filter((o) => o.kind === 'Role' || o.kind === 'RoleBinding').map(key)).toEqual([
      `Role/${NAMESPACE}/${RELEASE}-sources`,
      `Role/default/${RELEASE}-events`,
      `RoleBinding/${NAMESPACE}/${RELEASE}-sources`,
      `RoleBinding/default/${RELEASE}-events`,
    ]);
    expect(objects.some((o) => o.kind === 'Service')).toBe(false);
    const manager = find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0];
    expect(manager?.args).not.toContain('--leader-elect');
    expect(manager?.args).toContain('--metrics-bind-address=0');
    expect(manager?.ports.map((p) => p.name)).toEqual(['health']);
    expect(manager?.args).toContain('--pod-injection=off');
    expect((find(objects, 'ClusterRole', RELEASE).rules as Rule[]).some((r) => r.apiGroups.includes('admissionregistration.k8s.io'))).toBe(false);
  });

  it('takes allowedSecretNames to the flag, the ClusterRole\'s resourceNames and the admission policy alike', () => {
    const objects = helmTemplate('--set', 'allowedSecretNames={regcred,pull.secrets},credentialsNamespace=creds,digestKeySecret=key');
    const args = find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0]?.args;
    expect(args).toEqual(expect.arrayContaining(['--allowed-secret-names=regcred,pull.secrets', '--digest-key-secret=key']));
    const rules = find(objects, 'ClusterRole', RELEASE).rules as Array<Rule & { resourceNames?: string[] }>;
    expect(rules.filter((r) => r.resources.includes('secrets'))).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['regcred', 'pull.secrets'], verbs: ['get', 'list', 'watch', 'update', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    expect(find(objects, 'Role', `${RELEASE}-sources`).metadata.namespace).toBe('creds');
    const policy = find(objects, 'ValidatingAdmissionPolicy', `${RELEASE}-writes`).spec as { variables: Array<{ name: string; expression: string }>; matchConditions: Array<{ expression: string }> };
    expect(Object.fromEntries(policy.variables.map((v) => [v.name, v.expression]))).toMatchObject({
      allowedNames: "['regcred', 'pull.secrets']",
      credentialsNamespace: "'creds'",
      digestKeySecret: "'key'",
    });
    expect(policy.matchConditions[0]!.expression).toBe(`request.userInfo.username == 'system:serviceaccount:${NAMESPACE}:${RELEASE}'`);
    expect(find(objects, 'ValidatingAdmissionPolicyBinding', `${RELEASE}-writes`).spec).toEqual({ policyName: `${RELEASE}-writes`, validationActions: ['Deny'] });
    const off = helmTemplate('--set', 'admissionPolicy.enabled=false');
    expect(off.filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy')).map(key)).toEqual([]);
    expect(() => helmTemplate('--set', 'allowedSecretNames={Bad_Name}')).toThrow(/allowedSecretNames/);
    expect(() => helmTemplate('--set', 'allowedSecretNames={}')).toThrow(/allowedSecretNames/);
  });

  it('adds the RBAC of config/remediation and --remediate-pods only when remediatePods.enabled', () => {
    expect(helmTemplate().some((o) => o.metadata.name.endsWith('-remediation'))).toBe(false);
    const objects = helmTemplate('--set', 'remediatePods.enabled=true');
    for (const fromKustomize of kustomize('config/remediation')) {
      const fromChart = find(objects, fromKustomize.kind, fromKustomize.metadata.name.replace('regcred-operator', RELEASE));
      expect(withoutMetadataLabels(fromChart)).toEqual(withoutMetadataLabels(fromKustomize));
    }
    expect(find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0]?.args).toContain('--remediate-pods');
  });

  it('with podInjection.certManager.enabled lets cert-manager write the webhook Secret, which the operator only reads', () => {
    expect(helmTemplate().some((o) => o.kind === 'Certificate')).toBe(false);
    const objects = helmTemplate('--set', 'podInjection.certManager.enabled=true');
    const certificate = find(objects, 'Certificate', `${RELEASE}-webhook`).spec as { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
    expect(certificate.secretName).toBe(`${RELEASE}-webhook-tls`);
    expect(certificate.dnsNames).toContain(`${RELEASE}-webhook.${NAMESPACE}.svc`);
    expect(certificate.issuerRef).toEqual({ name: `${RELEASE}-webhook`, kind: 'Issuer' });
    expect(find(objects, 'Issuer', `${RELEASE}-webhook`).spec).toEqual({ selfSigned: {} });
    expect(find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0]?.args).toContain('--webhook-certificates=external');
    const issued = helmTemplate('--set', 'podInjection.certManager.enabled=true,podInjection.certManager.issuerRef.name=corp-ca,podInjection.certManager.issuerRef.kind=ClusterIssuer');
    expect((find(issued, 'Certificate', `${RELEASE}-webhook`).spec as { issuerRef: unknown }).issuerRef).toEqual({ name: 'corp-ca', kind: 'ClusterIssuer' });
    expect(issued.some((o) => o.kind === 'Issuer')).toBe(false);
  });

  it('refuses several replicas without leader election, and values outside the schema', () => {
    expect(() => helmTemplate('--set', 'replicas=2,leaderElection.enabled=false')).toThrow(/requires leaderElection.enabled/);
    expect(() => helmTemplate('--set', 'logLevel=loud')).toThrow(/logLevel/);
    // minAvailable would block a drain at one replica; an old override fails instead of being ignored.
    expect(() => helmTemplate('--set', 'podDisruptionBudget.minAvailable=1')).toThrow(/minAvailable/);
    expect(() => helmTemplate('--set', 'podDisruptionBudget.maxUnavailable=0')).toThrow(/maxUnavailable/);
  });

  it('ships the roles for people unless aggregatedRoles.enabled is false', () => {
    expectRolesForPeople(helmTemplate());
    const off = helmTemplate('--set', 'aggregatedRoles.enabled=false');
    expect(off.filter((o) => Object.keys(o.metadata.labels ?? {}).some((k) => k.startsWith(AGGREGATE_TO))).map(key)).toEqual([]);
    expect(off.filter((o) => o.kind === 'ClusterRole').map(key).sort()).toEqual([`ClusterRole//${RELEASE}`, `ClusterRole//${RELEASE}-metrics-auth`, `ClusterRole//${RELEASE}-metrics-reader`]);
  });

  it('renders a PodDisruptionBudget only where it protects a second replica, and never one that blocks a drain', () => {
    const budgets = (...args: string[]) => helmTemplate(...args).filter((o): o is PodDisruptionBudget => o.kind === 'PodDisruptionBudget');
    expect(budgets('--set', 'replicas=1,leaderElection.enabled=false')).toEqual([]);
    const [atTwo, ...more] = budgets();
    expect(more).toEqual([]);
    expect(atTwo!.spec).toMatchObject({ maxUnavailable: 1, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(atTwo!.spec.minAvailable).toBeUndefined();
    expect(budgets('--set', 'replicas=3,podDisruptionBudget.maxUnavailable=2')[0]!.spec.maxUnavailable).toBe(2);
    expect(budgets('--set', 'podDisruptionBudget.enabled=false')).toEqual([]);
    // Asked for at one replica, the budget still lets a drain evict that replica.
    const forced = helmTemplate('--set', 'replicas=1,podDisruptionBudget.enabled=true');
    expect(forced.filter((o) => o.kind === 'PodDisruptionBudget')).toHaveLength(1);
    expectDrainableAtOneReplica(forced);
    expectDrainableAtOneReplica(helmTemplate());
  });

  it('fixes no user, group or fsGroup in the Deployment, and takes its security contexts from values', () => {
    expect(identityFields(find(helmTemplate(), 'Deployment', RELEASE))).toEqual([]);
    const pod = find<Deployment>(helmTemplate('--set', 'podSecurityContext.fsGroup=1000,securityContext.runAsUser=1000'), 'Deployment', RELEASE).spec.template.spec;
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, fsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]?.securityContext).toMatchObject({ runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    const relaxed = deploymentOf(helmTemplate('--set', 'securityContext.readOnlyRootFilesystem=false')).spec.template.spec.containers[0];
    expect(relaxed?.securityContext).toMatchObject({ readOnlyRootFilesystem: false, allowPrivilegeEscalation: false });
  });

  it('lets a user id given in a values file be taken back with null, or by the OpenShift switch', () => {
    const values = 'podSecurityContext:\n  runAsUser: 1000\n  fsGroup: 2000\nsecurityContext:\n  runAsUser: 1000\n  runAsGroup: 1000\n';
    const deployment = (...args: string[]) => deploymentOf(helmTemplateWithValues(values, ...args));
    expect(identityFields(deployment()).sort()).toEqual([
      '.spec.template.spec.containers.0.securityContext.runAsGroup',
      '.spec.template.spec.containers.0.securityContext.runAsUser',
      '.spec.template.spec.securityContext.fsGroup',
      '.spec.template.spec.securityContext.runAsUser',
    ]);
    const nulled = deployment('--set', 'podSecurityContext.runAsUser=null,securityContext.runAsUser=null');
    expect(identityFields(nulled).sort()).toEqual([
      '.spec.template.spec.containers.0.securityContext.runAsGroup',
      '.spec.template.spec.securityContext.fsGroup',
    ]);
    // On OpenShift (detected, or forced for a render without a cluster) restricted-v2 assigns them.
    const OPENSHIFT = ['--api-versions', 'security.openshift.io/v1'];
    for (const args of [OPENSHIFT, ['--set', 'global.compatibility.openshift.adaptSecurityContext=force']]) {
      const adapted = deployment(...args);
      expect(identityFields(adapted), args.join(' ')).toEqual([]);
      expect(adapted.spec.template.spec.securityContext, args.join(' ')).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(adapted.spec.template.spec.containers[0]?.securityContext, args.join(' ')).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    }
    expect(identityFields(deployment(...OPENSHIFT, '--set', 'global.compatibility.openshift.adaptSecurityContext=disabled'))).toHaveLength(4);
    expect(() => helmTemplate('--set', 'podSecurityContext.runAsUser=root')).toThrow(/runAsUser/);
  });

  it('refuses any key the chart does not know, at every level', () => {
    const typos: Array<[string, string]> = [
      ['replica=2', 'replica'],
      ['replicaCount=2', 'replicaCount'],
      ['image.tga=1.0', 'tga'],
      ['podSecurityContext.runAsNonroot=true', 'runAsNonroot'],
      ['securityContext.capabilites.drop={ALL}', 'capabilites'],
      ['dashboard.label.a=b', 'label'],
      ['prometheusRule.enable=true', 'enable'],
      ['podDisruptionBudget.minAvailable=1', 'minAvailable'],
      ['tolerations[0].efect=NoSchedule', 'efect'],
      ['topologySpreadConstraints[0].maxskew=1', 'maxskew'],
      ['resources.request.cpu=1', 'request'],
      ['crds.kep=false', 'kep'],
      ['global.compatibility.openshift.adapt=force', 'adapt'],
    ];
    for (const [setting, misspelt] of typos) {
      expect(() => helmTemplate('--set', setting), setting).toThrow(new RegExp(`additional propert(y|ies) '${misspelt}' not allowed`));
    }
  });

  it('has a schema that closes every object of the values (free-form maps typed, Kubernetes pass-throughs marked)', () => {
    const schema = JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as Record<string, unknown>;
    const open: string[] = [];
    const walk = (node: unknown, path: string): void => {
      if (!node || typeof node !== 'object') return;
      const n = node as Record<string, unknown>;
      const types = ([] as unknown[]).concat(n.type);
      if (types.includes('object')) {
        // Closed (false), or a map whose values have a schema; `true` only for Kubernetes objects
        // handed to the pod spec as they are, which the API server checks.
        if (n.additionalProperties === undefined || (n.additionalProperties === true && !path.includes('ffinity') && !path.includes('labelSelector'))) open.push(path);
      }
      for (const [k, v] of Object.entries(n)) walk(v, `${path}/${k}`);
    };
    walk(schema, '');
    expect(open).toEqual(['/properties/global']);
  });

  it('renders each monitoring toggle\'s object only when it is on, with the chart\'s files as content', () => {
    const KINDS = ['ServiceMonitor', 'PrometheusRule', 'ConfigMap', 'NetworkPolicy'];
    expect(helmTemplate().filter((o) => KINDS.includes(o.kind)).map(key)).toEqual([]);
    const objects = helmTemplate('--set', ALL_TOGGLES);
    expect(objects.filter((o) => KINDS.includes(o.kind)).map(key).sort()).toEqual([
      `ConfigMap/${NAMESPACE}/${RELEASE}-dashboard`,
      `NetworkPolicy/${NAMESPACE}/${RELEASE}`,
      `PrometheusRule/${NAMESPACE}/${RELEASE}`,
      `ServiceMonitor/${NAMESPACE}/${RELEASE}`,
    ]);

    const dashboardFile = readFileSync(`${CHART}/files/dashboard.json`, 'utf8');
    const dashboard = find(objects, 'ConfigMap', `${RELEASE}-dashboard`);
    expect(dashboard.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
    const data = dashboard.data as Record<string, string>;
    expect(Object.keys(data)).toEqual(['regcred-operator.json']);
    expect(data['regcred-operator.json']).toBe(dashboardFile);
    expect(JSON.parse(data['regcred-operator.json']!)).toBeTypeOf('object');
    const elsewhere = find(helmTemplate('--set', 'dashboard.enabled=true,dashboard.namespace=grafana,dashboard.labels.grafana_dashboard=null,dashboard.labels.team=ops'), 'ConfigMap', `${RELEASE}-dashboard`);
    expect(elsewhere.metadata.namespace).toBe('grafana');
    expect(elsewhere.metadata.labels).toMatchObject({ team: 'ops' });
    expect(elsewhere.metadata.labels?.grafana_dashboard).toBeUndefined();

    const rule = find(helmTemplate('--set', 'prometheusRule.enabled=true,prometheusRule.labels.release=kube-prometheus-stack'), 'PrometheusRule', RELEASE);
    expect(rule.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const alerts = parse(readFileSync(`${CHART}/files/alerts.yaml`, 'utf8')) as { groups: unknown };
    expect(Array.isArray(alerts.groups)).toBe(true);
    expect(rule.spec).toEqual({ groups: alerts.groups });
  });

  it('takes the pod\'s scheduling and metadata from values, and spreads by the pods\' own labels unless told otherwise', () => {
    const pod = deploymentOf(helmTemplateWithValues([
      'nodeSelector: {kubernetes.io/os: linux}',
      'tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]',
      'affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: infra, operator: Exists}]}]}}}',
      'priorityClassName: system-cluster-critical',
      'podAnnotations: {example.com/team: platform}',
      'podLabels: {team: platform}',
      'resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 256Mi}}',
      'topologySpreadConstraints:',
      '  - {maxSkew: 1, topologyKey: topology.kubernetes.io/zone, whenUnsatisfiable: ScheduleAnyway}',
      '  - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {team: platform}}}',
      '',
    ].join('\n'))).spec.template;
    expect(pod.spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' }]);
    expect(pod.spec.affinity).toEqual({ nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'infra', operator: 'Exists' }] }] } } });
    expect(pod.spec.priorityClassName).toBe('system-cluster-critical');
    expect(pod.metadata.annotations).toMatchObject({ 'example.com/team': 'platform', 'kubectl.kubernetes.io/default-container': 'manager' });
    expect(pod.metadata.labels).toMatchObject({ team: 'platform', 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/instance': RELEASE });
    expect(pod.spec.containers[0]?.resources).toEqual({ requests: { cpu: '100m', memory: '64Mi' }, limits: { memory: '256Mi' } });
    expect(pod.spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'regcred-operator', 'app.kubernetes.io/instance': RELEASE } } },
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { team: 'platform' } } },
    ]);
    expect(deploymentOf(helmTemplate()).spec.template.spec.topologySpreadConstraints).toBeUndefined();
  });

  it('serves plain HTTP metrics, without the review RBAC, when metrics.secure is false', () => {
    const objects = helmTemplate('--set', 'metrics.secure=false,serviceMonitor.enabled=true');
    expect(objects.filter((o) => o.metadata.name.includes('metrics-')).map(key)).toEqual([]);
    expect(find<Deployment>(objects, 'Deployment', RELEASE).spec.template.spec.containers[0]?.args).not.toContain('--metrics-secure');
    expect((find(objects, 'ServiceMonitor', RELEASE).spec as { endpoints: unknown[] }).endpoints).toEqual([
      { port: 'metrics', path: '/metrics', scheme: 'http', interval: '30s' },
    ]);
    // Nothing to authorize without a metrics endpoint.
    expect(helmTemplate('--set', 'metrics.enabled=false').filter((o) => o.metadata.name.includes('metrics')).map(key)).toEqual([]);
  });

  it('renders the NetworkPolicy of config/network-policy when networkPolicy.enabled, and none by default', () => {
    expect(helmTemplate().some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    const policy = find(helmTemplate('--set', 'networkPolicy.enabled=true'), 'NetworkPolicy', RELEASE);
    const [fromKustomize] = kustomize('config/network-policy');
    expect(withoutMetadataLabels(policy)).toEqual(withoutMetadataLabels(fromKustomize!));
    // Without metrics, only the health port is open.
    const withoutMetrics = find(helmTemplate('--set', 'networkPolicy.enabled=true,metrics.enabled=false,podInjection.mode=off'), 'NetworkPolicy', RELEASE);
    expect((withoutMetrics.spec as { ingress: unknown }).ingress).toEqual([{ ports: [{ port: 'health', protocol: 'TCP' }] }]);
  });
});
