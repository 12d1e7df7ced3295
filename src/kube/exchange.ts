// One HTTP exchange: send a request, get the status, the headers and the body as a stream. With the
// API server, direct connections go over the pool's node agent (or, with --http2, are streams of its
// HTTP/2 transport) and, behind a proxy, over the undici dispatcher client-node made for it; a
// registry probe brings agents of its own.
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { constants, type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Http2Transport } from './http2-transport.ts';
import { connectHost, type Target } from './target.ts';
import { timeoutError } from './timeout-error.ts';

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
  /** The pool's transport or agent, else an undici dispatcher (a proxy), else a one-off connection. */
  via: Http2Transport | Agent | Dispatcher | undefined;
  /** Aborting destroys the request (and its connection) with the signal's reason. */
  signal?: AbortSignal;
}

/** An idle timeout of either path (undici names its own by code), as one error named TimeoutError. */
export function asIdleTimeout(err: unknown, ms: number): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' ? timeoutError(ms) : err;
}

export async function open(url: Target, opts: ExchangeOptions): Promise<Opened> {
  if (opts.via instanceof Http2Transport) {
    const connection = await opts.via.connection(url, opts.idleTimeoutMs);
    if (connection instanceof Agent) return openOverAgent(url, opts, connection);
    return openStream(url, opts, opts.via, connection);
  }
  if (opts.via && !(opts.via instanceof Agent)) return openThroughDispatcher(url, opts, opts.via);
  return openOverAgent(url, opts, opts.via);
}

function openOverAgent(url: Target, opts: ExchangeOptions, agent: Agent | undefined): Promise<Opened> {
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const headers = opts.body === undefined ? opts.headers : { ...opts.headers, 'Content-Length': String(Buffer.byteLength(opts.body)) };
  return new Promise<Opened>((resolve, reject) => {
    // `timeout` is the socket's idle timeout: it covers the connect, the wait for the headers and
    // every gap in the body, and node keeps it for this exchange only.
    const req = send({
      protocol: url.protocol,
      hostname: connectHost(url),
      port: url.port,
      path: url.pathname + url.search,
      method: opts.method,
      headers,
      agent: agent ?? false,
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

function openStream(url: Target, opts: ExchangeOptions, transport: Http2Transport, session: ClientHttp2Session): Promise<Opened> {
  const headers: OutgoingHttpHeaders = { ':method': opts.method, ':path': `${url.pathname}${url.search}` };
  for (const [name, value] of Object.entries(opts.headers)) headers[name.toLowerCase()] = value;
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise<Opened>((resolve, reject) => {
    const stream = session.request(headers, { endStream: opts.body === undefined, ...(opts.signal ? { signal: opts.signal } : {}) });
    transport.track(session, stream);
    // The stream's idle timeout: it covers the wait for the headers and every gap in the body.
    stream.setTimeout(opts.idleTimeoutMs, () => stream.destroy(timeoutError(opts.idleTimeoutMs)));
    // Kept after the headers too: an error then reaches whoever reads the body, and never goes unheard.
    stream.on('error', reject);
    let answered = false;
    stream.once('response', (responseHeaders) => {
      answered = true;
      resolve({ status: Number(responseHeaders[':status'] ?? 0), headers: responseHeaders as IncomingHttpHeaders, body: stream });
    });
    // A stream can close with no error and no answer (refused after a GOAWAY, its connection gone);
    // its timeout ends with it, so this is the only word of it.
    stream.once('close', () => {
      if (!answered) reject(new Error(`the request's stream closed before an answer (HTTP/2 code ${stream.rstCode})`));
    });
    if (opts.body !== undefined) stream.end(opts.body);
  });
}

async function openThroughDispatcher(url: Target, opts: ExchangeOptions, dispatcher: Dispatcher): Promise<Opened> {
  const { request } = await import('undici');
  const response = await request(url.href, {
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

/**
 * Whether a body that has ended was sent to its end. An HTTP/2 stream whose connection is lost ends
 * like a complete one, but with a reset code (CANCEL) where a complete one has none.
 */
export function endedCleanly(body: Readable): boolean {
  const code = (body as Partial<Pick<ClientHttp2Stream, 'rstCode'>>).rstCode;
  return code === undefined || code === constants.NGHTTP2_NO_ERROR;
}

/** The whole body as text; rejects with the stream's error. Events rather than an async iterator: one promise per body, not one per chunk. */
export function readText(body: Readable): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('end', () => {
      if (!endedCleanly(body)) return reject(new Error('the response was cut off'));
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    });
    body.on('error', reject);
    // Destroyed without an error (never by this module while reading): not a whole body.
    body.once('close', () => {
      if (!body.readableEnded) reject(new Error('the response ended before its body'));
    });
  });
}
