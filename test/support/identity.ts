// A kubeconfig that authenticates as a ServiceAccount with a real token from the TokenRequest API,
// so the operator can be run under exactly the permissions it ships with.
import { readFileSync, writeFileSync } from 'node:fs';
import type { KubeClient } from '../../src/kube/client.ts';

export async function writeServiceAccountKubeconfig(
  client: KubeClient,
  adminKubeconfig: string,
  namespace: string,
  name: string,
  path: string,
): Promise<string> {
  const token = await client.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
  });
  const config = JSON.parse(readFileSync(adminKubeconfig, 'utf8'));
  config.users = [{ name, user: { token: token.status.token } }];
  config.contexts[0].context.user = name;
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}
