// Starts one real control plane for the whole integration run and installs the generated CRD.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ControlPlane } from '../controlplane/controlplane.ts';
import { LOG_DIR } from '../support/operator.ts';

let controlPlane: ControlPlane | undefined;

export async function setup(project: TestProject): Promise<void> {
  rmSync(LOG_DIR, { recursive: true, force: true });
  controlPlane = await ControlPlane.start();
  const kubectl = (...args: string[]) =>
    execFileSync(controlPlane!.kubectl, ['--kubeconfig', controlPlane!.kubeconfigPath, ...args], { encoding: 'utf8' });
  kubectl('apply', '-f', 'crds/regcred.dev_registrycredentials.yaml');
  kubectl('wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev', '--timeout=60s');
  project.provide('kubeconfig', controlPlane.kubeconfigPath);
  project.provide('kubectl', controlPlane.kubectl);
  project.provide('binDir', controlPlane.binDir);
}

export async function teardown(): Promise<void> {
  await controlPlane?.stop();
  assertNoSecretInLogs();
}

/** Fails the run if any password used anywhere in the suite appears in any operator's log. */
function assertNoSecretInLogs(): void {
  const formsFile = join(LOG_DIR, 'leak-forms.txt');
  if (!existsSync(formsFile)) return;
  const forms = readFileSync(formsFile, 'utf8').split('\n').filter(Boolean);
  const logs = readdirSync(LOG_DIR).filter((f) => f.endsWith('.log'));
  if (logs.length === 0) throw new Error(`no operator logs in ${LOG_DIR}: the secret check would prove nothing`);
  for (const file of logs) {
    const text = readFileSync(join(LOG_DIR, file), 'utf8');
    const leaked = forms.filter((f) => text.includes(f)).length;
    if (leaked) throw new Error(`${join(LOG_DIR, file)} contains ${leaked} forms of test passwords`);
  }
  console.error(`checked ${logs.length} operator logs against ${forms.length} password forms: no secret in any log`);
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    binDir: string;
  }
}
