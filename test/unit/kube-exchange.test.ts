// KubeClient's own HTTP exchanges against local servers: how requests are framed and bounded, and
// how a watch stream is read, refused, cut, silenced and stopped. Each is run over plain HTTP/1.1
// and over HTTP/2 on TLS (--http2), whose streams share their connections.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, KubeError, RESOURCES } from '../../src/kube/client.ts';
import { KubeConfig } from '../../src/kube/client-node.ts';
import { connectHost } from '../../src/kube/target.ts';
import { selfSignedCert } from '../support/self-signed.ts';

type Request = IncomingMessage | Http2ServerRequest;
/** Both servers' responses, by the API they share. */
type Handler = (req: Request, res: ServerResponse, body: string) => void;

let handler: Handler = (_req, res) => res.end('{}');
/** Every request seen, with the connection it came over (the HTTP/2 session, or the socket). */
const seen: Array<{ url: string; headers: Request['headers']; body: string; connection: object; httpVersion: string }> = [];
/** Requests whose stream (over HTTP/1.1: connection) has closed. */
let closed = 0;
const certDir = mkdtempSync(join(tmpdir(), 'regcred-exchange-tls-'));

function record(req: Request, res: ServerResponse | Http2ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    const connection = 'stream' in req ? req.stream.session! : req.socket;
    seen.push({ url: req.url ?? '', headers: req.headers, body, connection, httpVersion: req.httpVersion });
    handler(req, res as ServerResponse, body);
  });
}

const kubeconfig = (server: string, extra: { caFile?: string; skipTLSVerify?: boolean } = {}) => {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, ...extra }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
};

