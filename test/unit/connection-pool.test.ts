// The connection pool every request and watch share: one agent, or with HTTP/2 on, over TLS a few
// HTTP/2 connections (HTTP/1.1 for a server without h2); renewed on a clock and dropped after a
// network failure. The KubeClient half runs against a local TLS server that speaks both HTTP/2 and HTTP/1.1,
// so the protocol seen is the one the client chose.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, createServer, request as httpRequest } from 'node:http';
import { createSecureServer, type Http2SecureServer, type ServerHttp2Session } from 'node:http2';
import { Agent as HttpsAgent, createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, RESOURCES } from '../../src/kube/client.ts';
import { KubeConfig } from '../../src/kube/client-node.ts';
import { ConnectionPool } from '../../src/kube/connection-pool.ts';
import { open, readText } from '../../src/kube/exchange.ts';
import { CONNECTIONS, Http2Transport } from '../../src/kube/http2-transport.ts';
import { FreezableProxy } from '../support/proxy.ts';
import { selfSignedCert } from '../support/self-signed.ts';

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
    const agent = new ConnectionPool(60_000, Date.now, 150).agent({ type: 'none' }, false) as Agent;
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

  it('gives TLS connections an HTTP/2 transport only when HTTP/2 is on, and plain ones an HTTP/1.1 agent', () => {
    const pool = new ConnectionPool();
    expect(pool.agent({ type: 'none' })).toBeInstanceOf(HttpsAgent);
    pool.setHttp2(true);
    expect(pool.agent({ type: 'none' })).toBeInstanceOf(Http2Transport);
    const plain = new ConnectionPool();
    plain.setHttp2(true);
    expect(plain.agent({ type: 'none' }, false)).toBeInstanceOf(Agent);
  });
});

