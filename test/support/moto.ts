// moto (the AWS stand-in, test/tools/install-moto.sh) on loopback, behind a small proxy of ours that
// counts the calls by AWS operation and can make the cloud misbehave. moto speaks the real ECR and
// STS wire protocols, so the operator's AWS SDK signs and sends real requests; what moto does not do
// like AWS, the proxy does: moto's GetAuthorizationToken always answers the same token with an
// expiry in 2015, so the proxy sets a realistic expiry and, when asked, a new token per call.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface MotoProxyBehaviour {
  /** Seconds from now GetAuthorizationToken's tokens expire (AWS: 12 h). */
  expiresInSeconds: number;
  /** A different token on every GetAuthorizationToken, as AWS hands out. */
  rotate: boolean;
  /** Every ECR call fails with this error type (an AWS error code) and status. */
  failWith?: { type: string; status: number } | undefined;
}

export class Moto {
  private readonly child: ChildProcess;
  private readonly proxy: Server;
  readonly motoUrl: string;
  /** What the operator is pointed at: ECR and STS through the counting proxy. */
  readonly url: string;
  readonly behaviour: MotoProxyBehaviour = { expiresInSeconds: 12 * 3600, rotate: false };
  private readonly calls = new Map<string, number>();
  private issued = 0;

  private constructor(child: ChildProcess, motoUrl: string, proxy: Server, url: string) {
    this.child = child;
    this.motoUrl = motoUrl;
    this.proxy = proxy;
    this.url = url;
  }

  static async start(): Promise<Moto> {
    const binary = execFileSync('bash', ['test/tools/install-moto.sh'], { encoding: 'utf8' }).trim().split('\n').pop()!;
    const port = await freePort();
    const child = spawn(binary, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const motoUrl = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const up = await fetch(`${motoUrl}/moto-api/`).then((r) => r.ok, () => false);
      if (up) break;
      if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`moto_server did not start within 30s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const holder: { moto?: Moto } = {};
    const proxy = createServer((req, res) => void holder.moto!.handle(req, res));
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    holder.moto = new Moto(child, motoUrl, proxy, `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
    return holder.moto;
  }

  /**
   * Calls of an operation (GetAuthorizationToken, AssumeRoleWithWebIdentity, …) that reached the
   * proxy; with `accessKeyId`, only those signed with that key (one test's credentials).
   */
  count(operation: string, accessKeyId?: string): number {
    return this.calls.get(accessKeyId ? `${operation} ${accessKeyId}` : operation) ?? 0;
  }

  /** Creates an ECR repository on moto (its account 123456789012), as a test's fixture. */
  async createRepository(name: string, region: string): Promise<string> {
    const res = await fetch(this.motoUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-amz-json-1.1',
        'X-Amz-Target': 'AmazonEC2ContainerRegistry_V20150921.CreateRepository',
        // moto routes by the signature's scope; it checks no signature.
        Authorization: `AWS4-HMAC-SHA256 Credential=test/20250101/${region}/ecr/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: JSON.stringify({ repositoryName: name }),
    });
    if (!res.ok) throw new Error(`CreateRepository: HTTP ${res.status}`);
    const out = (await res.json()) as { repository: { repositoryUri: string } };
    return out.repository.repositoryUri;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.proxy.close(() => resolve()));
    this.proxy.closeAllConnections();
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      await exited;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' ? target.slice(target.indexOf('.') + 1) : new URLSearchParams(body.toString()).get('Action') ?? 'unknown';
    const signer = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1];
    for (const k of [operation, ...(signer ? [`${operation} ${signer}`] : [])]) this.calls.set(k, (this.calls.get(k) ?? 0) + 1);
    const failure = this.behaviour.failWith;
    if (failure && typeof target === 'string' && target.startsWith('AmazonEC2ContainerRegistry')) {
      res.writeHead(failure.status, { 'Content-Type': 'application/x-amz-json-1.1', 'x-amzn-ErrorType': failure.type });
      res.end(JSON.stringify({ __type: failure.type, message: 'refused by the test proxy' }));
      return;
    }
    const upstream = await forward(this.motoUrl, req, body);
    let answer = upstream.body;
    if (operation === 'GetAuthorizationToken' && upstream.status === 200) answer = this.rewriteToken(answer);
    res.writeHead(upstream.status, { 'Content-Type': upstream.contentType });
    res.end(answer);
  }

  private rewriteToken(body: Buffer): Buffer {
    const out = JSON.parse(body.toString()) as { authorizationData: Array<{ authorizationToken: string; expiresAt: number }> };
    this.issued++;
    for (const data of out.authorizationData) {
      data.expiresAt = Date.now() / 1000 + this.behaviour.expiresInSeconds;
      if (this.behaviour.rotate) {
        const token = Buffer.from(data.authorizationToken, 'base64').toString();
        data.authorizationToken = Buffer.from(`${token}-${this.issued}`).toString('base64');
      }
    }
    return Buffer.from(JSON.stringify(out));
  }
}

function forward(base: string, req: IncomingMessage, body: Buffer): Promise<{ status: number; contentType: string; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = { ...req.headers };
    delete headers.host;
    const out = request(`${base}${req.url ?? '/'}`, { method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, contentType: String(res.headers['content-type'] ?? 'application/json'), body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    out.on('error', reject);
    out.end(body);
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}
