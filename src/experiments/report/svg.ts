/**
 * A small line chart as an SVG string, for the experiment report (no charting library:
 * the page must be one self-contained file). Lines per series, an optional shaded band per
 * series (a confidence sequence), an optional zero line, axes with "nice" ticks, axis
 * labels and a legend. Colours are the Okabe–Ito palette (distinct for colour-blind readers)
 * and every series also has its own dash pattern, so a grey-scale print still tells them apart.
 */

export interface ChartPoint {
  x: number;
  y: number;
}

export interface ChartSeries {
  label: string;
  points: ChartPoint[];
  /** Shaded between lower and upper at each x (drawn under the lines). */
  band?: { x: number; lower: number; upper: number }[];
  /** Palette and dash slot (default: the series' index), so a variant keeps its look across charts. */
  style?: number;
}

export interface ChartOptions {
  /** Used for the element ids (clip path, title): unique within the page. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  xFormat: (x: number) => string;
  yFormat: (y: number) => string;
  series: ChartSeries[];
  /** The x range to show (default: the data's); e.g. from the test's start. */
  xDomain?: [number, number];
  /** Draw y = 0 as a reference line (and keep 0 in view). */
  zeroLine?: boolean;
  width?: number;
  height?: number;
}

/** Okabe–Ito, without yellow (too pale on paper). */
export const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
const DASHES = ['', '7 4', '2 3', '10 3 2 3', '4 2', '1 2', '12 4'];

export function seriesColor(i: number): string {
  return PALETTE[i % PALETTE.length]!;
}

