// The table, for the terminal and as Markdown: one row per figure, median (min–max) over the runs,
// the floor of the same runs and the ratio to it.
import type { RunResult, Row, Unit } from '../results.ts';
import type { Spread } from '../stats.ts';
import type { Meta } from './meta.ts';
import { shippedNodeFlags } from '../operator-process.ts';

const HEADER = ['Scenario', 'N', 'Measure', 'Median (min–max)', 'Floor', '× floor'];

function num(v: number, unit: Unit): string {
  if (!Number.isFinite(v)) return '—';
  switch (unit) {
    case 's':
    case 'cpu-s':
      return v < 10 ? v.toFixed(2) : v.toFixed(1);
    case 'ms':
      return v < 10 ? v.toFixed(1) : v.toFixed(0);
    case 'MiB':
      return v.toFixed(0);
    default:
      return Number.isInteger(v) ? String(v) : v.toFixed(1);
  }
}

const UNIT_LABEL: Record<Unit, string> = { s: ' s', ms: ' ms', MiB: ' MiB', 'cpu-s': ' s CPU', requests: '', count: '' };

function cell(s: Spread, unit: Unit, runs: number, suffix = UNIT_LABEL[unit]): string {
  if (!Number.isFinite(s.median)) return '—';
  const main = `${num(s.median, unit)}${suffix}`;
  return runs > 1 ? `${main} (${num(s.min, unit)}–${num(s.max, unit)})` : main;
}

function ratioCell(s: Spread | undefined, runs: number): string {
  if (!s || !Number.isFinite(s.median)) return '';
  const f = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
  return runs > 1 ? `${f(s.median)}× (${f(s.min)}–${f(s.max)})` : `${f(s.median)}×`;
}

export function tableCells(rows: Row[]): string[][] {
  return rows.map((r) => {
    const ok = r.runs - r.failures.length;
    const value = r.failures.length ? `${cell(r.value, r.unit, ok)} FAILED ${r.failures.length}/${r.runs}` : cell(r.value, r.unit, r.runs);
    return [r.scenario, r.size.toLocaleString('en-US'), r.metric, value, r.floor ? cell(r.floor, r.unit, ok) : '', ratioCell(r.ratio, ok)];
  });
}

export function consoleTable(rows: Row[]): string {
  const all = [HEADER, ...tableCells(rows)];
  const widths = HEADER.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(HEADER), widths.map((w) => '-'.repeat(w)).join('  '), ...tableCells(rows).map(line)].join('\n');
}

const md = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;

export function markdownReport(meta: Meta, rows: Row[], results: RunResult[], svgFile: string): string {
  const o = meta.options;
  const failures = results.filter((r) => r.failure).map((r) => `- N=${r.size} run ${r.run}: ${r.failure}`);
  return [
    `# regcred-operator bench, ${meta.date}, ${meta.gitSha}${meta.gitDirty ? ' (working tree with uncommitted changes)' : ''}`,
    '',
    `Kubernetes ${meta.kubernetes}, Node ${meta.node}, ${meta.cores} × ${meta.cpu}, ${meta.memoryGiB} GiB. ` +
      `Sizes ${o.sizes.join(', ')}; ${o.runs} run(s) each, ${meta.independence}. ` +
      `New namespaces: ${o.churnRate}/s for ${o.churnSeconds} s at N=${o.churnSize}. Idle window ${o.idleSeconds} s (baseline ${o.baselineSeconds} s). ` +
      `Start-up and memory at N=${o.memorySize} with ${o.blobs} unrelated ${o.blobKiB} KiB Secrets; heap-limited run at --max-old-space-size=${o.heapLimitMiB}. ` +
      `Operator: \`${['node', ...shippedNodeFlags(), ...o.operatorNodeArgs, 'dist/main.js', ...o.operatorArgs].join(' ')}\` (its defaults otherwise; node flags from the Dockerfile's ENTRYPOINT). Whole bench: ${Math.round(meta.totalSeconds / 60)} min.`,
    '',
    md(HEADER),
    md(HEADER.map(() => '---')),
    ...tableCells(rows).map(md),
    '',
    ...(failures.length ? ['Failed runs:', '', ...failures, ''] : []),
    `Latency distributions: [${svgFile}](${svgFile}).`,
    '',
    ...meta.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}
