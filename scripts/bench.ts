// make bench: time for one RegistryCredential to converge over N namespaces on the local control
// plane, next to the API server's own floor for the same writes (the same Secrets created and the
// same ServiceAccounts patched directly, with the same concurrency).
//
//   node scripts/bench.ts [N ...]        default: 100 1000
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import PQueue from 'p-queue';
import { RESOURCES, KubeClient } from '../src/kube/client.ts';
import type { RegistryCredential } from '../src/api/schema.ts';
import { ControlPlane, freePorts } from '../test/controlplane/controlplane.ts';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
const WRITES = 10;

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function createNamespaces(client: KubeClient, prefix: string, n: number): Promise<string[]> {
  const q = new PQueue({ concurrency: 20 });
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${i}`);
  await Promise.all(names.map((name) => q.add(() => client.create(RESOURCES.namespaces, undefined, { metadata: { name, labels: { bench: prefix } } }))));
  // Wait for the controller manager's default ServiceAccounts so both runs patch the same objects.
  await waitFor(async () => {
    const sas = await client.list<{ metadata: { namespace: string } }>(RESOURCES.serviceAccounts, undefined, { fieldSelector: 'metadata.name=default' });
    return sas.items.filter((sa) => sa.metadata.namespace.startsWith(`${prefix}-`)).length >= n ? true : undefined;
  }, 300_000);
  return names;
}

async function floor(client: KubeClient, n: number): Promise<number> {
  const nss = await createNamespaces(client, `floor${n}`, n);
  const data = { '.dockerconfigjson': Buffer.from('{"auths":{"r.io":{"auth":"dTpw","password":"p","username":"u"}}}').toString('base64') };
  const q = new PQueue({ concurrency: WRITES });
  const start = performance.now();
  await Promise.all(nss.map((ns) => q.add(async () => {
    await client.create(RESOURCES.secrets, ns, { metadata: { name: 'regcred' }, type: 'kubernetes.io/dockerconfigjson', data });
    const sa = await client.get<{ metadata: { resourceVersion: string } }>(RESOURCES.serviceAccounts, ns, 'default');
    await client.patch(RESOURCES.serviceAccounts, ns, 'default', { metadata: { resourceVersion: sa.metadata.resourceVersion }, imagePullSecrets: [{ name: 'regcred' }] });
  })));
  return performance.now() - start;
}

async function converge(client: KubeClient, kubeconfig: string, n: number): Promise<{ ms: number; rssMiB: number; heapMiB: number }> {
  const prefix = `op${n}`;
  await createNamespaces(client, prefix, n);
  await client.create(RESOURCES.namespaces, undefined, { metadata: { name: `${prefix}-creds` } }).catch(() => undefined);
  await client.create(RESOURCES.secrets, `${prefix}-creds`, { metadata: { name: 'pw' }, data: { password: Buffer.from('bench-password').toString('base64') } });
  const [metricsPort] = await freePorts(1);
  // The built artifact, as it runs in production (make bench builds it first).
  const op = spawn(process.execPath, ['dist/main.js', '--kubeconfig', kubeconfig, '--credentials-namespace', `${prefix}-creds`,
    '--metrics-bind-address', `127.0.0.1:${metricsPort}`, '--health-probe-bind-address', '0', '--log-level', process.env.BENCH_LOG_LEVEL ?? 'warn',
    '--max-concurrent-writes', String(WRITES)], { stdio: 'inherit' });
  try {
    // Give the operator its caches first: the figure is the reconcile, not the process start.
    await new Promise((r) => setTimeout(r, 1500));
    const name = `bench-${n}`;
    const start = performance.now();
    await client.create(RESOURCES.registryCredentials, undefined, {
      metadata: { name },
      spec: {
        secretName: 'regcred',
        namespaces: { selector: { matchLabels: { bench: prefix } } },
        registries: [{ server: 'private-registry.io', username: 'registry-user', passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }],
      },
    });
    await waitFor(async () => {
      const rc = await client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, name);
      const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && rc.status?.namespaces?.synced === n && rc.status.serviceAccounts?.patched === n ? true : undefined;
    }, 600_000);
    const ms = performance.now() - start;
    const status = readFileSync(`/proc/${op.pid}/status`, 'utf8');
    const rssKiB = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const heap = Number(/^regcred_nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1] ?? 0);
    return { ms, rssMiB: rssKiB / 1024, heapMiB: heap / 1024 / 1024 };
  } finally {
    op.kill('SIGTERM');
  }
}

const cp = await ControlPlane.start();
try {
  const client = KubeClient.load(cp.kubeconfigPath);
  execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'apply', '-f', 'crds/regcred.dev_registrycredentials.yaml'], { stdio: 'ignore' });
  execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev'], { stdio: 'ignore' });
  const rows: string[] = [];
  for (const n of sizes.length ? sizes : [100, 1000]) {
    const floorMs = await floor(client, n);
    const { ms, rssMiB, heapMiB } = await converge(client, cp.kubeconfigPath, n);
    rows.push(
      `${String(n).padStart(6)} namespaces: converged in ${(ms / 1000).toFixed(2)} s; API server floor for the same ${2 * n} writes ` +
        `${(floorMs / 1000).toFixed(2)} s (${(ms / floorMs).toFixed(2)}x); operator heap used ${heapMiB.toFixed(0)} MiB, peak RSS ${rssMiB.toFixed(0)} MiB`,
    );
    console.log(rows.at(-1));
  }
  console.log(`\nbench (max-concurrent-writes=${WRITES}, Kubernetes ${JSON.parse(execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, 'version', '-o', 'json'], { encoding: 'utf8' })).serverVersion.gitVersion}):\n${rows.join('\n')}`);
} finally {
  await cp.stop();
}
