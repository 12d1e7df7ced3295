// client-node's modules import, as they load, packages the operator has them use only for some
// kubeconfigs: undici behind a proxy-url (requests otherwise go over node's own agents), socks,
// socks-proxy-agent and hpagent behind a proxy-url too, jsonpath-plus for the azure and gcp auth
// providers, openid-client (with oauth4webapi and jose) for the oidc one, and js-yaml for a
// kubeconfig file (in a cluster the operator reads its ServiceAccount's token and CA instead). The
// resolve hook in lean-client-node.ts hands those imports this module instead, which loads each
// package the first time client-node uses it: undici alone is about 6 MiB of RSS, the rest a few MiB
// more, that a process talking to the API server directly, with a token or a client certificate,
// never needs.
// Called with `new`, each function returns the package's own object.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

type Undici = typeof import('undici');
type Socks = typeof import('socks');
type SocksProxy = typeof import('socks-proxy-agent');
type Hpagent = typeof import('hpagent');
type JsonPath = typeof import('jsonpath-plus');
type OpenIdClient = typeof import('openid-client');
type JsYaml = typeof import('js-yaml');

// Resolved from client-node's package, so each import gets the copy client-node would have; not
// from its dist/, where the resolve hook would hand them this module again.
// require() keeps each module once loaded.
const require = createRequire(import.meta.resolve('@kubernetes/client-node/package.json'));
const loadPackage = <T>(name: string): T => require(name) as T;

/** client-node's config module calls js-yaml's load only, to read a kubeconfig file. */
export function load(...args: Parameters<JsYaml['load']>): ReturnType<JsYaml['load']> {
  return loadPackage<JsYaml>('js-yaml').load(...args);
}

export function Agent(...args: ConstructorParameters<Undici['Agent']>): InstanceType<Undici['Agent']> {
  return new (loadPackage<Undici>('undici').Agent)(...args);
}

export function ProxyAgent(...args: ConstructorParameters<Undici['ProxyAgent']>): InstanceType<Undici['ProxyAgent']> {
  return new (loadPackage<Undici>('undici').ProxyAgent)(...args);
}

export function fetch(...args: Parameters<Undici['fetch']>): ReturnType<Undici['fetch']> {
  return loadPackage<Undici>('undici').fetch(...args);
}

export function SocksProxyAgent(...args: ConstructorParameters<SocksProxy['SocksProxyAgent']>): InstanceType<SocksProxy['SocksProxyAgent']> {
  return new (loadPackage<SocksProxy>('socks-proxy-agent').SocksProxyAgent)(...args);
}

export function HttpProxyAgent(...args: ConstructorParameters<Hpagent['HttpProxyAgent']>): InstanceType<Hpagent['HttpProxyAgent']> {
  return new (loadPackage<Hpagent>('hpagent').HttpProxyAgent)(...args);
}

export function HttpsProxyAgent(...args: ConstructorParameters<Hpagent['HttpsProxyAgent']>): InstanceType<Hpagent['HttpsProxyAgent']> {
  return new (loadPackage<Hpagent>('hpagent').HttpsProxyAgent)(...args);
}

/** client-node calls SocksClient.createConnection only. */
export const SocksClient = {
  createConnection(...args: Parameters<Socks['SocksClient']['createConnection']>): ReturnType<Socks['SocksClient']['createConnection']> {
    return loadPackage<Socks>('socks').SocksClient.createConnection(...args);
  },
};

/** Called as a function (client-node never uses `new JSONPath`); typed as the package's own, overloads and all. */
export const JSONPath = ((...args: unknown[]) => (loadPackage<JsonPath>('jsonpath-plus').JSONPath as unknown as (...a: unknown[]) => unknown)(...args)) as unknown as JsonPath['JSONPath'];

// openid-client is ESM only: loaded with import(), which suits its functions, all async, and keeps
// the module once loaded.
const loadOpenIdClient = (): Promise<OpenIdClient> => import(pathToFileURL(require.resolve('openid-client')).href) as Promise<OpenIdClient>;

/**
 * Stands for openid-client's own symbol, which exists only once the package is loaded: discovery()
 * puts the function given under it back under the real one.
 */
export const customFetch: unique symbol = Symbol('customFetch');

type DiscoveryOptions = Parameters<OpenIdClient['discovery']>[4] & { [customFetch]?: unknown };

export async function discovery(
  server: Parameters<OpenIdClient['discovery']>[0],
  clientId: string,
  metadata?: Parameters<OpenIdClient['discovery']>[2],
  clientAuthentication?: Parameters<OpenIdClient['discovery']>[3],
  options?: DiscoveryOptions,
): ReturnType<OpenIdClient['discovery']> {
  const oidc = await loadOpenIdClient();
  let real: Parameters<OpenIdClient['discovery']>[4] = options;
  if (options && customFetch in options) {
    const { [customFetch]: fetch, ...rest } = options;
    real = { ...rest, [oidc.customFetch]: fetch } as Parameters<OpenIdClient['discovery']>[4];
  }
  return oidc.discovery(server, clientId, metadata, clientAuthentication, real);
}

export async function refreshTokenGrant(...args: Parameters<OpenIdClient['refreshTokenGrant']>): ReturnType<OpenIdClient['refreshTokenGrant']> {
  return (await loadOpenIdClient()).refreshTokenGrant(...args);
}
