// The operator loads client-node without its generated API classes and models, and without undici,
// the proxy packages and jsonpath-plus until a kubeconfig needs them: a child process records every
// module it resolves under client-node's generated tree and those packages', builds a KubeClient and
// sends a request with the credentials client-node's authentication adds, then has client-node build
// the agents for proxy-urls and send a request through a SOCKS proxy, and read a kubeconfig file's
// YAML.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const probe = (lean: boolean) => `
import { registerHooks } from 'node:module';
const generated = [];
const undici = [];
const onDemand = [];
const yaml = [];
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes('/node_modules/js-yaml/')) yaml.push(r.url); if (/client-node\\/dist\\/gen\\/(models|apis|types)\\//.test(r.url)) generated.push(r.url); if (r.url.includes('/node_modules/undici/')) undici.push(r.url); if (/\\/node_modules\\/(socks|socks-proxy-agent|hpagent|jsonpath-plus|openid-client|oauth4webapi|jose)\\//.test(r.url)) onDemand.push(r.url); return r; } });
${lean ? "(await import('./src/kube/lean-client-node.ts')).loadClientNodeLean();" : ''}
const { KubeClient } = await import('./src/kube/client.ts');
const { KubeConfig } = await import('./src/kube/client-node.ts');
const { createServer } = await import('node:http');
const server = createServer((req, res) => res.end(req.headers.authorization ?? 'none'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'c', server: 'http://127.0.0.1:' + server.address().port, skipTLSVerify: true }], users: [{ name: 'u', token: 't0ken' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const authorization = await new KubeClient(kc).getText('/version');
server.close();
const undiciBeforeProxy = undici.length;
const onDemandBeforeProxy = onDemand.length;
const { RequestContext, HttpMethod } = await import('./src/kube/client-node.ts');
const proxied = new KubeConfig();
proxied.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', proxyUrl: 'http://127.0.0.1:2' }], users: [{ name: 'u', token: 't0ken' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const ctx = new RequestContext('https://127.0.0.1:1/version', HttpMethod.GET);
await proxied.applySecurityAuthentication(ctx);
const proxyAgent = ctx.getDispatcher()?.constructor.name;
const agentFor = async (proxyUrl) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', proxyUrl }], users: [{ name: 'u', token: 't0ken' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  const opts = {};
  await kc.applyToHTTPSOptions(opts);
  return opts.agent?.constructor.name;
};
const httpAgents = [await agentFor('socks5://127.0.0.1:2'), await agentFor('http://127.0.0.1:2')];
// A request through a SOCKS proxy that is not there: refused by the network, so it reached socks' own client.
const socksConfig = new KubeConfig();
socksConfig.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', proxyUrl: 'socks5://127.0.0.1:1' }], users: [{ name: 'u', token: 't0ken' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const socksError = await new KubeClient(socksConfig).getText('/version').then(() => 'none', (err) => String(err?.message));
const yamlBeforeFile = yaml.length;
const fromFile = new KubeConfig();
fromFile.loadFromString('apiVersion: v1\\nkind: Config\\nclusters:\\n- name: c\\n  cluster: {server: "https://127.0.0.1:6443"}\\nusers:\\n- name: u\\n  user: {token: t0ken}\\ncontexts:\\n- name: from-file\\n  context: {cluster: c, user: u}\\ncurrent-context: from-file\\n');
const fileContext = [fromFile.getCurrentContext(), fromFile.getCurrentCluster()?.server];
console.log(JSON.stringify({ generated: generated.length, authorization, undiciBeforeProxy, undiciAfterProxy: undici.length, proxyAgent, onDemandBeforeProxy, onDemandAfterProxy: onDemand.length, httpAgents, socksError, yamlBeforeFile, yamlAfterFile: yaml.length, fileContext }));
`;

interface ProbeResult {
  generated: number;
  authorization: string;
  undiciBeforeProxy: number;
  undiciAfterProxy: number;
  proxyAgent: string;
  onDemandBeforeProxy: number;
  onDemandAfterProxy: number;
  httpAgents: string[];
  socksError: string;
  yamlBeforeFile: number;
  yamlAfterFile: number;
  fileContext: [string, string];
}

function run(lean: boolean): ProbeResult {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', probe(lean)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('client-node loaded lean', () => {
  it('resolves none of the generated API classes or models, and still authenticates and sends requests', () => {
    const lean = run(true);
    expect(lean.generated).toBe(0);
    // The request went out with the credentials client-node's authentication put on it.
    expect(lean.authorization).toBe('Bearer t0ken');
  });

  it('loads undici only when client-node builds an agent for a proxy, and then builds undici\'s own', () => {
    const lean = run(true);
    expect(lean.undiciBeforeProxy).toBe(0);
    expect(lean.undiciAfterProxy).toBeGreaterThan(0);
    expect(lean.proxyAgent).toBe('ProxyAgent');
  });

  it('loads the proxy, JSONPath and OpenID Connect packages only when a kubeconfig needs them, and the proxies\' own classes then', () => {
    const lean = run(true);
    expect(lean.onDemandBeforeProxy).toBe(0);
    expect(lean.onDemandAfterProxy).toBeGreaterThan(0);
    expect(lean.httpAgents).toEqual(['SocksProxyAgent', 'HttpsProxyAgent']);
    expect(lean.socksError).toMatch(/ECONNREFUSED/);
  });

  it('loads js-yaml only when a kubeconfig is read from YAML, and reads it then', () => {
    const lean = run(true);
    expect(lean.yamlBeforeFile).toBe(0);
    expect(lean.yamlAfterFile).toBeGreaterThan(0);
    expect(lean.fileContext).toEqual(['from-file', 'https://127.0.0.1:6443']);
  });

  it('without the hooks the same imports load them (so the checks above can fail)', () => {
    const eager = run(false);
    expect(eager.yamlBeforeFile).toBeGreaterThan(0);
    expect(eager.fileContext).toEqual(['from-file', 'https://127.0.0.1:6443']);
    expect(eager.generated).toBeGreaterThan(100);
    expect(eager.undiciBeforeProxy).toBeGreaterThan(0);
    expect(eager.onDemandBeforeProxy).toBeGreaterThan(0);
    expect(eager.socksError).toMatch(/ECONNREFUSED/);
  });

  it("hands OpenID Connect discovery to openid-client's own, with the fetch client-node gives it", async () => {
    const { customFetch, discovery } = await import('../../src/kube/client-node-lazy.ts');
    const issuer = 'https://issuer.example';
    const asked: string[] = [];
    const fetchFor = async (url: string) => {
      asked.push(url);
      return new Response(JSON.stringify({ issuer, token_endpoint: `${issuer}/token` }), { headers: { 'content-type': 'application/json' } });
    };
    const config = await discovery(new URL(issuer), 'client', undefined, undefined, { [customFetch]: fetchFor });
    expect(asked).toEqual([`${issuer}/.well-known/openid-configuration`]);
    expect(config.serverMetadata().token_endpoint).toBe(`${issuer}/token`);
  });

  it("hands JSONPath calls to jsonpath-plus's own", async () => {
    const { JSONPath } = await import('../../src/kube/client-node-lazy.ts');
    expect(JSONPath({ path: '$.credential.access_token', json: { credential: { access_token: 't' } }, wrap: false })).toBe('t');
  });
});
