// Shared plumbing of the loopback cloud stand-ins: a tiny router over node:http / node:https that
// reads form or JSON bodies and answers JSON, and JWT helpers (RS256, node:crypto only).
import { createSign, createVerify, type KeyObject } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface StandinRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  /** Form fields (application/x-www-form-urlencoded) or the top-level fields of a JSON body. */
  form: Record<string, string>;
  json: unknown;
}

export interface StandinAnswer {
  status: number;
  body: unknown;
}

export type Handler = (req: StandinRequest) => StandinAnswer | Promise<StandinAnswer>;

export interface Listening {
  server: Server;
  /** `http(s)://127.0.0.1:PORT` */
  url: string;
  close(): Promise<void>;
}

/** Serves `handler` on a free loopback port, over TLS when `tls` (key and certificate PEM) is given. */
export async function listen(handler: Handler, tls?: { key: string; cert: string }): Promise<Listening> {
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    void answer(req, res, handler);
  };
  const server: Server = tls ? createHttpsServer({ key: tls.key, cert: tls.cert }, onRequest) : createHttpServer(onRequest);
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

async function answer(req: IncomingMessage, res: ServerResponse, handler: Handler): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  let json: unknown;
  let form: Record<string, string> = {};
  if (type.includes('application/json') && text) {
    try {
      json = JSON.parse(text);
      if (typeof json === 'object' && json !== null) form = Object.fromEntries(Object.entries(json).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
    } catch {
      json = undefined;
    }
  } else if (text) {
    form = Object.fromEntries(new URLSearchParams(text));
  }
  const url = new URL(req.url ?? '/', 'http://standin');
  let result: StandinAnswer;
  try {
    result = await handler({ method: req.method ?? 'GET', path: url.pathname, headers: req.headers, form, json });
  } catch (err) {
    result = { status: 500, body: { error: 'server_error', error_description: String(err) } };
  }
  res.writeHead(result.status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(result.body));
}

export function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A compact RS256 JWS of `claims`, signed with `key`. */
export function signJwt(claims: Record<string, unknown>, key: KeyObject, kid?: string): string {
  const input = `${b64url({ alg: 'RS256', typ: 'JWT', ...(kid ? { kid } : {}) })}.${b64url(claims)}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key, 'base64url')}`;
}

export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/** Splits a compact JWS without verifying it; undefined when it is not one. */
export function decodeJwt(token: string): DecodedJwt | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const [header, claims, signature] = parts as [string, string, string];
    return {
      header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>,
      claims: JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>,
      signingInput: `${header}.${claims}`,
      signature: Buffer.from(signature, 'base64url'),
    };
  } catch {
    return undefined;
  }
}

export function verifyRs256(jwt: DecodedJwt, key: KeyObject): boolean {
  return jwt.header.alg === 'RS256' && createVerify('RSA-SHA256').update(jwt.signingInput).verify(key, jwt.signature);
}

/** Whether a JWT's `aud` (string or list) names `audience`. */
export function hasAudience(claims: Record<string, unknown>, audience: string): boolean {
  return Array.isArray(claims.aud) ? claims.aud.includes(audience) : claims.aud === audience;
}

/** Counts of calls by endpoint name. */
export class CallCounter {
  private readonly counts = new Map<string, number>();
  add(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  get(name: string): number {
    return this.counts.get(name) ?? 0;
  }
}

/**
 * Checks that a token is a real ServiceAccount token of the control plane for `audience`
 * (TokenReview), and returns its user name (system:serviceaccount:<ns>:<name>) or undefined.
 */
export type SubjectVerifier = (token: string, audience: string) => Promise<string | undefined>;
