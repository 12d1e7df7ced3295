// A pure, forgiving parser for WWW-Authenticate (RFC 9110 §11.6.1): several challenges in one
// header or over several headers, case-insensitive schemes and parameter names, quoted values with
// commas and escapes, token68 credentials. Malformed parts are skipped, never thrown on.

export interface AuthChallenge {
  /** The auth scheme in lower case: 'basic', 'bearer', … */
  scheme: string;
  /** Parameters by lower-case name (the first of duplicates wins); values unquoted and unescaped. */
  params: Record<string, string>;
  /** A token68 in place of parameters (as in `Negotiate abc==`). */
  token68?: string;
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

export function parseWWWAuthenticate(value: string | readonly string[] | undefined): AuthChallenge[] {
  if (value === undefined) return [];
  if (typeof value !== 'string') return value.flatMap((v) => parseWWWAuthenticate(v));
  const s = value;
  const challenges: AuthChallenge[] = [];
  let i = 0;
  while (i < s.length) {
    i = skip(s, i, ' \t,');
    if (i >= s.length) break;
    const scheme = token(s, i);
    if (!scheme) {
      i = afterGarbage(s, i);
      continue;
    }
    i += scheme.length;
    const challenge: AuthChallenge = { scheme: scheme.toLowerCase(), params: Object.create(null) as Record<string, string> };
    challenges.push(challenge);
    const start = skip(s, i, ' \t');
    if (start === i) continue; // a scheme alone (then a comma, or the end)
    const t68 = TOKEN68.exec(s.slice(start));
    if (t68 && !param(s, start) && atListEnd(s, start + t68[0].length)) {
      challenge.token68 = t68[0];
      i = start + t68[0].length;
      continue;
    }
    i = start;
    for (;;) {
      const p = param(s, i);
      if (!p) break;
      if (!Object.hasOwn(challenge.params, p.name)) challenge.params[p.name] = p.value;
      // The next parameter of this challenge follows a comma (or, leniently, just whitespace); a
      // token not followed by '=' starts the next challenge.
      const next = skip(s, p.end, ' \t,');
      i = next;
      if (!param(s, next)) break;
    }
  }
  return challenges;
}

/** `name = value` at i (value a token or a quoted string); undefined if there is none there. */
function param(s: string, i: number): { name: string; value: string; end: number } | undefined {
  const name = token(s, i);
  if (!name) return undefined;
  let j = skip(s, i + name.length, ' \t');
  if (s[j] !== '=') return undefined;
  j = skip(s, j + 1, ' \t');
  if (s[j] === '"') {
    let value = '';
    let k = j + 1;
    while (k < s.length && s[k] !== '"') {
      if (s[k] === '\\' && k + 1 < s.length) k++;
      value += s[k];
      k++;
    }
    return { name: name.toLowerCase(), value, end: Math.min(k + 1, s.length) };
  }
  const value = token(s, j);
  if (!value) return undefined; // `name=` with nothing after it: a token68, not a parameter
  return { name: name.toLowerCase(), value, end: j + value.length };
}

function token(s: string, i: number): string {
  let j = i;
  while (j < s.length && TCHAR.test(s[j]!)) j++;
  return s.slice(i, j);
}

function skip(s: string, i: number, chars: string): number {
  let j = i;
  while (j < s.length && chars.includes(s[j]!)) j++;
  return j;
}

function atListEnd(s: string, i: number): boolean {
  const j = skip(s, i, ' \t');
  return j >= s.length || s[j] === ',';
}

/** The position after the next comma outside a quoted string (or the end). */
function afterGarbage(s: string, i: number): number {
  let j = i;
  let quoted = false;
  while (j < s.length) {
    const c = s[j]!;
    if (quoted && c === '\\') j++;
    else if (c === '"') quoted = !quoted;
    else if (c === ',' && !quoted) return j + 1;
    j++;
  }
  return j;
}
