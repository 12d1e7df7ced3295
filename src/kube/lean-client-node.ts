// client-node's KubeConfig module imports the package's generated index, and with it every API class
// and model of every Kubernetes group, only to build API clients the operator never makes; it and the
// generated fetch module also import undici, which the operator uses only behind a proxy, and the
// config module the proxy, JSONPath and OpenID Connect packages few kubeconfigs need, and the YAML
// parser a kubeconfig file needs and a ServiceAccount in a cluster does not. Resolve hooks
// hand the index import the small module client-node-gen beside this file, and those packages'
// imports client-node-lazy, which loads each on first use. They must be registered before
// client-node is first imported, so the entry point registers them and then imports the rest.
import { registerHooks } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const GENERATED_INDEX = '/@kubernetes/client-node/dist/gen/index.js';
const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';
const CLIENT_NODE = '/@kubernetes/client-node/dist/';
/** Packages client-node's modules use only for some kubeconfigs: see client-node-lazy.ts. */
const ON_DEMAND = new Set(['undici', 'socks', 'socks-proxy-agent', 'hpagent', 'jsonpath-plus', 'openid-client', 'js-yaml']);

let registered = false;

export function loadClientNodeLean(): void {
  if (registered) return;
  registered = true;
  // src/*.ts when run from source, dist/*.js when built.
  const beside = (name: string) => new URL(`./${name}${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
  const generated = beside('client-node-gen');
  const onDemand = beside('client-node-lazy');
  registerHooks({
    resolve(specifier, context, nextResolve) {
      if (ON_DEMAND.has(specifier) && context.parentURL?.includes(CLIENT_NODE)) return { url: onDemand, shortCircuit: true };
      const resolved = nextResolve(specifier, context);
      if (resolved.url.endsWith(GENERATED_INDEX) && context.parentURL?.endsWith(CONFIG_MODULE)) {
        return { ...resolved, url: generated, shortCircuit: true };
      }
      return resolved;
    },
  });
}