/** The two servers: plain HTTP/1.1, and TLS with HTTP/2 only (as kube-apiserver offers it first). */
const transports: Array<{ name: string; start(): Promise<{ kc: KubeConfig; stop(): Promise<void> }> }> = [
  {
    name: 'HTTP/1.1',
    async start() {
      const server: Server = createServer(record);
      server.on('connection', (socket: Socket) => socket.on('close', () => closed++));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return {
        kc: kubeconfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { skipTLSVerify: true }),
        async stop() {
          server.closeAllConnections();
          await new Promise((r) => server.close(r));
        },
      };
    },
  },
  {
    name: 'HTTP/2',
    async start() {
      const { keyFile, certFile } = selfSignedCert(certDir);
      const server: Http2SecureServer = createSecureServer({ key: readFileSync(keyFile), cert: readFileSync(certFile) }, record);
      server.on('stream', (stream) => stream.on('close', () => closed++));
      const sessions = new Set<{ destroy(): void }>();
      server.on('session', (session) => {
        sessions.add(session);
        session.on('close', () => sessions.delete(session));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      return {
        kc: kubeconfig(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, { caFile: certFile }),
        async stop() {
          for (const session of sessions) session.destroy();
          await new Promise((r) => server.close(r));
        },
      };
    },
  },
];

afterAll(() => rmSync(certDir, { recursive: true, force: true }));

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** A watch that delivers one event and then stays open without a byte more. */
const oneEventThenSilence: Handler = (_req, res) => {
  res.writeHead(200);
  res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
};

/** Runs a watch to its end: the events it delivered and what onDone was called with. */
function watchToEnd(client: KubeClient, opts: Parameters<KubeClient['watch']>[2] = {}) {
  const events: Array<[string, unknown]> = [];
  let doneCalls = 0;
  const done = new Promise<unknown>((resolve) => {
    void client.watch(RESOURCES.secrets, 'ns', opts, (type, obj) => void events.push([type, obj]), (err) => {
      doneCalls++;
      resolve(err);
    });
  });
  return { events, done, doneCalls: () => doneCalls };
}

describe('connectHost', () => {
  it('connects to an IPv6 address without the brackets a URL writes it in, and to any other host as written', () => {
    expect(connectHost(new URL('https://[::1]:6443/api'))).toBe('::1');
    expect(connectHost(new URL('https://127.0.0.1:6443/api'))).toBe('127.0.0.1');
    expect(connectHost(new URL('https://kubernetes.default.svc/api'))).toBe('kubernetes.default.svc');
  });
});

describe.each(transports)('over $name', (transport) => {
  let kc: KubeConfig;
  let stop: () => Promise<void>;
  beforeAll(async () => {
    ({ kc, stop } = await transport.start());
  });
  afterAll(() => stop());
  const newClient = () => {
    const client = new KubeClient(kc);
    client.setHttp2(transport.name === 'HTTP/2');
    return client;
  };

  describe('KubeClient requests', () => {
    it('sends the token, JSON with its length, and the field manager, and parses the answer', async () => {
      handler = (_req, res, body) => json(res, 201, { echoed: JSON.parse(body) as unknown });
      const client = newClient();
      const answer = await client.create<{ echoed: { kind: string; metadata: { name: string } } }>(RESOURCES.secrets, 'ns', { metadata: { name: 's' } });
      expect(answer.echoed).toMatchObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } });
      const req = seen.at(-1)!;
      expect(req.url).toBe('/api/v1/namespaces/ns/secrets?fieldManager=regcred-operator');
      expect(req.headers).toMatchObject({ authorization: 'Bearer secret-token', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(req.body)) });
      expect(req.headers['transfer-encoding']).toBeUndefined();
      expect(req.httpVersion).toBe(transport.name === 'HTTP/2' ? '2.0' : '1.1');
    });

    it('puts the path of a server URL (a proxy\'s prefix) before every request and watch, and escapes query values', async () => {
      const cluster = kc.getCurrentCluster()!;
      const prefixed = new KubeClient(kubeconfig(`${cluster.server}/k8s/clusters/c-1/`, { ...(cluster.caFile ? { caFile: cluster.caFile } : {}), skipTLSVerify: cluster.skipTLSVerify }));
      prefixed.setHttp2(transport.name === 'HTTP/2');
      handler = (_req, res) => json(res, 200, { items: [] });
      await prefixed.list(RESOURCES.secrets, 'ns', { labelSelector: 'a=b,c in (d e)' });
      expect(seen.at(-1)!.url).toBe('/k8s/clusters/c-1/api/v1/namespaces/ns/secrets?labelSelector=a%3Db%2Cc+in+%28d+e%29');
      await prefixed.get(RESOURCES.secrets, 'ns', 'a b');
      expect(seen.at(-1)!.url).toBe('/k8s/clusters/c-1/api/v1/namespaces/ns/secrets/a%20b');
      handler = (_req, res) => res.end();
      await watchToEnd(prefixed, { resourceVersion: '7' }).done;
      expect(seen.at(-1)!.url).toBe('/k8s/clusters/c-1/api/v1/namespaces/ns/secrets?watch=true&resourceVersion=7');
    });

    it('names itself in the User-Agent of requests and watches: the field manager, or what it is told', async () => {
      handler = (_req, res) => json(res, 200, {});
      const client = newClient();
      await client.get(RESOURCES.secrets, 'ns', 's');
      expect(seen.at(-1)!.headers['user-agent']).toBe('regcred-operator');
      client.setUserAgent('regcred-operator/1.2.3 (linux/x64) node/v24.0.0');
      await client.get(RESOURCES.secrets, 'ns', 's');
      expect(seen.at(-1)!.headers['user-agent']).toBe('regcred-operator/1.2.3 (linux/x64) node/v24.0.0');
      handler = (_req, res) => res.end();
      await watchToEnd(client).done;
      expect(seen.at(-1)!.headers['user-agent']).toBe('regcred-operator/1.2.3 (linux/x64) node/v24.0.0');
    });

    it('turns a refusal into a KubeError with the Status reason and Retry-After', async () => {
      handler = (_req, res) => {
        res.setHeader('Retry-After', '3');
        json(res, 429, { kind: 'Status', reason: 'TooManyRequests', message: 'slow down' });
      };
      const err = await newClient().get(RESOURCES.secrets, 'ns', 's').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KubeError);
      expect(err).toMatchObject({ status: 429, reason: 'TooManyRequests', message: 'slow down', retryAfterSeconds: 3 });
    });

    it('fails at once, not at its timeout, when the connection is dropped before an answer', async () => {
      handler = (req) => ('stream' in req ? req.stream.session!.destroy() : req.socket.destroy());
      const err = await newClient().request('GET', '/dropped', { timeoutMs: 60_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toMatchObject({ name: 'TimeoutError' });
    });

    it('gives up on a silent server with an error named TimeoutError, and reconnects for the next request', async () => {
      handler = (req, res) => {
        if (req.url?.startsWith('/silent')) return;
        json(res, 200, {});
      };
      const client = newClient();
      await client.getText('/warm');
      const warm = seen.at(-1)!.connection;
      const err = await client.request('GET', '/silent', { timeoutMs: 200 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'TimeoutError' });
      await client.getText('/after');
      expect(seen.at(-1)!.connection).not.toBe(warm);
    });
  });

  describe('KubeClient.watch', () => {
    it('delivers events split anywhere across chunks, in order, and ends cleanly with the stream', async () => {
      handler = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const text = [
          { type: 'ADDED', object: { metadata: { name: 'a', resourceVersion: '1' } } },
          { type: 'MODIFIED', object: { metadata: { name: 'a', resourceVersion: '2' } } },
          { type: 'BOOKMARK', object: { metadata: { resourceVersion: '3' } } },
        ].map((e) => `${JSON.stringify(e)}\n`).join('');
        let at = 0;
        const step = () => {
          if (at >= text.length) return void res.end();
          res.write(text.slice(at, at + 7));
          at += 7;
          setImmediate(step);
        };
        step();
      };
      const watch = watchToEnd(newClient(), { resourceVersion: '0', allowWatchBookmarks: true, timeoutSeconds: 60 });
      expect(await watch.done).toBeNull();
      expect(watch.events.map(([t, o]) => `${t}:${(o as { metadata: { resourceVersion: string } }).metadata.resourceVersion}`)).toEqual(['ADDED:1', 'MODIFIED:2', 'BOOKMARK:3']);
      const url = new URL(seen.at(-1)!.url, 'http://x');
      expect(Object.fromEntries(url.searchParams)).toEqual({ watch: 'true', resourceVersion: '0', allowWatchBookmarks: 'true', timeoutSeconds: '60' });
      expect(watch.doneCalls()).toBe(1);
    });

    it('asks for PartialObjectMetadata when metadata only is wanted', async () => {
      handler = (_req, res) => res.end();
      await watchToEnd(newClient(), { metadataOnly: true }).done;
      expect(seen.at(-1)!.headers.accept).toBe('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
    });

    it('reports a refused watch as a KubeError with the status and the reason from its body', async () => {
      handler = (_req, res) => json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
      const err = await watchToEnd(newClient()).done;
      expect(err).toBeInstanceOf(KubeError);
      expect(err).toMatchObject({ status: 410, reason: 'Expired', message: 'too old resource version' });
    });

    it('ends with an error at a line that is not JSON, and delivers nothing after it', async () => {
      handler = (_req, res) => {
        res.writeHead(200);
        res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
        res.write('<html>\n{"type":"ADDED","object":{"metadata":{"name":"b"}}}\n');
      };
      const watch = watchToEnd(newClient());
      const err = await watch.done;
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/not JSON/);
      expect(watch.events).toHaveLength(1);
    });

    it('ends with an error when the connection is cut before the stream ends', async () => {
      handler = (req, res) => {
        res.writeHead(200);
        res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
        setTimeout(() => ('stream' in req ? req.stream.session!.destroy() : req.socket.destroy()), 20);
      };
      const watch = watchToEnd(newClient());
      expect(await watch.done).toBeInstanceOf(Error);
      expect(watch.events).toHaveLength(1);
    });

    it('ends a silent stream after the inactivity timeout with an error named TimeoutError', async () => {
      handler = oneEventThenSilence;
      const client = newClient();
      client.setWatchInactivityTimeout(200);
      const started = performance.now();
      const watch = watchToEnd(client);
      expect(await watch.done).toMatchObject({ name: 'TimeoutError' });
      expect(performance.now() - started).toBeGreaterThanOrEqual(190);
      expect(watch.events).toHaveLength(1);
    });

    it('after stop(), closes the stream (over HTTP/1.1, its connection) and calls onDone once with no error', async () => {
      handler = oneEventThenSilence;
      const client = newClient();
      const dones: unknown[] = [];
      const handle = await client.watch(RESOURCES.secrets, 'ns', {}, () => undefined, (err) => void dones.push(err));
      const closedBefore = closed;
      handle.stop();
      handle.stop();
      await expect.poll(() => closed).toBeGreaterThan(closedBefore);
      expect(dones).toEqual([null]);
    });

    it('ends the watch with what a handler throws, and delivers nothing after it', async () => {
      handler = (_req, res) => {
        res.writeHead(200);
        res.write('{"type":"ADDED","object":{}}\n{"type":"ADDED","object":{}}\n');
      };
      const boom = new Error('handler failed');
      const dones: unknown[] = [];
      let events = 0;
      await new Promise<void>((resolve) => {
        void newClient().watch(RESOURCES.secrets, 'ns', {}, () => {
          events++;
          throw boom;
        }, (err) => {
          dones.push(err);
          resolve();
        });
      });
      expect(dones).toEqual([boom]);
      expect(events).toBe(1);
    });
  });
});

