// One HTTP exchange: send a request, get the status, the headers and the body as a stream. With the
// API server, direct connections go over the pool's node agent and, behind a proxy, over the undici
// dispatcher client-node made for it; a registry probe brings agents of its own.
import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';

export interface Opened {
  status: number;
  headers: IncomingHttpHeaders;
  body: Readable;
}

export interface ExchangeOptions {
  method: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * The longest silence: while connecting, while waiting for the headers, and between any two
   * chunks of the body. It then fails with an error named TimeoutError.
   */
  idleTimeoutMs: number;
  /** The pool's agent, else an undici dispatcher (a proxy), else a one-off connection. */
  via: Agent | Dispatcher | undefined;
  /** Aborting destroys the request (and its connection) with the signal's reason. */
  signal?: AbortSignal;
}

export function timeoutError(ms: number): Error {
  return Object.assign(new Error(`no byte from the server for ${ms} ms`), { name: 'TimeoutError' });
}

/** An idle timeout of either path (undici names its own by code), as one error named TimeoutError. */
export function asIdleTimeout(err: unknown, ms: number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? timeoutError(ms) : err;
}

export async function open(url: URL, opts: ExchangeOptions): Promise<Opened> {
  if (opts.via && !isNodeAgent(opts.via)) return openThroughDispatcher(url, opts, opts.via);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = opts.body === undefined ? opts.headers : { ...opts.headers, 'Content-Length': String(Buffer.byteLength(opts.body)) };
  return new Promise<Opened>((resolve, reject) => {
    // `timeout` is the socket's idle timeout: it covers the connect, the wait for the headers and
    // every gap in the body, and node keeps it for this exchange only.
    const req = send(url, {
      method: opts.method,
      headers,
      agent: (opts.via as Agent | undefined) ?? false,
      timeout: opts.idleTimeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    req.once('timeout', () => req.destroy(timeoutError(opts.idleTimeoutMs)));
    req.on('error', reject);
    req.once('response', (res) => {
      // An error after the headers (a reset, the idle timeout) ends the body stream with it.
      req.on('error', (err) => res.destroy(err));
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res });
    });
    req.end(opts.body);
  });
}

async function openThroughDispatcher(url: URL, opts: ExchangeOptions, dispatcher: Dispatcher): Promise<Opened> {
  const { request } = await import('undici');
  const response = await request(url, {
    method: opts.method as Dispatcher.HttpMethod,
    headers: opts.headers,
    body: opts.body,
    dispatcher,
    ...(opts.signal ? { signal: opts.signal } : {}),
    headersTimeout: opts.idleTimeoutMs,
    bodyTimeout: opts.idleTimeoutMs,
  });
  return { status: response.statusCode, headers: response.headers as IncomingHttpHeaders, body: response.body };
}

const isNodeAgent = (via: Agent | Dispatcher): via is Agent => 'freeSockets' in via;

/** The whole body as text; rejects with the stream's error. Events rather than an async iterator: one promise per body, not one per chunk. */
export function readText(body: Readable): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    body.on('error', reject);
    // Destroyed without an error (never by this module while reading): not a whole body.
    body.once('close', () => {
      if (!body.readableEnded) reject(new Error('the response ended before its body'));
    });
  });
}
