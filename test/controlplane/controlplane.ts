// Starts a real Kubernetes control plane on loopback: etcd, kube-apiserver (secure serving, RBAC,
// default admission plugins) and kube-controller-manager with the controllers the operator relies
// on (namespace finalization, default ServiceAccounts, tokens, garbage collection) and the one that
// fills the built-in admin, edit and view ClusterRoles from the roles aggregated into them.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, fetch } from 'undici';
import { buildControlPlane } from './binaries.ts';

const RUN_DIR_PREFIX = 'regcred-controlplane-';
const STATE_FILE = 'state.json';

export interface ControlPlaneOptions {
  /** Where the kubeconfig is written; defaults to <run dir>/admin.kubeconfig. */
  kubeconfigPath?: string;
  /** Keep the processes alive after this Node process exits (make cluster-up). */
  detached?: boolean;
  log?: (line: string) => void;
  /**
   * Appended to kube-controller-manager's flags (a later flag wins), e.g. --kube-api-qps so that a
   * benchmark's namespace set-up is never held back by the controller manager's client throttle.
   */
  controllerManagerArgs?: string[];
  /** Serve /debug/pprof on kube-apiserver (scripts/apiserver-profile.ts); off otherwise, as in a cluster. */
  apiServerProfiling?: boolean;
  /** Appended to kube-apiserver's flags, e.g. an audit log for a diagnostic run. */
  apiServerArgs?: string[];
}

interface State {
  owner: number;
  detached: boolean;
  pids: number[];
}

export class ControlPlane {
  readonly dir: string;
  readonly kubeconfigPath: string;
  readonly server: string;
  readonly binDir: string;
  private readonly children: ChildProcess[];
  private readonly detached: boolean;
  private readonly onExit: () => void;
  /** Restarts kube-apiserver with the same flags and waits until it is ready again. */
  readonly restartApiServer: () => Promise<void>;
  /**
   * Kills etcd (SIGKILL) and starts it again on the same data dir and ports; resolves once etcd is
   * healthy and kube-apiserver reports ready again. The API server itself is not restarted.
   */
  readonly restartEtcd: () => Promise<void>;

  private constructor(
    dir: string,
    kubeconfigPath: string,
    server: string,
    binDir: string,
    children: ChildProcess[],
    detached: boolean,
    restartApiServer: () => Promise<void>,
    restartEtcd: () => Promise<void> = () => Promise.reject(new Error('restartEtcd is not available')),
  ) {
    this.restartApiServer = restartApiServer;
    this.restartEtcd = restartEtcd;
    this.dir = dir;
    this.kubeconfigPath = kubeconfigPath;
    this.server = server;
    this.binDir = binDir;
    this.children = children;
    this.detached = detached;
    // A test run that ends without calling stop() still takes its processes down with it.
    this.onExit = () => this.killNow();
    if (!detached) process.once('exit', this.onExit);
  }

  get kubectl(): string {
    return join(this.binDir, 'kubectl');
  }

  /** The pid of one of the run's processes (kube-apiserver, etcd, …) while it runs. */
  pidOf(binary: string): number | undefined {
    const file = join(this.binDir, binary);
    return this.children.find((c) => c.spawnfile === file && c.exitCode === null && c.signalCode === null)?.pid;
  }

  /** The run's PKI: ca.crt, server.crt/.key (kube-apiserver's serving pair), admin.crt/.key. */
  get pkiDir(): string {
    return join(this.dir, 'pki');
  }

