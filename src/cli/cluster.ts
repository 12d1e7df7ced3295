// The plugin's connection to the cluster: the kubeconfig chosen as kubectl chooses it (--kubeconfig,
// else $KUBECONFIG, else ~/.kube/config) and --context, through the operator's own client.
import { KubeConfig } from '../kube/client-node.ts';
import { KubeClient } from '../kube/client.ts';
import type { Connection } from './args.ts';

export const FIELD_MANAGER = 'kubectl-regcred';

export function loadKubeConfig(connection: Connection): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (connection.kubeconfig) kc.loadFromFile(connection.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    const code = (err as { code?: string }).code;
    const path = connection.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
    throw new Error(`cannot load the kubeconfig ${path}: ${code === 'ENOENT' ? 'no such file' : err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (connection.context) {
    if (!kc.getContextObject(connection.context)) throw new Error(`context "${connection.context}" not found in the kubeconfig`);
    kc.setCurrentContext(connection.context);
  }
  return kc;
}

export function connect(connection: Connection): KubeClient {
  return new KubeClient(loadKubeConfig(connection), FIELD_MANAGER);
}
