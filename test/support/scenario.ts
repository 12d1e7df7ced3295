// Shared set-up for reconciler tests: a credentials namespace, an operator process watching it,
// source Secrets with random passwords, and a check that none of them reached the logs.
import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { KubeClient } from '../../src/kube/client.ts';
import { RESOURCES } from '../../src/kube/client.ts';
import type { Secret, ServiceAccount } from '../../src/kube/objects.ts';
import type { RegistryCredential } from '../../src/api/schema.ts';
import { SOURCE_LABEL, SOURCE_LABEL_VALUE } from '../../src/api/labels.ts';
import { createNamespace, eventually, testClient, uniqueName } from './cluster.ts';
import { OperatorProcess, leakForms, recordLeakForms } from './operator.ts';

/** The label a Secret of the credentials namespace needs to be read as a source. */
export const SOURCE_OPT_IN = { [SOURCE_LABEL]: SOURCE_LABEL_VALUE };

export class Scenario {
  readonly client: KubeClient;
  /** Kubeconfig the operator runs with; default the admin one of the run's control plane. */
  operatorKubeconfig: string | undefined;
  readonly credentialsNamespace: string;
  readonly id: string;
  operator: OperatorProcess | undefined;
  private readonly secrets: Array<[string, string]> = [];
  private readonly credentials = new Set<string>();
  private readonly operatorLogs: string[] = [];

  constructor(prefix: string, client: KubeClient = testClient()) {
    this.client = client;
    this.id = uniqueName(prefix);
    this.credentialsNamespace = `${this.id}-creds`;
  }

  async setup(args: string[] = []): Promise<this> {
    await createNamespace(this.client, this.credentialsNamespace, { 'regcred.dev/ignore': 'true' });
    await this.startOperator(args);
    return this;
  }

  async startOperator(args: string[] = []): Promise<OperatorProcess> {
    this.operator = await OperatorProcess.start({
      credentialsNamespace: this.credentialsNamespace,
      args,
      ...(this.operatorKubeconfig ? { kubeconfig: this.operatorKubeconfig } : {}),
    });
    return this.operator;
  }

  async stopOperator(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.operator) return;
    await this.operator.stop(signal);
    this.operatorLogs.push(this.operator.logs());
    this.operator = undefined;
  }

  /** A random password that the leak check will look for. */
  password(username = 'registry-user'): string {
    const pw = `pw-${randomBytes(12).toString('hex')}`;
    this.secrets.push([username, pw]);
    recordLeakForms(leakForms(username, pw));
    return pw;
  }

  /** A Secret in the credentials namespace, opted in as a source (`regcred.dev/source=true`) unless `optIn` is false. */
  async sourceSecret(name: string, stringData: Record<string, string>, type = 'Opaque', options: { optIn?: boolean; annotations?: Record<string, string> } = {}): Promise<void> {
    const data = Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    const metadata = { name, ...(options.optIn === false ? {} : { labels: SOURCE_OPT_IN }), ...(options.annotations ? { annotations: options.annotations } : {}) };
    await this.client.create(RESOURCES.secrets, this.credentialsNamespace, { metadata, type, data });
  }

  async updateSourceSecret(name: string, stringData: Record<string, string>): Promise<void> {
    const data = Object.fromEntries(Object.entries(stringData).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    await this.client.patch(RESOURCES.secrets, this.credentialsNamespace, name, { data });
  }

  async credential(name: string, spec: Record<string, unknown>): Promise<RegistryCredential> {
    this.credentials.add(name);
    return this.client.create<RegistryCredential>(RESOURCES.registryCredentials, undefined, { metadata: { name }, spec });
  }

  async namespace(suffix: string, labels: Record<string, string> = {}): Promise<string> {
    const name = `${this.id}-${suffix}`;
    await createNamespace(this.client, name, labels);
    return name;
  }

  getSecret(ns: string, name: string): Promise<Secret> {
    return this.client.get<Secret>(RESOURCES.secrets, ns, name);
  }

  getServiceAccount(ns: string, name = 'default'): Promise<ServiceAccount> {
    return this.client.get<ServiceAccount>(RESOURCES.serviceAccounts, ns, name);
  }

  getCredential(name: string): Promise<RegistryCredential> {
    return this.client.get<RegistryCredential>(RESOURCES.registryCredentials, undefined, name);
  }

  /** Waits for the Secret to exist (and, if given, to satisfy `check`). */
  secretEventually(ns: string, name: string, check: (s: Secret) => boolean = () => true, timeoutMs?: number): Promise<Secret> {
    return eventually(`Secret ${ns}/${name}`, async () => {
      const s = await this.getSecret(ns, name);
      return check(s) ? s : undefined;
    }, timeoutMs);
  }

  entriesOf(sa: ServiceAccount): string[] {
    return (sa.imagePullSecrets ?? []).map((e) => e.name ?? '');
  }

  saEventually(ns: string, sa: string, check: (entries: string[]) => boolean, timeoutMs?: number): Promise<ServiceAccount> {
    return eventually(`ServiceAccount ${ns}/${sa}`, async () => {
      const obj = await this.getServiceAccount(ns, sa);
      return check(this.entriesOf(obj)) ? obj : undefined;
    }, timeoutMs);
  }

  readyEventually(name: string, check: (rc: RegistryCredential) => boolean = () => true, timeoutMs?: number): Promise<RegistryCredential> {
    return eventually(`RegistryCredential ${name} to be ready`, async () => {
      const rc = await this.getCredential(name);
      const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && rc.status?.observedGeneration === rc.metadata.generation && check(rc) ? rc : undefined;
    }, timeoutMs);
  }

  conditionEventually(name: string, reason: string, timeoutMs?: number): Promise<RegistryCredential> {
    return eventually(`RegistryCredential ${name} reason ${reason}`, async () => {
      const rc = await this.getCredential(name);
      const ready = rc.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.reason === reason && rc.status?.observedGeneration === rc.metadata.generation ? rc : undefined;
    }, timeoutMs);
  }

  /** Deletes this scenario's RegistryCredentials (the operator runs their finalizers), stops the operator, checks the logs. */
  async teardown(): Promise<void> {
    for (const name of this.credentials) {
      await this.client.delete(RESOURCES.registryCredentials, undefined, name).catch(() => undefined);
    }
    if (this.operator) {
      await eventually('RegistryCredentials to be gone', async () => {
        for (const name of this.credentials) {
          const gone = await this.getCredential(name).then(() => false, () => true);
          if (!gone) return false;
        }
        return true;
      }, 60_000);
    }
    await this.stopOperator();
    this.assertNoLeaks();
  }

  assertNoLeaks(): void {
    const logs = [...this.operatorLogs, this.operator?.logs() ?? ''].join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const [user, pw] of this.secrets) for (const form of leakForms(user, pw)) expect(logs.includes(form), `log contains a form of a password`).toBe(false);
  }
}

export const b64 = (s: string) => Buffer.from(s).toString('base64');
export const decode = (s: string | undefined) => Buffer.from(s ?? '', 'base64').toString('utf8');
