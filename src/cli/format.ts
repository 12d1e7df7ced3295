// Output shapes shared by the commands: kubectl-style tables and ages, and YAML for -o yaml
// (the package's runtime dependencies have no YAML writer, and plain JSON data needs little).

/** Columns separated by three spaces, each as wide as its widest cell, as kubectl prints them. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** The age kubectl shows: 45s, 3m20s, 17m, 5h12m, 30h, 3d4h, 12d. */
export function age(since: string | undefined, now: Date): string {
  if (!since) return '<none>';
  const t = Date.parse(since);
  if (Number.isNaN(t)) return '<invalid>';
  const s = Math.max(0, Math.floor((now.getTime() - t) / 1000));
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (h < 3) return `${m}m`;
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  if (d < 8) return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
  return `${d}d`;
}

const PLAIN = /^[A-Za-z_/][-A-Za-z0-9_./:]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  const s = String(value);
  // JSON's double-quoted strings are YAML's too; quote whenever a plain scalar could read differently.
  return PLAIN.test(s) && !RESERVED.test(s) && !s.includes(': ') ? s : JSON.stringify(s);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** YAML for JSON data (objects, arrays, strings, numbers, booleans, null). */
export function toYaml(value: unknown, indent = ''): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${indent}[]\n`;
    return value
      .map((item) => {
        if ((isObject(item) && Object.keys(item).length) || (Array.isArray(item) && item.length)) {
          const nested = toYaml(item, `${indent}  `);
          return `${indent}- ${nested.slice(indent.length + 2)}`;
        }
        return `${indent}- ${inline(item)}\n`;
      })
      .join('');
  }
  if (isObject(value)) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return `${indent}{}\n`;
    return entries
      .map(([k, v]) => {
        if ((isObject(v) && Object.keys(v).length) || (Array.isArray(v) && v.length)) {
          return `${indent}${scalar(k)}:\n${toYaml(v, Array.isArray(v) ? indent : `${indent}  `)}`;
        }
        return `${indent}${scalar(k)}: ${inline(v)}\n`;
      })
      .join('');
  }
  return `${indent}${inline(value)}\n`;
}

function inline(value: unknown): string {
  if (Array.isArray(value)) return '[]';
  if (isObject(value)) return '{}';
  return scalar(value);
}
