// Starts one real control plane for the whole integration run and installs the generated CRD.
import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { ControlPlane } from '../controlplane/controlplane.ts';

let controlPlane: ControlPlane | undefined;

export async function setup(project: TestProject): Promise<void> {
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
}

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
    kubectl: string;
    binDir: string;
  }
}
