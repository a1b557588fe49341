/** Small line charts as self-contained SVG text (no fonts or scripts to fetch), linear or log axes. */

export interface Series {
  label: string;
  x: number[];
  y: number[];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  /** Fixed axis ranges; otherwise the data's. */
  xRange?: [number, number];
  yRange?: [number, number];
  /** Default: when there is more than one series. */
  legend?: boolean;
  width?: number;
  height?: number;
}

const colors = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const font = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"';
const margin = { left: 64, right: 16, top: 34, bottom: 46 };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** At most `max` points: the mean of equal buckets of consecutive points. */
export function thin(x: number[], y: number[], max = 800): { x: number[]; y: number[] } {
  if (x.length <= max) return { x, y };
  const out = { x: [] as number[], y: [] as number[] };
  const size = x.length / max;
  for (let b = 0; b < max; b++) {
    const from = Math.floor(b * size),
      to = Math.floor((b + 1) * size);
    const mean = (a: number[]) => a.slice(from, to).reduce((s, v) => s + v, 0) / (to - from);
    out.x.push(mean(x));
    out.y.push(mean(y));
  }
  return out;
}

/** Round tick values: 1, 2 or 5 times a power of ten, about `count` of them. */
export function linearTicks(lo: number, hi: number, count = 5): number[] {
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); e <= Math.floor(Math.log10(hi) + 1e-9); e++) ticks.push(10 ** e);
  return ticks;
}

function tickLabel(v: number, log: boolean): string {
  if (log) return `1e${Math.round(Math.log10(v))}`;
  if (v === 0) return '0';
  return Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3 ? v.toExponential(0) : String(Number(v.toPrecision(4)));
}

interface Axis {
  lo: number;
  hi: number;
  log: boolean;
}

function axisRange(values: number[], log: boolean, fixed?: [number, number]): Axis {
  if (fixed) return { lo: fixed[0], hi: fixed[1], log };
  const finite = values.filter((v) => Number.isFinite(v) && (!log || v > 0));
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (log) return { lo: 10 ** Math.floor(Math.log10(lo) + 1e-9), hi: 10 ** Math.ceil(Math.log10(hi) - 1e-9), log };
  if (hi === lo) [lo, hi] = [lo - (Math.abs(lo) || 1) * 0.5, hi + (Math.abs(hi) || 1) * 0.5];
  const pad = (hi - lo) * 0.05;
  return { lo: lo - pad, hi: hi + pad, log };
}

function scale(axis: Axis, from: number, to: number): (v: number) => number {
  const f = axis.log ? Math.log10 : (v: number) => v;
  const a = f(axis.lo),
    b = f(axis.hi);
  return (v) => from + ((f(v) - a) / (b - a)) * (to - from);
}

function ticksFor(axis: Axis): number[] {
  return axis.log ? logTicks(axis.lo, axis.hi) : linearTicks(axis.lo, axis.hi);
}

/** One SVG line chart; points outside the axes (or not finite, or <= 0 on a log axis) are dropped. */
export function lineChart(series: Series[], o: ChartOptions): string {
  const width = o.width ?? 560,
    height = o.height ?? 320;
  const x0 = margin.left,
    x1 = width - margin.right,
    y0 = height - margin.bottom,
    y1 = margin.top;
  const shown = series.map((s) => ({ ...s, ...thin(s.x, s.y) }));
  const xa = axisRange(
    shown.flatMap((s) => s.x),
    !!o.logX,
    o.xRange,
  );
  const ya = axisRange(
    shown.flatMap((s) => s.y),
    !!o.logY,
    o.yRange,
  );
  const sx = scale(xa, x0, x1),
    sy = scale(ya, y0, y1);
  const inside = (v: number, a: Axis) => Number.isFinite(v) && (!a.log || v > 0) && v >= a.lo - 1e-12 && v <= a.hi + 1e-12;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${font} font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(o.title)}</text>`,
  ];
  for (const t of ticksFor(xa)) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${y1}" x2="${x}" y2="${y0}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${y0 + 16}" text-anchor="middle">${tickLabel(t, xa.log)}</text>`,
    );
  }
  for (const t of ticksFor(ya)) {
    const y = sy(t).toFixed(1);
    parts.push(
      `<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(t, ya.log)}</text>`,
    );
  }
  parts.push(
    `<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#444"/>`,
    `<text x="${(x0 + x1) / 2}" y="${height - 8}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`,
    `<text transform="translate(14 ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`,
  );
  shown.forEach((s, k) => {
    const points = s.x.map((x, i) => [x, s.y[i]]).filter(([x, y]) => inside(x, xa) && inside(y, ya));
    const d = points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)} ${sy(y).toFixed(1)}`).join('');
    const color = colors[k % colors.length];
    if (points.length > 1) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6"/>`);
    else if (points.length === 1) parts.push(`<circle cx="${sx(points[0][0])}" cy="${sy(points[0][1])}" r="3" fill="${color}"/>`);
    if (o.legend ?? series.length > 1) {
      const ly = y0 - 14 - 16 * (series.length - 1 - k); // bottom right, where rising curves leave room
      parts.push(
        `<text x="${x1 - 32}" y="${ly + 4}" text-anchor="end">${escapeXml(s.label)}</text>`,
        `<line x1="${x1 - 26}" y1="${ly}" x2="${x1 - 8}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      );
    }
  });
  if (shown.every((s) => s.x.length === 0)) parts.push(`<text x="${(x0 + x1) / 2}" y="${(y0 + y1) / 2}" text-anchor="middle" fill="#888">no data</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
