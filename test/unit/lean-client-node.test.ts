// The operator loads client-node without its generated API classes and models, and without undici
// until a proxy needs it: a child process records every module it resolves under client-node's
// generated tree and undici's, builds a KubeClient and sends a request with the credentials
// client-node's authentication adds, then has client-node build the agent for a proxy-url.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const probe = (lean: boolean) => `
import { registerHooks } from 'node:module';
const generated = [];
const undici = [];
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (/client-node\\/dist\\/gen\\/(models|apis|types)\\//.test(r.url)) generated.push(r.url); if (r.url.includes('/node_modules/undici/')) undici.push(r.url); return r; } });
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
const { RequestContext, HttpMethod } = await import('./src/kube/client-node.ts');
const proxied = new KubeConfig();
proxied.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1', proxyUrl: 'http://127.0.0.1:2' }], users: [{ name: 'u', token: 't0ken' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const ctx = new RequestContext('https://127.0.0.1:1/version', HttpMethod.GET);
await proxied.applySecurityAuthentication(ctx);
const proxyAgent = ctx.getDispatcher()?.constructor.name;
console.log(JSON.stringify({ generated: generated.length, authorization, undiciBeforeProxy, undiciAfterProxy: undici.length, proxyAgent }));
`;

function run(lean: boolean): { generated: number; authorization: string; undiciBeforeProxy: number; undiciAfterProxy: number; proxyAgent: string } {
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

  it('without the hooks the same imports load them (so the checks above can fail)', () => {
    const eager = run(false);
    expect(eager.generated).toBeGreaterThan(100);
    expect(eager.undiciBeforeProxy).toBeGreaterThan(0);
  });
});