  static async start(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
    const log = options.log ?? ((l: string) => console.error(l));
    reapAbandonedRuns(log);
    const binDir = buildControlPlane(log);
    const dir = mkdtempSync(join(tmpdir(), RUN_DIR_PREFIX));
    const detached = options.detached ?? false;
    const children: ChildProcess[] = [];
    const state: State = { owner: process.pid, detached, pids: [] };
    const saveState = () => writeFileSync(join(dir, STATE_FILE), JSON.stringify(state));
    saveState();
    const run = (name: string, args: string[]) => {
      // The log file is handed to the child directly: no pipe keeps this process alive or ties the
      // child to it, which a detached control plane (make cluster-up) needs.
      const out = openSync(join(dir, `${name}.log`), 'a');
      const child = spawn(join(binDir, name), args, { stdio: ['ignore', out, out], detached });
      closeSync(out);
      if (detached) child.unref();
      children.push(child);
      if (child.pid) state.pids.push(child.pid);
      saveState();
      return child;
    };

    try {
      const [etcdClient, etcdPeer, apiPort] = await freePorts(3);
      const pki = makePki(dir);
      log(`control plane: starting etcd on 127.0.0.1:${etcdClient}`);
      const etcdArgs = [
        '--name=default',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        '--unsafe-no-fsync=true',
        // 8 GiB instead of the default 2 GiB: test/chaos/tenant-secrets.test.ts stores 10,000 Secrets
        // of 100 KiB (about 1 GB, more before compaction). Only a ceiling: the file grows as used.
        '--quota-backend-bytes=8589934592',
        '--log-level=warn',
      ];
      let etcd = run('etcd', etcdArgs);
      await waitFor('etcd', etcd, dir, async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok);

      const server = `https://127.0.0.1:${apiPort}`;
      log(`control plane: starting kube-apiserver on ${server}`);
      const apiserverArgs = [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${pki.serverCert}`,
        `--tls-private-key-file=${pki.serverKey}`,
        `--client-ca-file=${pki.caCert}`,
        '--authorization-mode=RBAC',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${pki.saPub}`,
        `--service-account-signing-key-file=${pki.saKey}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        // The endpoint reconciler refuses a loopback advertise address; nothing here needs the endpoints.
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        `--profiling=${options.apiServerProfiling === true}`,
        '--v=1',
        ...(options.apiServerArgs ?? []),
      ];
      let apiserverProcess = run('kube-apiserver', apiserverArgs);
      const adminKubeconfig = join(dir, 'admin.kubeconfig');
      writeKubeconfig(adminKubeconfig, server, pki);
      // A client of its own for readiness probes, closed after each use so nothing keeps the process alive.
      const api = async (path: string) => {
        const dispatcher = new Agent({
          connect: { ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey) },
        });
        try {
          const response = await fetch(`${server}${path}`, { dispatcher });
          await response.arrayBuffer();
          return response;
        } finally {
          await dispatcher.close();
        }
      };
      await waitFor('kube-apiserver', apiserverProcess, dir, async () => (await api('/readyz')).ok);

      log('control plane: starting kube-controller-manager');
      const kcm = run('kube-controller-manager', [
        `--kubeconfig=${adminKubeconfig}`,
        '--controllers=namespace-controller,serviceaccount-controller,serviceaccount-token-controller,garbage-collector-controller,clusterrole-aggregation-controller',
        `--service-account-private-key-file=${pki.saKey}`,
        `--root-ca-file=${pki.caCert}`,
        '--leader-elect=false',
        '--bind-address=127.0.0.1',
        '--secure-port=0',
        '--v=1',
        ...(options.controllerManagerArgs ?? []),
      ]);
      await waitFor('the default ServiceAccount', kcm, dir, async () => (await api('/api/v1/namespaces/default/serviceaccounts/default')).ok);

      const kubeconfigPath = resolve(options.kubeconfigPath ?? adminKubeconfig);
      if (kubeconfigPath !== adminKubeconfig) {
        mkdirSync(resolve(kubeconfigPath, '..'), { recursive: true });
        writeKubeconfig(kubeconfigPath, server, pki);
      }
      log(`control plane: ready at ${server} (logs in ${dir})`);
      const restartApiServer = async () => {
        const old = children.find((c) => c === apiserverProcess);
        if (old && old.exitCode === null) {
          const exited = new Promise((r) => old.once('exit', r));
          old.kill('SIGKILL');
          await exited;
        }
        children.splice(children.indexOf(apiserverProcess), 1);
        apiserverProcess = run('kube-apiserver', apiserverArgs);
        await waitFor('kube-apiserver', apiserverProcess, dir, async () => (await api('/readyz')).ok);
      };
      const restartEtcd = async () => {
        if (etcd.exitCode === null && etcd.signalCode === null) {
          const exited = new Promise((r) => etcd.once('exit', r));
          etcd.kill('SIGKILL');
          await exited;
        }
        children.splice(children.indexOf(etcd), 1);
        etcd = run('etcd', etcdArgs);
        // First in the list again, so stop() still takes it down last.
        children.splice(children.indexOf(etcd), 1);
        children.unshift(etcd);
        await waitFor('etcd', etcd, dir, async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok);
        await waitFor('kube-apiserver', apiserverProcess, dir, async () => (await api('/readyz')).ok);
      };
      return new ControlPlane(dir, kubeconfigPath, server, binDir, children, detached, restartApiServer, restartEtcd);
    } catch (err) {
      for (const c of children) c.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Stops every process and removes the run directory. */
  async stop(): Promise<void> {
    process.removeListener('exit', this.onExit);
    // Stop in reverse start order so the controller manager and API server never outlive etcd.
    for (const child of [...this.children].reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  private killNow(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    if (!this.detached) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops a detached control plane started by another process (make cluster-down). */
export function stopRunDir(dir: string): void {
  const state = readState(dir);
  if (state) for (const pid of state.pids) killQuietly(pid);
  rmSync(dir, { recursive: true, force: true });
}

function readState(dir: string): State | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8')) as State;
  } catch {
    return undefined;
  }
}

// A run killed before it could clean up leaves processes and a directory behind; the next start
// removes those whose owner is gone, so a crashed run never breaks the next one.
function reapAbandonedRuns(log: (l: string) => void): void {
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const dir = join(tmpdir(), name);
    const state = readState(dir);
    if (state?.detached || (state && isAlive(state.owner))) continue;
    log(`control plane: removing abandoned run ${dir}`);
    stopRunDir(dir);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((res, rej) => {
      const s = createServer();
      s.once('error', rej);
      s.listen(0, '127.0.0.1', () => res(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function waitFor(what: string, child: ChildProcess, dir: string, probe: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) {
      throw new Error(`${what}: process exited with code ${child.exitCode}; see ${tailOfLogs(dir)}`);
    }
    try {
      if (await probe()) return;
    } catch (err) {
      lastError = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (${lastError}); see ${tailOfLogs(dir)}`);
}

function tailOfLogs(dir: string): string {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => `\n--- ${f}\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('');
}

interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  adminCert: string;
  adminKey: string;
  saKey: string;
  saPub: string;
}

function makePki(dir: string): Pki {
  const pki = join(dir, 'pki');
  mkdirSync(pki);
  const p = (f: string) => join(pki, f);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '30', '-subj', '/CN=regcred-test-ca',
    '-keyout', p('ca.key'), '-out', p('ca.crt'));
  const issue = (name: string, subj: string, ext: string) => {
    writeFileSync(p(`${name}.ext`), ext);
    openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', subj, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`));
    openssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-days', '30', '-extfile', p(`${name}.ext`), '-out', p(`${name}.crt`));
  };
  issue('server', '/CN=kube-apiserver',
    'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.96.0.1\nextendedKeyUsage=serverAuth\n');
  issue('admin', '/O=system:masters/CN=regcred-admin', 'extendedKeyUsage=clientAuth\n');
  openssl('genrsa', '-out', p('sa.key'), '2048');
  openssl('rsa', '-in', p('sa.key'), '-pubout', '-out', p('sa.pub'));
  return {
    caCert: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    adminCert: p('admin.crt'),
    adminKey: p('admin.key'),
    saKey: p('sa.key'),
    saPub: p('sa.pub'),
  };
}

function writeKubeconfig(path: string, server: string, pki: Pki): void {
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'regcred-local', cluster: { server, 'certificate-authority-data': b64(pki.caCert) } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': b64(pki.adminCert), 'client-key-data': b64(pki.adminKey) } }],
    contexts: [{ name: 'regcred-local', context: { cluster: 'regcred-local', user: 'admin' } }],
    'current-context': 'regcred-local',
  };
  writeFileSync(path, JSON.stringify(config, null, 2), { mode: 0o600 });
}

export function runDirExists(dir: string): boolean {
  return existsSync(join(dir, STATE_FILE));
}
