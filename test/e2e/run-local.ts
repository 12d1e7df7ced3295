// make e2e: the end-to-end suite on the local control plane, with the operator running as it does
// in a cluster: config/rbac and config/policy applied, its ServiceAccount's token, leader election, namespace
// regcred-system. The same suite runs against kind in make kind-e2e.
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/client.ts';
import { ControlPlane } from '../controlplane/controlplane.ts';
import { writeServiceAccountKubeconfig } from '../support/identity.ts';

const cp = await ControlPlane.start();
let code: number | undefined;
const operator: { kill?: () => void } = {};
try {
  const kubectl = (...args: string[]) => execFileSync(cp.kubectl, ['--kubeconfig', cp.kubeconfigPath, ...args], { encoding: 'utf8' });
  kubectl('apply', '--server-side', '-k', 'config/crd');
  kubectl('wait', '--for=condition=Established', 'crd/registrycredentials.regcred.dev', '--timeout=60s');
  kubectl('create', 'namespace', 'regcred-system');
  kubectl('apply', '--server-side', '-k', 'config/rbac');
  kubectl('apply', '--server-side', '-k', 'config/policy');
  const client = KubeClient.load(cp.kubeconfigPath);
  const operatorKubeconfig = await writeServiceAccountKubeconfig(client, cp.kubeconfigPath, 'regcred-system', 'regcred-operator', join(cp.dir, 'operator.kubeconfig'));

  const op = spawn(process.execPath, ['src/main.ts', '--kubeconfig', operatorKubeconfig, '--leader-elect',
    '--metrics-bind-address', '127.0.0.1:0', '--health-probe-bind-address', '127.0.0.1:0'], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, POD_NAMESPACE: 'regcred-system' },
  });
  operator.kill = () => op.kill('SIGTERM');
  // Extra arguments (a reporter, say) go to vitest.
  const vitest = spawn('node_modules/.bin/vitest', ['run', '--project', 'e2e', ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, KUBECONFIG: cp.kubeconfigPath },
  });
  code = await new Promise<number>((resolve) => vitest.on('exit', (c) => resolve(c ?? 1)));
} finally {
  operator.kill?.();
  await cp.stop();
}
process.exit(code ?? 1);
