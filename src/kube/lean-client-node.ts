// client-node's KubeConfig module imports the package's generated index, and with it every API class
// and model of every Kubernetes group, only to build API clients the operator never makes. A resolve
// hook hands that one import the small module beside this file instead. It must be registered before
// client-node is first imported, so the entry point registers it and then imports the rest.
import { registerHooks } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const GENERATED_INDEX = '/@kubernetes/client-node/dist/gen/index.js';
const CONFIG_MODULE = '/@kubernetes/client-node/dist/config.js';

let registered = false;

export function loadClientNodeLean(): void {
  if (registered) return;
  registered = true;
  // src/*.ts when run from source, dist/*.js when built.
  const replacement = new URL(`./client-node-gen${extname(fileURLToPath(import.meta.url))}`, import.meta.url).href;
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (resolved.url.endsWith(GENERATED_INDEX) && context.parentURL?.endsWith(CONFIG_MODULE)) {
        return { ...resolved, url: replacement, shortCircuit: true };
      }
      return resolved;
    },
  });
}
