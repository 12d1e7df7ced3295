// The HTTPS endpoint of the pod admission webhook: reads admission.k8s.io/v1 AdmissionReviews and
// answers each with allowed: true and, when the handler has one, a JSON patch. It never refuses a
// pod: a handler that fails or is slow only means no patch. The serving certificate comes from a
// CertificateSource and is swapped in place (setSecureContext) whenever it changes. Request bodies
// (whole pods, with their environment) are never logged nor echoed.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Server } from 'node:net';
import type { JsonPatchOp } from '../controller/injection.ts';

export type { JsonPatchOp } from '../controller/injection.ts';

export interface CertificateSource {
  /** The PEM pair to serve now; undefined while there is none yet. */
  current(): { cert: string; key: string } | undefined;
  /** Calls `listener` whenever current() may have changed, until the returned function is called. */
  onChange(listener: () => void): () => void;
}

/** The fields of an AdmissionRequest a handler usually reads; the whole request is passed. */
export interface AdmissionRequestLike {
  uid: string;
  kind?: { kind?: string };
  operation?: string;
  namespace?: string;
  dryRun?: boolean;
  object?: unknown;
}

/** `reason` says what was decided (for logs and metrics); it is not sent to the API server. */
export type AdmissionHandler = (request: AdmissionRequestLike) => Promise<{ patch?: JsonPatchOp[]; reason: string }>;

export interface WebhookStats {
  /** AdmissionReviews answered (each with allowed: true). */
  served: number;
  /** Date.now() of the last answer. */
  lastServedAt?: number;
}

/** What became of one AdmissionReview, for logs and metrics. Never carries the request's object. */
export interface WebhookOutcome {
  uid: string;
  /** The handler's reason, or HandlerError / HandlerTimeout. */
  reason: string;
  /** Operations sent in the patch; 0 when none. */
  patchOps: number;
  durationMs: number;
  /** What the handler threw, when it threw. */
  error?: unknown;
}

export interface WebhookOptions {
  /** Default /mutate-pods. */
  path?: string;
  /** Larger bodies are refused with 413. Default 3 MiB, the API server's own limit on a request. */
  maxBodyBytes?: number;
  /** A handler still running after this long is left behind: the pod is allowed without a patch. Default 2500. */
  handlerTimeoutMs?: number;
  /** How long to wait for certificates.current() to give a pair before failing. Default 60 s. */
  certificateWaitMs?: number;
  /** Called after each AdmissionReview is answered. */
  onServed?: (outcome: WebhookOutcome) => void;
  /** Called when a new pair from the source could not be used; the previous one is still served. */
  onCertificateError?: (err: unknown) => void;
}

export const DEFAULT_WEBHOOK_PATH = '/mutate-pods';
export const DEFAULT_MAX_BODY_BYTES = 3 * 1024 * 1024;
export const DEFAULT_HANDLER_TIMEOUT_MS = 2500;
export const DEFAULT_CERTIFICATE_WAIT_MS = 60_000;
export const HANDLER_ERROR = 'HandlerError';
export const HANDLER_TIMEOUT = 'HandlerTimeout';

const ADMISSION_API_VERSION = 'admission.k8s.io/v1';
const ADMISSION_REVIEW = 'AdmissionReview';
/**
 * Longer than the idle timeout of the API server's connections (Go's transport: 90 s), so that
 * the client, not the server, closes an idle connection: a server that closes first races the
 * next request on it, which then fails with EOF, and a POST is not retried.
 */
const KEEP_ALIVE_MS = 120_000;
/** Slow clients are cut off long before the API server itself gives up on a webhook (at most 30 s). */
const REQUEST_TIMEOUT_MS = 30_000;
const HEADERS_TIMEOUT_MS = 10_000;
const CERTIFICATE_POLL_MS = 500;

class BadRequest extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Listens on "[host]:port" (":9443" means every interface, port 0 any free one) once the source
 * has a certificate, and serves POST `path`.
 */