/** Text and attribute values: & < > " ' escaped. */
export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** 1, 2 or 5 × a power of ten, near range / target. */
export function niceStep(range: number, target = 5): number {
  if (!(range > 0) || !Number.isFinite(range)) return 1;
  const raw = range / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

/** Tick values covering [lo, hi] on a nice step; also the widened domain they span. */
export function niceTicks(lo: number, hi: number, target = 5): { ticks: number[]; lo: number; hi: number } {
  if (lo === hi) {
    const pad = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep(hi - lo, target);
  const start = Math.floor(lo / step) * step;
  const end = Math.ceil(hi / step) * step;
  const ticks: number[] = [];
  for (let i = 0; start + i * step <= end + step * 1e-9 && i < 100; i++) ticks.push(Number((start + i * step).toPrecision(12)));
  return { ticks, lo: start, hi: end };
}

const finite = (...xs: number[]) => xs.every((x) => typeof x === 'number' && Number.isFinite(x));
const f1 = (x: number) => (Math.round(x * 10) / 10).toString();
const dashOf = (slot: number) => (DASHES[slot % DASHES.length] ? ` stroke-dasharray="${DASHES[slot % DASHES.length]}"` : '');

/** The chart; series without any finite point are left out of the lines but kept in the legend. */
export function lineChart(o: ChartOptions): string {
  const width = o.width ?? 900;
  const height = o.height ?? 340;
  const legendRows = Math.ceil(o.series.length / 4);
  const m = { left: 78, right: 20, top: 36, bottom: 58 + legendRows * 20 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;

  const points = o.series.map((s) => s.points.filter((p) => finite(p.x, p.y)));
  const bands = o.series.map((s) => (s.band ?? []).filter((b) => finite(b.x, b.lower, b.upper)));
  const xs = [...points.flat().map((p) => p.x), ...bands.flat().map((b) => b.x)];
  const xMin = o.xDomain?.[0] ?? (xs.length ? Math.min(...xs) : 0);
  const xMax = o.xDomain?.[1] ?? (xs.length ? Math.max(...xs) : 1);
  // The y domain: every line, the bands where they have settled (their first quarter is
  // often very wide and would flatten everything else; it is clipped at the plot's edge), and 0.
  const ys = points.flat().map((p) => p.y);
  const settledFrom = xMin + (xMax - xMin) * 0.25;
  for (const b of bands.flat()) if (b.x >= settledFrom || xMax === xMin) ys.push(b.lower, b.upper);
  if (o.zeroLine) ys.push(0);
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1);
  const xt = niceTicks(xMin, xMax, 7);
  const xLo = xMin === xMax ? xt.lo : xMin;
  const xHi = xMin === xMax ? xt.hi : xMax;

  const sx = (x: number) => m.left + ((x - xLo) / (xHi - xLo)) * pw;
  const sy = (y: number) => m.top + ph - ((y - yt.lo) / (yt.hi - yt.lo)) * ph;
  const id = escapeXml(o.id);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-labelledby="${id}-title" class="chart" font-family="system-ui, -apple-system, 'Segoe UI', sans-serif" font-size="12">`,
    `<title id="${id}-title">${escapeXml(o.title)}</title>`,
    `<defs><clipPath id="${id}-clip"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></clipPath></defs>`,
    `<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="20" font-size="14" font-weight="600" fill="#111">${escapeXml(o.title)}</text>`,
  );
  // Grid and y ticks.
  out.push('<g class="y-axis">');
  for (const t of yt.ticks) {
    const y = f1(sy(t));
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#e3e3e3" stroke-width="1"/>`,
      `<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle" fill="#333">${escapeXml(o.yFormat(t))}</text>`,
    );
  }
  out.push('</g><g class="x-axis">');
  for (const t of xt.ticks) {
    if (t < xLo - 1e-9 * Math.abs(xHi - xLo) || t > xHi + 1e-9 * Math.abs(xHi - xLo)) continue;
    const x = f1(sx(t));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#555" stroke-width="1"/>`,
      `<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle" fill="#333">${escapeXml(o.xFormat(t))}</text>`,
    );
  }
  out.push('</g>');
  // Axis lines and labels.
  out.push(
    `<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + ph}" stroke="#555" stroke-width="1"/>`,
    `<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" stroke="#555" stroke-width="1"/>`,
    `<text class="axis-label" x="${f1(m.left + pw / 2)}" y="${m.top + ph + 38}" text-anchor="middle" fill="#111">${escapeXml(o.xLabel)}</text>`,
    `<text class="axis-label" transform="translate(16 ${f1(m.top + ph / 2)}) rotate(-90)" text-anchor="middle" fill="#111">${escapeXml(o.yLabel)}</text>`,
  );
  out.push(`<g clip-path="url(#${id}-clip)">`);
  const slot = (i: number) => o.series[i]!.style ?? i;
  bands.forEach((band, i) => {
    if (band.length < 2) return;
    const upper = band.map((b) => `${f1(sx(b.x))},${f1(sy(b.upper))}`);
    const lower = [...band].reverse().map((b) => `${f1(sx(b.x))},${f1(sy(b.lower))}`);
    out.push(
      `<polygon class="band" points="${[...upper, ...lower].join(' ')}" fill="${seriesColor(slot(i))}" fill-opacity="0.16" stroke="${seriesColor(slot(i))}" stroke-opacity="0.35" stroke-width="0.75"/>`,
    );
  });
  if (o.zeroLine && yt.lo <= 0 && yt.hi >= 0) {
    out.push(`<line class="zero" x1="${m.left}" x2="${m.left + pw}" y1="${f1(sy(0))}" y2="${f1(sy(0))}" stroke="#111" stroke-width="1.25"/>`);
  }
  points.forEach((pts, i) => {
    if (pts.length === 0) return;
    const d = pts.map((p, j) => `${j === 0 ? 'M' : 'L'}${f1(sx(p.x))},${f1(sy(p.y))}`).join(' ');
    out.push(
      `<path class="series" d="${d}" fill="none" stroke="${seriesColor(slot(i))}" stroke-width="2.25" stroke-linejoin="round"${dashOf(slot(i))}><title>${escapeXml(o.series[i]!.label)}</title></path>`,
    );
  });
  out.push('</g>');
  // Legend, up to four per row, under the x label.
  out.push('<g class="legend">');
  o.series.forEach((s, i) => {
    const col = i % 4;
    const row = Math.floor(i / 4);
    const x = m.left + col * Math.floor(pw / 4);
    const y = m.top + ph + 58 + row * 20;
    out.push(
      `<line x1="${x}" x2="${x + 28}" y1="${y - 4}" y2="${y - 4}" stroke="${seriesColor(slot(i))}" stroke-width="2.25"${dashOf(slot(i))}/>`,
      `<text x="${x + 34}" y="${y}" fill="#111">${escapeXml(s.label)}</text>`,
    );
  });
  out.push('</g></svg>');
  return out.join('\n');
}
