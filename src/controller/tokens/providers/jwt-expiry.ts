// When a fetched token expires, read from the token or the cloud's answer, never assumed. A JWT's
// `exp` is read without verifying the signature: the issuer verifies its own tokens, we only need to
// know when to fetch a new one. The token itself is never logged or kept.

/** The `exp` claim of a compact JWS, or undefined when the value is not a JWT with a numeric `exp`. */
export function jwtExpiry(token: string): Date | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return undefined;
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null) return undefined;
  const exp = (claims as { exp?: unknown }).exp;
  return typeof exp === 'number' && Number.isFinite(exp) && exp > 0 ? new Date(exp * 1000) : undefined;
}

/** An expiry an SDK computed (epoch milliseconds), when it is a real moment after `now`. */
export function futureExpiry(epochMs: unknown, now: number): Date | undefined {
  return typeof epochMs === 'number' && Number.isFinite(epochMs) && epochMs > now ? new Date(epochMs) : undefined;
}