export async function serveWebhook(
  address: string,
  certificates: CertificateSource,
  handler: AdmissionHandler,
  options: WebhookOptions = {},
): Promise<{ server: Server; stats: WebhookStats; close(): Promise<void> }> {
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new Error(`webhook address "${address}" is not [host]:port`);
  const host = address.slice(0, colon).replace(/^\[|\]$/g, '') || undefined;
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`webhook address "${address}" has no valid port`);
  const path = options.path ?? DEFAULT_WEBHOOK_PATH;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? DEFAULT_HANDLER_TIMEOUT_MS;
  const stats: WebhookStats = { served: 0 };
  let closing = false;

  // Subscribed before the first pair is read, so that a change in between is not missed.
  let server: HttpsServer | undefined;
  let served: { cert: string; key: string } | undefined;
  const swap = () => {
    const pair = certificates.current();
    if (!server || !pair || (served && pair.cert === served.cert && pair.key === served.key)) return;
    try {
      server.setSecureContext({ cert: pair.cert, key: pair.key });
      served = pair;
    } catch (err) {
      options.onCertificateError?.(err);
    }
  };
  const unsubscribe = certificates.onChange(swap);

  try {
    const pair = await firstPair(certificates, options.certificateWaitMs ?? DEFAULT_CERTIFICATE_WAIT_MS);
    const https = createHttpsServer(
      {
        cert: pair.cert,
        key: pair.key,
        keepAliveTimeout: KEEP_ALIVE_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        headersTimeout: HEADERS_TIMEOUT_MS,
      },
      // Nothing a request brings may escape as an unhandled rejection: at worst its connection goes.
      (req, res) => void respond(req, res).catch(() => res.destroy()),
    );
    server = https;
    served = pair;
    await new Promise<void>((resolve, reject) => {
      https.once('error', reject);
      https.listen(port, host, () => {
        https.off('error', reject);
        resolve();
      });
    });
    // A pair that changed while the server was being made.
    swap();
  } catch (err) {
    unsubscribe();
    server?.close(() => undefined);
    throw err;
  }
  const https = server;

  async function respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // Once closing, each answer ends its connection, so that close() does not wait on keep-alive.
    const ending = (): Record<string, string> => (closing ? { Connection: 'close' } : {});
    const url = (req.url ?? '/').split('?')[0]!;
    if (url !== path) return plain(res, 404, 'not found', ending());
    if (req.method !== 'POST') return plain(res, 405, 'method not allowed', { Allow: 'POST', ...ending() });
    let request: AdmissionRequestLike;
    try {
      request = parseReview(await readBody(req, maxBodyBytes));
    } catch (err) {
      if (err instanceof BadRequest) {
        // The rest of an oversized body is not read: the connection goes with the answer.
        return plain(res, err.status, err.message, err.status === 413 ? { Connection: 'close' } : ending());
      }
      // The client went away while sending.
      res.destroy();
      return;
    }

    const result = await runHandler(handler, request, handlerTimeoutMs);
    const patch = result.patch ?? [];
    const body = {
      apiVersion: ADMISSION_API_VERSION,
      kind: ADMISSION_REVIEW,
      response: {
        uid: request.uid,
        allowed: true,
        ...(patch.length ? { patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') } : {}),
      },
    };
    const text = JSON.stringify(body);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...ending() }).end(text);
    stats.served++;
    stats.lastServedAt = Date.now();
    try {
      options.onServed?.({
        uid: request.uid,
        reason: result.reason,
        patchOps: patch.length,
        durationMs: performance.now() - started,
        ...('error' in result ? { error: result.error } : {}),
      });
    } catch {
      // A failing observer changes nothing for the pod, which has its answer already.
    }
  }

  return {
    server: https,
    stats,
    close: () =>
      new Promise<void>((resolve, reject) => {
        unsubscribe();
        closing = true;
        // Requests in flight are answered (a handler is bounded by its timeout); idle keep-alive
        // connections are closed now, and whatever is left after that is cut.
        const cut = setTimeout(() => https.closeAllConnections(), handlerTimeoutMs + 1000);
        cut.unref();
        https.close((err) => {
          clearTimeout(cut);
          if (err) reject(err);
          else resolve();
        });
        https.closeIdleConnections();
      }),
  };
}

async function firstPair(certificates: CertificateSource, waitMs: number): Promise<{ cert: string; key: string }> {
  const now = certificates.current();
  if (now) return now;
  return new Promise((resolve, reject) => {
    const check = () => {
      const pair = certificates.current();
      if (!pair) return;
      done();
      resolve(pair);
    };
    // onChange is the way in; the poll only covers a source that reports its first pair late.
    const unsubscribe = certificates.onChange(check);
    const poll = setInterval(check, CERTIFICATE_POLL_MS);
    const timer = setTimeout(() => {
      done();
      reject(new Error(`webhook: no serving certificate after ${waitMs} ms`));
    }, waitMs);
    function done() {
      unsubscribe();
      clearInterval(poll);
      clearTimeout(timer);
    }
  });
}

/** `error` is set (possibly to undefined) only when the handler threw. */
type HandlerResult = { patch?: JsonPatchOp[]; reason: string; error?: unknown };

/** The handler's answer, or no patch when it throws, answers nonsense or takes longer than `timeoutMs`. */
async function runHandler(handler: AdmissionHandler, request: AdmissionRequestLike, timeoutMs: number): Promise<HandlerResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HandlerResult>((resolve) => {
    timer = setTimeout(() => resolve({ reason: HANDLER_TIMEOUT }), timeoutMs);
  });
  const answer = (async (): Promise<HandlerResult> => {
    try {
      const result = await handler(request);
      if (result.patch !== undefined && !Array.isArray(result.patch)) throw new TypeError('the handler returned a patch that is not an array');
      return { reason: String(result.reason), ...(result.patch ? { patch: result.patch } : {}) };
    } catch (error) {
      return { reason: HANDLER_ERROR, error };
    }
  })();
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.reject(new BadRequest(413, 'request body too large'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        req.off('data', onData);
        req.pause();
        reject(new BadRequest(413, 'request body too large'));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('request aborted'));
    });
  });
}

/** The request of an admission.k8s.io/v1 AdmissionReview; anything else is a 400. */
function parseReview(body: Buffer): AdmissionRequestLike {
  let review: unknown;
  try {
    review = JSON.parse(body.toString('utf8'));
  } catch {
    throw new BadRequest(400, 'body is not JSON');
  }
  if (!isRecord(review) || review.apiVersion !== ADMISSION_API_VERSION || review.kind !== ADMISSION_REVIEW) {
    throw new BadRequest(400, `body is not an ${ADMISSION_API_VERSION} ${ADMISSION_REVIEW}`);
  }
  const request = review.request;
  if (!isRecord(request) || typeof request.uid !== 'string' || request.uid === '') {
    throw new BadRequest(400, `${ADMISSION_REVIEW} has no request with a uid`);
  }
  return request as unknown as AdmissionRequestLike;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function plain(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers }).end(`${message}\n`);
}
