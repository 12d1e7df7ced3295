// One chaos file's world: a control plane of its own (so it can restart kube-apiserver and etcd
// without touching anyone else's), the CRD, a Scenario with the operator, a seeded PRNG and the
// file's report. Files run one after another, so there is never more than one control plane.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';
import type { Secret } from '../../src/kube/objects.ts';
import { ControlPlane } from '../controlplane/controlplane.ts';
import { chaosSeed, Rng } from './chaos-random.ts';
import { CHAOS_RESULTS_DIR, ChaosReport } from './chaos-report.ts';
import { createNamespace, eventually } from './cluster.ts';
import { Scenario } from './scenario.ts';

export const CRD_FILE = 'crds/regcred.dev_registrycredentials.yaml';

/** The one registry entry the scenarios render: a literal user, the password from Secret `pw`. */
export const REGISTRY = 'registry.acme.io';
export const USER = 'registry-user';
export const registries = [{ server: REGISTRY, username: USER, passwordFrom: { secretKeyRef: { name: 'pw', key: 'password' } } }];

export class ChaosEnv {
  readonly cp: ControlPlane;
  readonly client: KubeClient;
  readonly s: Scenario;
  readonly report: ChaosReport;
  readonly seed: number;

  private constructor(cp: ControlPlane, s: Scenario, report: ChaosReport, seed: number) {
    this.cp = cp;
    this.client = s.client;
    this.s = s;
    this.report = report;
    this.seed = seed;
  }

  /** Starts the control plane and installs the CRD; the operator is started by `operator()`. */
  static async start(file: string, prefix: string): Promise<ChaosEnv> {
    const seed = chaosSeed();
    const report = new ChaosReport(file, seed);
    const cp = await ControlPlane.start({ log: () => undefined });
    const env = new ChaosEnv(cp, new Scenario(prefix, KubeClient.load(cp.kubeconfigPath)), report, seed);
    env.s.operatorKubeconfig = cp.kubeconfigPath;
    env.installCrd();
    return env;
  }

  rng(stream: string): Rng {
    return new Rng(this.seed, stream);
  }

  kubectl(...args: string[]): string {
    return execFileSync(this.cp.kubectl, ['--kubeconfig', this.cp.kubeconfigPath, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  installCrd(): void {
    this.kubectl('apply', '-f', CRD_FILE);
    this.kubectl('wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev', '--timeout=60s');
  }

  /** A copy of the admin kubeconfig that talks to `server` (a proxy in front of the API server). */
  kubeconfigVia(server: string, name: string): string {
    const config = JSON.parse(readFileSync(this.cp.kubeconfigPath, 'utf8'));
    config.clusters[0].cluster.server = server;
    const path = join(this.cp.dir, `${name}.kubeconfig`);
    writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
    return path;
  }

  /** Creates namespaces `${id}-${suffix}` a few at a time; returns their names. */
  async namespaces(suffixes: string[], labels: Record<string, string> = {}, parallel = 20): Promise<string[]> {
    const names = suffixes.map((x) => `${this.s.id}-${x}`);
    for (let i = 0; i < names.length; i += parallel) {
      await Promise.all(names.slice(i, i + parallel).map((n) => createNamespace(this.client, n, labels)));
    }
    return names;
  }

  /** Waits until each namespace has the named ServiceAccounts (the controller manager makes `default`). */
  async serviceAccountsExist(namespaces: string[], names = ['default'], timeoutMs = 120_000): Promise<void> {
    const want = new Set(namespaces.flatMap((ns) => names.map((n) => `${ns}/${n}`)));
    await eventually(`${want.size} ServiceAccounts`, async () => {
      const have = new Set<string>();
      let cont: string | undefined;
      do {
        const page = await this.client.list<{ metadata: { namespace: string; name: string } }>(RESOURCES.serviceAccounts, undefined, { limit: 500, ...(cont ? { continue: cont } : {}) });
        for (const sa of page.items) have.add(`${sa.metadata.namespace}/${sa.metadata.name}`);
        cont = page.metadata.continue || undefined;
      } while (cont);
      return [...want].every((k) => have.has(k));
    }, timeoutMs);
  }

  /** Secrets labelled as this RegistryCredential's, read from the API server. */
  async managedOf(credential: string): Promise<Secret[]> {
    const items: Secret[] = [];
    let cont: string | undefined;
    do {
      const page = await this.client.list<Secret>(RESOURCES.secrets, undefined, { labelSelector: `regcred.dev/credential=${credential}`, limit: 500, ...(cont ? { continue: cont } : {}) });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
    } while (cont);
    return items;
  }

  /** Every series of an operator metric: label text → value. */
  async metricSeries(name: string): Promise<Map<string, number>> {
    const op = this.s.operator;
    if (!op?.metricsPort) throw new Error('no operator metrics port');
    const text = await (await fetch(`http://127.0.0.1:${op.metricsPort}/metrics`)).text();
    const series = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      series.set(line.slice(name.length, line.lastIndexOf(' ')), Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return series;
  }

  /** The operator's /metrics, summed per metric name over the label sets that match `filter`. */
  async metric(name: string, filter: (labels: string) => boolean = () => true): Promise<number> {
    let total = 0;
    for (const [labels, value] of await this.metricSeries(name)) if (filter(labels)) total += value;
    return total;
  }

  /** "reconciled" log lines per key since `fromOffset` into the operator's log, with their results. */
  reconcilesByKey(fromOffset = 0): Map<string, { total: number; results: Record<string, number> }> {
    const counts = new Map<string, { total: number; results: Record<string, number> }>();
    const logs = this.s.operator?.logs() ?? '';
    for (const line of logs.slice(fromOffset).split('\n')) {
      if (!line.includes('"msg":"reconciled"')) continue;
      try {
        const { credential: key, result } = JSON.parse(line) as { credential?: string; result?: string };
        if (!key) continue;
        const c = counts.get(key) ?? { total: 0, results: {} };
        c.total++;
        c.results[result ?? '?'] = (c.results[result ?? '?'] ?? 0) + 1;
        counts.set(key, c);
      } catch {
        // a line still being written
      }
    }
    return counts;
  }

  private readonly pastLogs: string[] = [];

  /** Stops (or SIGKILLs) the operator, keeping its log for the file's record. */
  async stopOperator(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const logs = this.s.operator?.logs();
    await this.s.stopOperator(signal);
    if (logs !== undefined) this.pastLogs.push(logs);
  }

  /**
   * Stops the operator, checks its logs for passwords, keeps the tail of every operator log of the
   * file next to its results (the shared log folder may be cleared by another run), and takes the
   * control plane down.
   */
  async stop(): Promise<void> {
    try {
      await this.stopOperator();
      this.s.assertNoLeaks();
    } finally {
      const tail = this.pastLogs.map((l, i) => `--- operator process ${i + 1}\n${l.slice(-2_000_000)}`).join('\n');
      mkdirSync(CHAOS_RESULTS_DIR, { recursive: true });
      writeFileSync(join(CHAOS_RESULTS_DIR, `${this.report.file}.operator.log`), tail);
      await this.cp.stop();
    }
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
