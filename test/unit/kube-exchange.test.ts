// KubeClient's own HTTP exchanges against a local server: how requests are framed and bounded, and
// how a watch stream is read, refused, cut, silenced and stopped.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KubeClient, KubeError, RESOURCES } from '../../src/kube/client.ts';
import { KubeConfig } from '../../src/kube/client-node.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

let server: Server;
let handler: Handler = (_req, res) => res.end('{}');
const seen: Array<{ url: string; headers: IncomingMessage['headers']; body: string; socket: Socket }> = [];
let closed = 0;
let kc: KubeConfig;

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      seen.push({ url: req.url ?? '', headers: req.headers, body, socket: req.socket });
      handler(req, res, body);
    });
  });
  server.on('connection', (socket: Socket) => socket.on('close', () => closed++));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'secret-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

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

describe('KubeClient requests', () => {
  it('sends the token, JSON with its length, and the field manager, and parses the answer', async () => {
    handler = (_req, res, body) => json(res, 201, { echoed: JSON.parse(body) as unknown });
    const client = new KubeClient(kc);
    const answer = await client.create<{ echoed: { kind: string; metadata: { name: string } } }>(RESOURCES.secrets, 'ns', { metadata: { name: 's' } });
    expect(answer.echoed).toMatchObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' } });
    const req = seen.at(-1)!;
    expect(req.url).toBe('/api/v1/namespaces/ns/secrets?fieldManager=regcred-operator');
    expect(req.headers).toMatchObject({ authorization: 'Bearer secret-token', 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(req.body)) });
    expect(req.headers['transfer-encoding']).toBeUndefined();
  });

  it('names itself in the User-Agent of requests and watches: the field manager, or what it is told', async () => {
    handler = (_req, res) => json(res, 200, {});
    const client = new KubeClient(kc);
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
    const err = await new KubeClient(kc).get(RESOURCES.secrets, 'ns', 's').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ status: 429, reason: 'TooManyRequests', message: 'slow down', retryAfterSeconds: 3 });
  });

  it('gives up on a silent server with an error named TimeoutError, and reconnects for the next request', async () => {
    handler = (req, res) => {
      if (req.url?.startsWith('/silent')) return;
      json(res, 200, {});
    };
    const client = new KubeClient(kc);
    await client.getText('/warm');
    const warm = seen.at(-1)!.socket;
    const err = await client.request('GET', '/silent', { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'TimeoutError' });
    await client.getText('/after');
    expect(seen.at(-1)!.socket).not.toBe(warm);
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
    const watch = watchToEnd(new KubeClient(kc), { resourceVersion: '0', allowWatchBookmarks: true, timeoutSeconds: 60 });
    expect(await watch.done).toBeNull();
    expect(watch.events.map(([t, o]) => `${t}:${(o as { metadata: { resourceVersion: string } }).metadata.resourceVersion}`)).toEqual(['ADDED:1', 'MODIFIED:2', 'BOOKMARK:3']);
    const url = new URL(seen.at(-1)!.url, 'http://x');
    expect(Object.fromEntries(url.searchParams)).toEqual({ watch: 'true', resourceVersion: '0', allowWatchBookmarks: 'true', timeoutSeconds: '60' });
    expect(watch.doneCalls()).toBe(1);
  });

  it('asks for PartialObjectMetadata when metadata only is wanted', async () => {
    handler = (_req, res) => res.end();
    await watchToEnd(new KubeClient(kc), { metadataOnly: true }).done;
    expect(seen.at(-1)!.headers.accept).toBe('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1');
  });

  it('reports a refused watch as a KubeError with the status and the reason from its body', async () => {
    handler = (_req, res) => json(res, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    const err = await watchToEnd(new KubeClient(kc)).done;
    expect(err).toBeInstanceOf(KubeError);
    expect(err).toMatchObject({ status: 410, reason: 'Expired', message: 'too old resource version' });
  });

  it('ends with an error at a line that is not JSON, and delivers nothing after it', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
      res.write('<html>\n{"type":"ADDED","object":{"metadata":{"name":"b"}}}\n');
    };
    const watch = watchToEnd(new KubeClient(kc));
    const err = await watch.done;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/not JSON/);
    expect(watch.events).toHaveLength(1);
  });

  it('ends with an error when the connection is cut before the stream ends', async () => {
    handler = (req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n');
      setTimeout(() => req.socket.destroy(), 20);
    };
    const watch = watchToEnd(new KubeClient(kc));
    expect(await watch.done).toBeInstanceOf(Error);
    expect(watch.events).toHaveLength(1);
  });

  it('ends a silent stream after the inactivity timeout with an error named TimeoutError', async () => {
    handler = oneEventThenSilence;
    const client = new KubeClient(kc);
    client.setWatchInactivityTimeout(200);
    const started = performance.now();
    const watch = watchToEnd(client);
    expect(await watch.done).toMatchObject({ name: 'TimeoutError' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(watch.events).toHaveLength(1);
  });

  it('after stop(), closes the connection and calls onDone once with no error', async () => {
    handler = oneEventThenSilence;
    const client = new KubeClient(kc);
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
      void new KubeClient(kc).watch(RESOURCES.secrets, 'ns', {}, () => {
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

describe('KubeClient behind a proxy (kubeconfig proxy-url)', () => {
  let proxy: Server;
  const proxied: string[] = [];

  beforeAll(async () => {
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