describe('KubeClient connections', () => {
  let dir: string;
  let server: Http2SecureServer;
  let client: KubeClient;
  let kc: KubeConfig;
  const versions: string[] = [];
  let connections = 0;
  /** The connection each request came over (its HTTP/2 session, or its socket), in order. */
  const sockets: object[] = [];
  const sessionsClosed: ServerHttp2Session[] = [];
  /** PINGs the server has received (and answered: node answers them itself). */
  let pings = 0;
  /** Watches send their one event and then stay open without a byte more. */
  let silentWatches = false;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regcred-tls-'));
    selfSignedCert(dir);
    server = createSecureServer({ allowHTTP1: true, key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      versions.push(req.httpVersion);
      sockets.push(req.stream ? req.stream.session! : req.socket);
      if (req.url?.startsWith('/hang')) return;
      if (req.url?.startsWith('/slow')) return void setTimeout(() => res.end('{}'), 100);
      if (req.url?.includes('watch=true')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const event = `${JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'x' } } })}\n`;
        if (silentWatches) res.write(event);
        else res.end(event);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"items":[],"metadata":{}}');
    });
    server.on('secureConnection', () => connections++);
    server.on('session', (session) => {
      session.on('ping', () => pings++);
      session.once('close', () => sessionsClosed.push(session));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, caFile: join(dir, 'cert.pem') }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    client = new KubeClient(kc);
    client.setHttp2(true);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks HTTP/1.1 unless HTTP/2 is turned on', async () => {
    versions.length = 0;
    await new KubeClient(kc).list(RESOURCES.namespaces);
    expect(versions).toEqual(['1.1']);
  });

  it('speaks HTTP/2 for requests and watches, over a few connections taken in turn', async () => {
    versions.length = 0;
    const before = connections;
    for (let round = 0; round < 3; round++) await Promise.all(Array.from({ length: 10 }, () => client.list(RESOURCES.namespaces)));
    await new Promise<void>((resolve, reject) => {
      void client.watch(RESOURCES.namespaces, undefined, {}, () => undefined, (err) => (err ? reject(err as Error) : resolve()));
    });
    expect(versions).toEqual(Array(31).fill('2.0'));
    expect(connections - before).toBe(CONNECTIONS);
    expect(new Set(sockets.slice(-31)).size).toBe(CONNECTIONS);
  });

  it('keeps its connections after a silent watch when they answer a PING', async () => {
    const client = new KubeClient(kc);
    client.setHttp2(true);
    client.setWatchInactivityTimeout(200);
    await Promise.all(Array.from({ length: CONNECTIONS }, () => client.list(RESOURCES.namespaces)));
    const open = new Set(sockets.slice(-CONNECTIONS));
    const pingsBefore = pings;
    silentWatches = true;
    try {
      const err = await new Promise<unknown>((resolve) => void client.watch(RESOURCES.namespaces, undefined, {}, () => undefined, resolve));
      expect(err).toMatchObject({ name: 'TimeoutError' });
    } finally {
      silentWatches = false;
    }
    // Every open connection was asked, and answered; connections given up would carry no more requests.
    await expect.poll(() => pings - pingsBefore, { timeout: 2000 }).toBe(CONNECTIONS);
    await Promise.all(Array.from({ length: CONNECTIONS }, () => client.list(RESOURCES.namespaces)));
    expect(new Set(sockets.slice(-CONNECTIONS))).toEqual(open);
  });

  it('with HTTP/2 on, speaks HTTP/1.1 to a TLS server that does not offer h2', async () => {
    const seen: string[] = [];
    const h1 = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      seen.push(req.httpVersion);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end('{"items":[],"metadata":{}}');
    });
    await new Promise<void>((r) => h1.listen(0, '127.0.0.1', r));
    try {
      const config = new KubeConfig();
      config.loadFromOptions({
        clusters: [{ name: 'c', server: `https://127.0.0.1:${(h1.address() as AddressInfo).port}`, caFile: join(dir, 'cert.pem') }],
        users: [{ name: 'u', token: 't' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const client = new KubeClient(config);
      client.setHttp2(true);
      await Promise.all([client.list(RESOURCES.namespaces), client.list(RESOURCES.namespaces)]);
      await client.list(RESOURCES.namespaces);
      expect(seen).toEqual(['1.1', '1.1', '1.1']);
    } finally {
      h1.closeAllConnections();
      await new Promise((r) => h1.close(r));
    }
  });

  it('opens new connections after a request failed without a response, and closes the old ones', async () => {
    const client = new KubeClient(kc);
    client.setHttp2(true);
    await Promise.all(Array.from({ length: CONNECTIONS - 1 }, () => client.list(RESOURCES.namespaces)));
    // The next connection in turn carries a request that is never answered and times out.
    const hung = await client.request('GET', '/hang', { text: true, timeoutMs: 300 }).catch((e: unknown) => e);
    expect(hung).toMatchObject({ name: 'TimeoutError' });
    const old = new Set(sockets.slice(-CONNECTIONS));
    expect(old.size).toBe(CONNECTIONS);
    await Promise.all(Array.from({ length: CONNECTIONS }, () => client.list(RESOURCES.namespaces)));
    for (const connection of sockets.slice(-CONNECTIONS)) expect(old.has(connection)).toBe(false);
    // Nothing is left open on the old connections, so they are closed.
    await expect.poll(() => [...old].every((c) => sessionsClosed.includes(c as ServerHttp2Session)), { timeout: 2000 }).toBe(true);
  });
});

describe('Http2Transport', () => {
  let dir: string;
  let server: Http2SecureServer;
  let url: URL;
  const closedSessions: object[] = [];
  let received = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'regcred-h2-'));
    selfSignedCert(dir);
    server = createSecureServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      received++;
      setTimeout(() => res.end('ok'), req.url === '/slow' ? 400 : 0);
    });
    server.on('session', (session) => session.once('close', () => closedSessions.push(session)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const transport = (idleMs: number) => new Http2Transport({ ca: readFileSync(join(dir, 'cert.pem')) }, idleMs, () => new HttpsAgent() as HttpsAgent & { retire(): void });
  const get = async (t: Http2Transport, path: string) => readText((await open(new URL(path, url), { method: 'GET', headers: {}, idleTimeoutMs: 5000, via: t })).body);

  it('closes its connection once no stream has been open for the idle time, and not while one is', async () => {
    const t = transport(150);
    const before = closedSessions.length;
    expect(await get(t, '/slow')).toBe('ok');
    // The slow stream outlasted the idle time: the connection was kept for it.
    expect(closedSessions.length).toBe(before);
    await expect.poll(() => closedSessions.length, { timeout: 2000 }).toBe(before + 1);
  });

  it('keeps a connection that answers a PING, and gives up one that does not', async () => {
    const proxy = await FreezableProxy.start(url.origin);
    const through = new URL(`https://127.0.0.1:${proxy.port}`);
    const t = new Http2Transport({ ca: readFileSync(join(dir, 'cert.pem')) }, 60_000, () => new HttpsAgent() as HttpsAgent & { retire(): void }, 200);
    const viaProxy = async () => readText((await open(new URL('/', through), { method: 'GET', headers: {}, idleTimeoutMs: 5000, via: t })).body);
    let dead = 0;
    try {
      expect(await viaProxy()).toBe('ok');
      expect(await t.verify(() => dead++)).toBe(true);
      expect(dead).toBe(0);
      proxy.freeze();
      expect(await t.verify(() => dead++)).toBe(false);
      expect(dead).toBe(1);
    } finally {
      proxy.thaw();
      t.retire();
      await proxy.stop();
    }
  });

  it('once retired, lets the open stream finish on its connection, then closes it', async () => {
    const t = transport(60_000);
    const before = closedSessions.length;
    const receivedBefore = received;
    const slow = get(t, '/slow');
    await expect.poll(() => received, { timeout: 2000 }).toBe(receivedBefore + 1);
    t.retire();
    expect(await slow).toBe('ok');
    await expect.poll(() => closedSessions.length, { timeout: 2000 }).toBe(before + 1);
  });
});
