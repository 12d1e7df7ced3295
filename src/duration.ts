// Go's time.ParseDuration, so duration flags read as they do in kubebuilder operators and the error
// messages are the ones Go users know. Follows the Go source step by step, including its overflow
// checks and its float64 arithmetic for fractions, so results are exact to the nanosecond.

const MAX = 1n << 63n; // uint64 bound Go checks against; Duration itself is int64

const NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

export class DurationError extends Error {}

/** Nanoseconds of a Go duration string ("1h30m", "1.5s", "300ms", "-2m", "0"); throws Go's error text. */
export function parseGoDuration(input: string): bigint {
  let s = input;
  const invalid = () => new DurationError(`time: invalid duration ${quote(input)}`);
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw invalid();
  let d = 0n;
  while (s !== '') {
    if (!(s[0] === '.' || isDigit(s[0]!))) throw invalid();
    const before = s.length;
    const int = leadingInt(s);
    if (!int) throw invalid();
    let v = int.value;
    s = int.rest;
    const pre = before !== s.length;
    let f = 0n;
    let scale = 1;
    let post = false;
    if (s !== '' && s[0] === '.') {
      s = s.slice(1);
      const start = s.length;
      ({ value: f, scale, rest: s } = leadingFraction(s));
      post = start !== s.length;
    }
    if (!pre && !post) throw invalid();
    let i = 0;
    while (i < s.length && s[i] !== '.' && !isDigit(s[i]!)) i++;
    const u = s.slice(0, i);
    if (i === 0) throw new DurationError(`time: missing unit in duration ${quote(input)}`);
    s = s.slice(i);
    const unit = NS[u];
    if (unit === undefined) throw new DurationError(`time: unknown unit ${quote(u)} in duration ${quote(input)}`);
    if (v > MAX / unit) throw invalid();
    v *= unit;
    if (f > 0n) {
      // float64, as in Go: nanosecond-accurate for fractions of the largest unit.
      v += BigInt(Math.trunc(Number(f) * (Number(unit) / scale)));
      if (v > MAX) throw invalid();
    }
    d += v;
    if (d > MAX) throw invalid();
  }
  if (neg) return -d;
  if (d > MAX - 1n) throw invalid();
  return d;
}

/** Milliseconds of a Go duration string, for timers. */
export function parseGoDurationMs(input: string): number {
  return Number(parseGoDuration(input)) / 1e6;
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9';
}

function leadingInt(s: string): { value: bigint; rest: string } | undefined {
  let x = 0n;
  let i = 0;
  for (; i < s.length && isDigit(s[i]!); i++) {
    if (x > MAX / 10n) return undefined;
    x = x * 10n + BigInt(s.charCodeAt(i) - 48);
    if (x > MAX) return undefined;
  }
  return { value: x, rest: s.slice(i) };
}

/** Digits after the point; past uint64 range further digits are consumed and ignored, as in Go. */
function leadingFraction(s: string): { value: bigint; scale: number; rest: string } {
  let x = 0n;
  let scale = 1;
  let overflow = false;
  let i = 0;
  for (; i < s.length && isDigit(s[i]!); i++) {
    if (overflow) continue;
    if (x > (MAX - 1n) / 10n) {
      overflow = true;
      continue;
    }
    const y = x * 10n + BigInt(s.charCodeAt(i) - 48);
    if (y > MAX) {
      overflow = true;
      continue;
    }
    x = y;
    scale *= 10;
  }
  return { value: x, scale, rest: s.slice(i) };
}

/** Go's time.quote: ASCII as is (with " and \ escaped), anything else as \x bytes of its UTF-8. */
function quote(s: string): string {
  let out = '"';
  for (const c of s) {
    const code = c.codePointAt(0)!;
    if (code >= 0x80 || code < 0x20) {
      for (const b of Buffer.from(c, 'utf8')) out += `\\x${b.toString(16).padStart(2, '0')}`;
    } else {
      out += c === '"' || c === '\\' ? `\\${c}` : c;
    }
  }
  return `${out}"`;
}
