// The metrics and health endpoints.
import { createServer, type IncomingMessage, type RequestListener } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type { ServingCertificate } from './serving-cert.ts';

export interface Reply {
  status: number;
  body: string;
  contentType?: string;
}

export type Route = () => Promise<Reply>;

/** Asked before a route answers: undefined lets the request through, a Reply refuses it. */
export type Guard = (req: IncomingMessage, path: string) => Promise<Reply | undefined>;

export interface ServeOptions {
  /** HTTPS with this key pair, swapped in place whenever it is renewed. */
  tls?: ServingCertificate;
  guard?: Guard;
}

/** Listens on "[host]:port" (":8080" means every interface); "0" disables the server. */
export async function serve(address: string, routes: Record<string, Route>, options: ServeOptions = {}): Promise<Server | undefined> {
  if (address === '0') return undefined;
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '') || undefined;
  const port = Number(address.slice(colon + 1));
  const { tls, guard } = options;
  const handler: RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const route = routes[path];
    // Unknown paths are refused before the guard, so they cost the API server no review.
    if (!route || req.method !== 'GET') {
      res.writeHead(404).end('not found\n');
      return;
    }
    (guard ? guard(req, path) : Promise.resolve(undefined)).then((refusal) => refusal ?? route()).then(
      (r) => res.writeHead(r.status, { 'Content-Type': r.contentType ?? 'text/plain; charset=utf-8' }).end(r.body),
      (err: unknown) => res.writeHead(500).end(`${String(err)}\n`),
    );
  };
  let server: Server;
  if (tls) {
    const https = createHttpsServer({ cert: tls.pair.cert, key: tls.pair.key }, handler);
    https.once('close', tls.watch((pair) => https.setSecureContext({ cert: pair.cert, key: pair.key })));
    server = https;
  } else {
    server = createServer(handler);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

export function boundPort(server: Server | undefined): number | undefined {
  return (server?.address() as AddressInfo | null)?.port;
}
