// An HTTPS reverse proxy in front of kube-apiserver that can answer every new request with
// 429 Too Many Requests and a Retry-After, as an overloaded API server (or API Priority and
// Fairness) does. It serves with the API server's own certificate, so a kubeconfig pointed at it
// verifies as usual, forwards with the admin client certificate, and counts what it sees.
import { readFileSync } from 'node:fs';
import { Agent, createServer, request, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';

export interface SeenRequest {
  at: number;
  method: string;
  path: string;
  throttled: boolean;
}

export class ThrottleProxy {
  readonly seen: SeenRequest[] = [];
  port = 0;
  private storming = false;
  private retryAfterSeconds = 1;
  private readonly server: Server;
  private readonly agent: Agent;
  private readonly upstream: URL;

  private constructor(upstream: string, pkiDir: string, kubeconfigPath: string) {
    this.upstream = new URL(upstream);
    const kc = JSON.parse(readFileSync(kubeconfigPath, 'utf8'));
    const user = kc.users[0].user;
    this.agent = new Agent({
      keepAlive: true,
      ca: readFileSync(join(pkiDir, 'ca.crt')),
      cert: Buffer.from(user['client-certificate-data'], 'base64'),
      key: Buffer.from(user['client-key-data'], 'base64'),
    });
    this.server = createServer({ cert: readFileSync(join(pkiDir, 'server.crt')), key: readFileSync(join(pkiDir, 'server.key')) }, (req, res) => this.handle(req, res));
  }

  static async start(upstream: string, pkiDir: string, kubeconfigPath: string): Promise<ThrottleProxy> {
    const p = new ThrottleProxy(upstream, pkiDir, kubeconfigPath);
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', () => r()));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** From now on every new request is answered 429 with this Retry-After; streams already open go on. */
  startStorm(retryAfterSeconds = 1): void {
    this.retryAfterSeconds = retryAfterSeconds;
    this.storming = true;
  }

  stopStorm(): void {
    this.storming = false;
  }

  /** Requests that arrived in [from, to) (ms since the epoch). */
  between(from: number, to: number): SeenRequest[] {
    return this.seen.filter((r) => r.at >= from && r.at < to);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const throttled = this.storming;
    this.seen.push({ at: Date.now(), method: req.method ?? '', path: req.url ?? '', throttled });
    if (throttled) {
      req.resume();
      const body = JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Too many requests, please try again later.',
        reason: 'TooManyRequests',
        details: { retryAfterSeconds: this.retryAfterSeconds },
        code: 429,
      });
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': String(this.retryAfterSeconds), 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const headers = { ...req.headers, host: this.upstream.host };
    let finished = false;
    const up = request({ host: this.upstream.hostname, port: this.upstream.port, method: req.method, path: req.url, headers, agent: this.agent }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.on('end', () => (finished = true));
      upRes.pipe(res);
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.destroy();
    });
    // The client went away mid-response (a watch it gave up on): stop the upstream stream too.
    res.on('close', () => {
      if (!finished) up.destroy();
    });
    req.pipe(up);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
    this.agent.destroy();
  }
}
