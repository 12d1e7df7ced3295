// The short code a failed token fetch reports: the cloud's own error code, read from the error an
// SDK (or our own request) threw. Only codes are read, never a description, body, token or key, so
// the result is safe for status, events, logs and metric labels.
import { TokenFetchError } from '../provider.ts';

const AADSTS = /\bAADSTS(\d{4,})\b/;
const OAUTH_CODE = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

type Bag = Record<string, unknown>;

function isBag(value: unknown): value is Bag {
  return typeof value === 'object' && value !== null;
}

/** A token-safe code string, or undefined when the value is not one. */
function code(value: unknown): string | undefined {
  return typeof value === 'string' && OAUTH_CODE.test(value) ? value : undefined;
}

/**
 * Our own failure (a Secret or ServiceAccount token the fetch could not read) when an SDK threw it
 * on, possibly wrapped in errors of its own (@azure/identity wraps what getAssertion throws).
 */
export function ownFailure(err: unknown): TokenFetchError | undefined {
  for (let e: unknown = err, depth = 0; isBag(e) && depth < 5; e = e.cause, depth++) {
    if (e instanceof TokenFetchError) return e;
  }
  return undefined;
}

/** `error` of an OAuth 2.0 error answer (RFC 6749 §5.2), or `error.status` of a Google API error answer. */
export function oauthErrorCode(body: unknown): string | undefined {
  if (!isBag(body)) return undefined;
  if (typeof body.error === 'string') return code(body.error);
  if (isBag(body.error)) return code(body.error.status) ?? (typeof body.error.code === 'number' ? `HTTP${body.error.code}` : undefined);
  // The Docker registry token protocol's answer: {"errors": [{"code": "UNAUTHORIZED", …}]}.
  if (Array.isArray(body.errors) && isBag(body.errors[0])) return code(body.errors[0].code);
  return undefined;
}

/** A Microsoft Entra error's AADSTS code from its `error_codes` list or from the text it starts its description with. */
export function aadstsCode(value: unknown): string | undefined {
  if (isBag(value)) {
    const codes = value.error_codes ?? value.errorCodes;
    if (Array.isArray(codes) && (typeof codes[0] === 'number' || typeof codes[0] === 'string') && /^\d+$/.test(String(codes[0]))) {
      return `AADSTS${codes[0]}`;
    }
    return undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = AADSTS.exec(value);
  return match ? `AADSTS${match[1]}` : undefined;
}

/** Network-level failures (no answer from the endpoint) that Node reports with a code. */
function networkCode(err: Bag): string | undefined {
  const value = err.code ?? (isBag(err.cause) ? err.cause.code : undefined);
  return typeof value === 'string' && /^E[A-Z_]+$/.test(value) ? value : undefined;
}

/** A request that got no answer: the network error's code (ECONNREFUSED, …), Timeout, or Unreachable. */
export function networkErrorCode(err: unknown): string {
  if (isBag(err) && err.name === 'TimeoutError') return 'Timeout';
  return (isBag(err) ? networkCode(err) : undefined) ?? 'Unreachable';
}

function httpStatus(err: Bag): number | undefined {
  const response = isBag(err.response) ? err.response : undefined;
  const status = response?.status ?? err.statusCode ?? err.status;
  return typeof status === 'number' && status >= 100 && status < 600 ? status : undefined;
}

/** Errors thrown by google-auth-library (gaxios errors with the answer, or OAuthErrors that copied its fields). */
export function googleErrorCode(err: unknown): string {
  if (!isBag(err)) return 'Unknown';
  if (err.name === 'AbortError') return 'Aborted';
  const response = isBag(err.response) ? err.response : undefined;
  const fromBody = oauthErrorCode(response?.data);
  if (fromBody) return fromBody;
  const status = httpStatus(err);
  if (status !== undefined) return `HTTP${status}`;
  return networkCode(err) ?? 'Unreachable';
}

/**
 * Errors thrown by @azure/identity: an AuthenticationError (errorResponse with error_codes), or
 * an error whose cause is MSAL's ServerError (errorNo, and the AADSTS code leading its message).
 */
export function azureErrorCode(err: unknown): string {
  for (let e: unknown = err, depth = 0; isBag(e) && depth < 5; e = e.cause, depth++) {
    if (e.name === 'AbortError') return 'Aborted';
    const fromList = aadstsCode(e.errorResponse) ?? aadstsCode(e);
    if (fromList) return fromList;
    if (typeof e.errorNo === 'string' && /^\d+$/.test(e.errorNo)) return `AADSTS${e.errorNo}`;
    const fromText = aadstsCode(isBag(e.errorResponse) ? e.errorResponse.errorDescription : undefined) ?? aadstsCode(e.errorMessage) ?? aadstsCode(e.message);
    if (fromText) return fromText;
  }
  for (let e: unknown = err, depth = 0; isBag(e) && depth < 5; e = e.cause, depth++) {
    const oauth = code(isBag(e.errorResponse) ? e.errorResponse.error : undefined) ?? (e.name === 'ServerError' ? code(e.errorCode) : undefined);
    if (oauth) return oauth;
    const status = httpStatus(e);
    if (status !== undefined && status >= 400) return `HTTP${status}`;
    const network = networkCode(e);
    if (network) return network;
  }
  return 'Unknown';
}
