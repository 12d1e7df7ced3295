// The latency distributions as cumulative curves, one panel per distribution, hand-written SVG
// (no charting dependency). x: time on a log scale; y: share of namespaces done. Colour is the
// size, dash pattern the run; dashed vertical lines are the floors of the same colour.
import type { Distribution } from '../results.ts';

const PANEL_W = 560;
const PANEL_H = 300;
const MARGIN = { left: 56, right: 30, top: 34, bottom: 64 };
const COLUMNS = 2;
const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
const DASHES = ['', '7 3', '2 3', '10 3 2 3'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const f = (v: number) => v.toFixed(1);

function msLabel(ms: number): string {
  const v = ms >= 1000 ? ms / 1000 : ms;
  return `${Number(v.toPrecision(3))} ${ms >= 1000 ? 's' : 'ms'}`;
}

function panel(name: string, dists: Distribution[], sizes: number[], x0: number, y0: number): string {
  const values = dists.flatMap((d) => [...d.quantilesMs, ...Object.values(d.floorsMs ?? {})]).filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.max(0.1, Math.min(...values))));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(Math.max(...values))));
  const w = PANEL_W - MARGIN.left - MARGIN.right;
  const h = PANEL_H - MARGIN.top - MARGIN.bottom;
  const left = x0 + MARGIN.left;
  const top = y0 + MARGIN.top;
  const x = (ms: number) => left + ((Math.log10(Math.max(ms, 10 ** lo)) - lo) / (hi - lo)) * w;
  const y = (share: number) => top + h - share * h;
  const out: string[] = [];
  out.push(`<text x="${left}" y="${y0 + 20}" font-weight="bold">${esc(name)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (let p = lo; p <= hi; p++) {
    // 2× and 5× between the decades, labelled only when there are few decades to show.
    for (const m of p < hi ? [1, 2, 5] : [1]) {
      const gx = f(x(m * 10 ** p));
      out.push(`<line x1="${gx}" y1="${top}" x2="${gx}" y2="${top + h}" stroke="${m === 1 ? '#ddd' : '#f2f2f2'}"/>`);
      if (m === 1 || hi - lo <= 2) out.push(`<text x="${gx}" y="${top + h + 16}" text-anchor="middle" font-size="11"${m === 1 ? '' : ' fill="#888"'}>${msLabel(m * 10 ** p)}</text>`);
    }
  }
  for (const share of [0, 0.25, 0.5, 0.75, 1]) {
    out.push(`<line x1="${left}" y1="${f(y(share))}" x2="${left + w}" y2="${f(y(share))}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${f(y(share) + 4)}" text-anchor="end" font-size="11">${share * 100}%</text>`);
  }
  const legend: string[] = [];
  for (const d of dists) {
    const colour = COLOURS[sizes.indexOf(d.size) % COLOURS.length]!;
    const dash = DASHES[(d.run - 1) % DASHES.length]!;
    const points = d.quantilesMs.map((ms, i) => `${f(x(ms))},${f(y(i / (d.quantilesMs.length - 1)))}`).join(' ');
    out.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="1.6"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
    for (const [label, ms] of Object.entries(d.floorsMs ?? {})) {
      out.push(`<line x1="${f(x(ms))}" y1="${top}" x2="${f(x(ms))}" y2="${top + h}" stroke="${colour}" stroke-dasharray="3 3" opacity="0.7"><title>${esc(`${label}: ${ms.toFixed(1)} ms`)}</title></line>`);
    }
    legend.push(`<tspan fill="${colour}">N=${d.size.toLocaleString('en-US')} run ${d.run} (${d.count})</tspan>`);
  }
  out.push(`<text x="${left}" y="${top + h + 34}" font-size="11">${legend.join('  ')}</text>`);
  const floors = [...new Set(dists.flatMap((d) => Object.keys(d.floorsMs ?? {})))];
  if (floors.length) out.push(`<text x="${left}" y="${top + h + 50}" font-size="11" fill="#555">dashed verticals: floor, ${esc(floors.join(', '))}, same run</text>`);
  return out.join('\n');
}

export function latencySvg(title: string, all: Distribution[]): string {
  const dists = all.filter((d) => d.count > 0);
  const names = [...new Set(dists.map((d) => d.name))];
  const sizes = [...new Set(dists.map((d) => d.size))].sort((a, b) => a - b);
  const rows = Math.max(1, Math.ceil(names.length / COLUMNS));
  const width = PANEL_W * COLUMNS;
  const height = 40 + rows * PANEL_H;
  const panels = names.map((name, i) => panel(name, dists.filter((d) => d.name === name), sizes, (i % COLUMNS) * PANEL_W, 40 + Math.floor(i / COLUMNS) * PANEL_H));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="16" y="24" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="${width - 16}" y="24" text-anchor="end" font-size="11" fill="#555">share of namespaces done (y) against time (x, log scale)</text>`,
    ...panels,
    '</svg>',
    '',
  ].join('\n');
}
