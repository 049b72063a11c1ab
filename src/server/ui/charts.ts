// Server-rendered SVG charts (issue 15): no script, sized by CSS, coloured by the stylesheet's
// tokens (light and dark). Each point or bar carries its value in data-value and a <title>, so
// that a screen reader, a hover and a test read the same numbers the chart draws.
import { escapeHtml } from './escape.js';

export interface ChartPoint {
  /** The x label (a date, a push). */
  label: string;
  value: number;
}

export interface ChartOptions {
  /** Accessible name of the chart. */
  title: string;
  /** How a value is written in labels and titles. */
  format?: (n: number) => string;
  width?: number;
  height?: number;
}

const PAD = { left: 64, right: 16, top: 16, bottom: 36 };

function frame(points: ChartPoint[], o: ChartOptions) {
  const width = o.width ?? 640;
  const height = o.height ?? 220;
  const max = Math.max(1, ...points.map((p) => p.value));
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const fmt = o.format ?? ((n: number) => String(n));
  const axes = [
    `<line class="axis" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${width - PAD.right}" y2="${PAD.top + plotH}"/>`,
    `<line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${PAD.top + plotH}"/>`,
    `<text x="${PAD.left - 6}" y="${PAD.top + 4}" text-anchor="end">${escapeHtml(fmt(max))}</text>`,
    `<text x="${PAD.left - 6}" y="${PAD.top + plotH}" text-anchor="end">0</text>`,
  ];
  const first = points[0];
  const last = points[points.length - 1];
  if (first) axes.push(`<text x="${PAD.left}" y="${height - 10}">${escapeHtml(first.label)}</text>`);
  if (last && points.length > 1)
    axes.push(`<text x="${width - PAD.right}" y="${height - 10}" text-anchor="end">${escapeHtml(last.label)}</text>`);
  return { width, height, plotW, plotH, y, fmt, axes };
}

function svg(width: number, height: number, title: string, body: string[]): string {
  return `<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(title)}" xmlns="http://www.w3.org/2000/svg">${body.join('')}</svg>`;
}

/** A line with a dot per point (a tag's size over its pushes). */
export function lineChart(points: ChartPoint[], o: ChartOptions): string {
  const f = frame(points, o);
  const step = points.length > 1 ? f.plotW / (points.length - 1) : 0;
  const xy = points.map((p, i) => [PAD.left + (points.length > 1 ? i * step : f.plotW / 2), f.y(p.value)] as const);
  const body = [...f.axes];
  if (xy.length > 1)
    body.push(`<polyline class="line" points="${xy.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}"/>`);
  points.forEach((p, i) => {
    const [x, y] = xy[i] as readonly [number, number];
    body.push(
      `<circle class="dot" data-value="${p.value}" data-label="${escapeHtml(p.label)}" cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4"><title>${escapeHtml(`${p.label}: ${f.fmt(p.value)}`)}</title></circle>`,
    );
  });
  return svg(f.width, f.height, o.title, body);
}

/** A bar per point (pulls per day); `alt` marks the bars of a second series (stacked on top). */
export function barChart(points: (ChartPoint & { alt?: number })[], o: ChartOptions): string {
  const totals = points.map((p) => ({ label: p.label, value: p.value + (p.alt ?? 0) }));
  const f = frame(totals, o);
  const slot = points.length > 0 ? f.plotW / points.length : 0;
  const w = Math.max(1, slot * 0.7);
  const body = [...f.axes];
  points.forEach((p, i) => {
    const x = PAD.left + i * slot + (slot - w) / 2;
    const base = f.y(0);
    const top = f.y(p.value);
    body.push(
      `<rect class="bar" data-value="${p.value}" data-label="${escapeHtml(p.label)}" x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${w.toFixed(1)}" height="${(base - top).toFixed(1)}"><title>${escapeHtml(`${p.label}: ${f.fmt(p.value)}`)}</title></rect>`,
    );
    if (p.alt !== undefined && p.alt > 0) {
      const top2 = f.y(p.value + p.alt);
      body.push(
        `<rect class="bar alt" data-value="${p.alt}" data-label="${escapeHtml(p.label)}" x="${x.toFixed(1)}" y="${top2.toFixed(1)}" width="${w.toFixed(1)}" height="${(top - top2).toFixed(1)}"><title>${escapeHtml(`${p.label}: ${f.fmt(p.alt)}`)}</title></rect>`,
      );
    }
  });
  return svg(f.width, f.height, o.title, body);
}
