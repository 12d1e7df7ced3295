// The operator loads client-node without its generated API classes and models: a child process
// records every module it resolves under client-node's generated tree, then builds a KubeClient and
// sends a request with the credentials client-node's authentication adds.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const probe = (lean: boolean) => `
import { registerHooks } from 'node:module';
const generated = [];
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (/client-node\\/dist\\/gen\\/(models|apis|types)\\//.test(r.url)) generated.push(r.url); return r; } });
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
console.log(JSON.stringify({ generated: generated.length, authorization }));
`;

function run(lean: boolean): { generated: number; authorization: string } {
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

  it('without the hook the same imports load them (so the check above can fail)', () => {
    expect(run(false).generated).toBeGreaterThan(100);
  });
});
