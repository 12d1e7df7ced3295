// Sorts the errors of a failed HTTP request (undici, node:net, node:tls, OpenSSL) into the results
// of a registry probe. Pure: it looks at codes only, and describes them in a few words of its own.

export type NetworkResult = 'Unreachable' | 'TLSError' | 'Unexpected';

export interface ClassifiedError {
  result: NetworkResult;
  /** A few words, such as 'connection refused (ECONNREFUSED)'; never the content of a request. */
  detail: string;
}

const UNREACHABLE: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_NONAME: 'host name not found',
  EAI_NODATA: 'host name not found',
  EAI_AGAIN: 'DNS lookup failed (temporary)',
  EAI_FAIL: 'DNS lookup failed',
  ECONNRESET: 'connection reset',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed while sending',
  EHOSTUNREACH: 'host unreachable',
  EHOSTDOWN: 'host down',
  ENETUNREACH: 'network unreachable',
  ENETDOWN: 'network down',
  EADDRNOTAVAIL: 'address not available',
  ETIMEDOUT: 'connect timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for the response headers',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the response body',
  UND_ERR_SOCKET: 'connection closed by the other side',
  ERR_TLS_HANDSHAKE_TIMEOUT: 'TLS handshake timed out',
};

const UNKNOWN_AUTHORITY = 'certificate signed by an unknown authority';
const TLS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNKNOWN_AUTHORITY,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNKNOWN_AUTHORITY,
  UNABLE_TO_GET_ISSUER_CERT: UNKNOWN_AUTHORITY,
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_REVOKED: 'certificate revoked',
  CERT_SIGNATURE_FAILURE: 'certificate signature invalid',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  INVALID_CA: 'invalid CA certificate in the chain',
  INVALID_PURPOSE: 'certificate not valid for a TLS server',
  PATH_LENGTH_EXCEEDED: 'certificate chain exceeds a path length constraint',
  ERROR_IN_CERT_NOT_BEFORE_FIELD: 'certificate has an invalid validity period',
  ERROR_IN_CERT_NOT_AFTER_FIELD: 'certificate has an invalid validity period',
  HOSTNAME_MISMATCH: 'certificate does not match the host name',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not match the host name',
  EPROTO: 'TLS handshake failed',
};

/** Classifies an error from a request, looking through `cause` chains and AggregateErrors. */
export function classifyNetworkError(err: unknown): ClassifiedError {
  const all = flatten(err);
  for (const e of all) {
    const code = codeOf(e);
    if (code && isTLSCode(code, e)) return { result: 'TLSError', detail: `${TLS[code] ?? tlsReason(e)} (${code})` };
  }
  for (const e of all) {
    const code = codeOf(e);
    if (code && Object.hasOwn(UNREACHABLE, code)) return { result: 'Unreachable', detail: `${UNREACHABLE[code]} (${code})` };
  }
  const first = all[0];
  const code = first === undefined ? undefined : codeOf(first);
  const name = first instanceof Error ? first.name : typeof first;
  return { result: 'Unexpected', detail: code ? `${name} (${code})` : name };
}

function isTLSCode(code: string, e: unknown): boolean {
  if (Object.hasOwn(TLS, code)) return true;
  if (code === 'ERR_TLS_HANDSHAKE_TIMEOUT') return false;
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_')) return true;
  return typeof e === 'object' && e !== null && (e as { library?: unknown }).library === 'SSL routines';
}

/** OpenSSL's own short reason ('wrong version number'); never the full multi-part message. */
function tlsReason(e: unknown): string {
  const reason = typeof e === 'object' && e !== null ? (e as { reason?: unknown }).reason : undefined;
  return typeof reason === 'string' && reason && reason.length <= 120 ? `TLS handshake failed: ${reason}` : 'TLS handshake failed';
}

function codeOf(e: unknown): string | undefined {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code ? code : undefined;
}

/** The error, its causes and the members of any AggregateError, depth first, without cycles. */
function flatten(err: unknown): unknown[] {
  const out: unknown[] = [];
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number) => {
    if (e === undefined || e === null || seen.has(e) || depth > 8) return;
    seen.add(e);
    out.push(e);
    if (e instanceof AggregateError) for (const member of e.errors) visit(member, depth + 1);
    if (typeof e === 'object') visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(err, 0);
  return out;
}
