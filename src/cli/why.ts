// `kubectl regcred why NAMESPACE`: reads what explainNamespace needs and prints its answers.
import type { RegistryCredential } from '../api/schema.ts';
import { resolveSpec } from '../api/schema.ts';
import { isNotFound, RESOURCES, type KubeClient } from '../kube/client.ts';
import type { Namespace, Secret, ServiceAccount } from '../kube/objects.ts';
import { explainNamespace, renderExplanation, type Explanation } from './explain.ts';
import { toYaml } from './format.ts';

const orUndefined = <T>(p: Promise<T>): Promise<T | undefined> => p.catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));

export async function explainAll(client: KubeClient, namespace: string, credentialsNamespace: string, only?: string): Promise<Explanation[]> {
  const [list, ns] = await Promise.all([
    client.list<RegistryCredential>(RESOURCES.registryCredentials),
    orUndefined(client.get<Namespace>(RESOURCES.namespaces, undefined, namespace)),
  ]);
  const uids = new Map(list.items.map((rc) => [rc.metadata.name, rc.metadata.uid]));
  const credentials = only === undefined ? list.items : list.items.filter((rc) => rc.metadata.name === only);
  if (only !== undefined && credentials.length === 0) throw new Error(`RegistryCredential "${only}" not found`);
  const serviceAccounts = ns ? (await client.list<ServiceAccount>(RESOURCES.serviceAccounts, namespace)).items : [];
  const secrets = new Map<string, Secret | undefined>();
  const explanations: Explanation[] = [];
  for (const credential of [...credentials].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) {
    const resolved = resolveSpec(credential.metadata.name, credential.spec);
    const secretName = resolved.ok ? resolved.spec.secretName : undefined;
    if (ns && secretName !== undefined && !secrets.has(secretName)) {
      secrets.set(secretName, await orUndefined(client.get<Secret>(RESOURCES.secrets, namespace, secretName)));
    }
    explanations.push(explainNamespace({
      credential,
      namespaceName: namespace,
      namespace: ns,
      credentialsNamespace,
      secret: secretName !== undefined ? secrets.get(secretName) : undefined,
      serviceAccounts,
      credentialUid: (name) => uids.get(name),
    }));
  }
  return explanations;
}

export function renderWhy(explanations: Explanation[], output: 'text' | 'json' | 'yaml'): string {
  if (output === 'json') return `${JSON.stringify({ items: explanations }, null, 2)}\n`;
  if (output === 'yaml') return toYaml({ items: explanations });
  return explanations.map(renderExplanation).join('\n');
}