describe('KubeClient behind a proxy (kubeconfig proxy-url)', () => {
  let proxy: Server;
  let kc: KubeConfig;
  let stopServer: () => Promise<void>;
  const proxied: string[] = [];

  beforeAll(async () => {
    ({ kc, stop: stopServer } = await transports[0]!.start());
    // An HTTP proxy on loopback: requests in absolute form are forwarded, CONNECT is tunnelled.
    proxy = createServer((req, res) => {
      const target = new URL(req.url ?? '');
      proxied.push(target.host);
      const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    proxy.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
      proxied.push(req.url ?? '');
      const [host, port] = (req.url ?? '').split(':');
      const upstream = connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(client);
        client.pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  });

  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await stopServer();
  });

  it('sends requests and watches through the proxy', async () => {
    const cluster = kc.getCurrentCluster()!;
    const viaProxy = new KubeConfig();
    viaProxy.loadFromOptions({
      clusters: [{ ...cluster, proxyUrl: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }],
      users: [{ name: 'u', token: 'secret-token' }],
      contexts: [{ name: 'x', cluster: cluster.name, user: 'u' }],
      currentContext: 'x',
    });
    handler = (req, res) => {
      if (req.url?.includes('watch=true')) {
        res.writeHead(200);
        res.end('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
      } else json(res, 200, { items: [], metadata: { resourceVersion: '7' } });
    };
    const client = new KubeClient(viaProxy);
    const list = await client.list(RESOURCES.secrets, 'ns');
    expect(list.metadata.resourceVersion).toBe('7');
    const watch = watchToEnd(client);
    expect(await watch.done).toBeNull();
    expect(watch.events.map(([t]) => t)).toEqual(['ADDED']);
    expect(proxied.length).toBeGreaterThan(0);
    expect(new Set(proxied)).toEqual(new Set([new URL(cluster.server).host]));
  });
});
