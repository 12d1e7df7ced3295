// The connection pool every request and watch share: HTTP/1.1 over one agent, renewed on a clock and
// dropped after a network failure. The KubeClient half runs against a local TLS server that speaks
// both HTTP/2 and HTTP/1.1, so the protocol seen is the one the client chose.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { createSecureServer, type Http2SecureServer } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';
import { KubeConfig } from '../../src/kube/client-node.ts';
import { ConnectionPool } from '../../src/kube/connection-pool.ts';

describe('ConnectionPool', () => {
  it('hands out one agent until it is older than the renewal period, then a new one', () => {
    let now = 0;
    const pool = new ConnectionPool(1000, () => now);
    const a = pool.agent({ type: 'none' });
    now = 1000;
    expect(pool.agent({ type: 'agent', connect: {} })).toBe(a);
    now = 1001;
    const b = pool.agent({ type: 'none' });
    expect(b).toBeDefined();
    expect(b).not.toBe(a);
  });

  it('starts a new agent after reset', () => {
    const pool = new ConnectionPool(60_000, () => 0);
    const a = pool.agent({ type: 'none' });
    pool.reset();
    expect(pool.agent({ type: 'none' })).not.toBe(a);
  });

  it('closes a connection left idle, and keeps one while its request is slower than that', async () => {
    const server = createServer((req, res) => void setTimeout(() => res.end('ok'), req.url === '/slow' ? 400 : 0));
    let closed = 0;
    server.on('connection', (socket) => socket.on('close', () => closed++));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new ConnectionPool(60_000, Date.now, 150).agent({ type: 'none' }, false)!;
    const get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, path, agent }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve(body));
        });
        req.on('error', reject);
        req.end();
      });
    try {
      expect(await get('/slow')).toBe('ok');
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(1);
      await expect.poll(() => closed, { timeout: 2000 }).toBe(1);
      expect(Object.values(agent.freeSockets).flat()).toHaveLength(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('leaves proxied connections to client-node', () => {
    expect(new ConnectionPool().agent({ type: 'proxy', uri: 'http://proxy:3128', requestTls: {}, connect: {} })).toBeUndefined();
  });
});

describe('KubeClient connections', () => {
  let dir: string;
  let server: Http2SecureServer;
  let client: KubeClient;
  let kc: KubeConfig;
  const versions: string[] = [];
  let connections = 0;
  /** The connection each request came over, in order. */
  const sockets: object[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regcred-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    server = createSecureServer({ allowHTTP1: true, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      versions.push(req.httpVersion);
      sockets.push(req.socket);
      if (req.url?.startsWith('/hang')) return;
      if (req.url?.startsWith('/slow')) return void setTimeout(() => res.end('{}'), 100);
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(`${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'x' } } })}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"items":[],"metadata":{}}');
    });
    server.on('secureConnection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile: join(dir, 'cert.pem') }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    client = new KubeClient(kc);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks HTTP/1.1 for requests and watches, and reuses connections', async () => {
    versions.length = 0;
    const before = connections;
    for (let i = 0; i < 10; i++) await client.list(RESOURCES.namespaces);
    await new Promise<void>((resolve, reject) => {
      void client.watch(RESOURCES.namespaces, undefined, {}, () => undefined, (err) => (err ? reject(err as Error) : resolve()));
    });
    expect(versions).toEqual(Array(11).fill('1.1'));
    // Ten requests one after another and a watch after them: at most one connection each for the
    // requests' keep-alive connection and the watch.
    expect(connections - before).toBeLessThanOrEqual(2);
  });

  it('opens new connections after a request failed without a response', async () => {
    const client = new KubeClient(kc);
    // Two requests at once, so two connections: one answers, one never does and times out.
    const [, hung] = await Promise.allSettled([client.getText('/slow'), client.request('GET', '/hang', { text: true, timeoutMs: 300 })]);
    expect(hung.status).toBe('rejected');
    const answered = sockets.at(-2)!;
    expect(answered).not.toBe(sockets.at(-1));
    // The connection that answered is idle and open; the next request must not use it.
    await client.list(RESOURCES.namespaces);
    expect(sockets.at(-1)).not.toBe(answered);
    expect(sockets.at(-1)).not.toBe(sockets.at(-2));
  });
});
