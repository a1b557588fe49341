/** Loss test problems: random, and the hard cases the SPEC's branches need. */
import type { Random } from './random';

export type Scenario = 'random' | 'spread' | 'near-centre' | 'opposite' | 'all-hard' | 'none-hard';
export const scenarios: Scenario[] = ['random', 'spread', 'near-centre', 'opposite', 'all-hard', 'none-hard'];

export interface Problem {
  x: Float64Array;
  w: Float64Array;
  labels: Int32Array;
  B: number;
  C: number;
  D: number;
}

function gaussian(rng: Random, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => rng.normal() * scale);
}

function unit(v: Float64Array): Float64Array {
  const n = Math.hypot(...v);
  return v.map((a) => a / n);
}

function row(m: Float64Array, r: number, D: number): Float64Array {
  return m.subarray(r * D, (r + 1) * D);
}

/** x_i = cos(theta) ŵ_y + sin(theta) v_perp with theta uniform in [0, pi]: g covers [-1, 1]. */
function spreadRow(rng: Random, wy: Float64Array, D: number): Float64Array {
  const wHat = unit(wy);
  const v = gaussian(rng, D);
  const along = v.reduce((s, a, d) => s + a * wHat[d], 0);
  const perp = unit(v.map((a, d) => a - along * wHat[d]));
  const theta = rng.next() * Math.PI;
  const norm = 0.5 + 2 * rng.next();
  return wHat.map((a, d) => norm * (Math.cos(theta) * a + Math.sin(theta) * perp[d]));
}

/** C rows of norm 0.5..2.5, mutually orthogonal (needs C <= D). */
function orthogonalRows(rng: Random, C: number, D: number): Float64Array {
  const w = new Float64Array(C * D);
  for (let k = 0; k < C; k++) {
    let v = gaussian(rng, D);
    for (let j = 0; j < k; j++) {
      const b = row(w, j, D);
      const dot = v.reduce((s, a, d) => s + a * b[d], 0) / b.reduce((s, a) => s + a * a, 0);
      v = v.map((a, d) => a - dot * b[d]);
    }
    const scale = (0.5 + 2 * rng.next()) / Math.hypot(...v);
    w.set(
      v.map((a) => a * scale),
      k * D,
    );
  }
  return w;
}

export function makeProblem(kind: Scenario, rng: Random, B = 12, C = 9, D = 16): Problem {
  const labels = Int32Array.from({ length: B }, () => rng.int(C));
  const w = kind === 'none-hard' ? orthogonalRows(rng, C, D) : gaussian(rng, C * D);
  const x = new Float64Array(B * D);
  const u = unit(gaussian(rng, D));
  for (let i = 0; i < B; i++) {
    const y = labels[i];
    let xi: Float64Array;
    if (kind === 'random') xi = gaussian(rng, D);
    else if (kind === 'spread') xi = spreadRow(rng, row(w, y, D), D);
    else if (kind === 'near-centre') xi = row(w, y, D).map((a) => 1.7 * a + 1e-3 * rng.normal());
    else if (kind === 'opposite') xi = row(w, y, D).map((a) => -0.8 * a + 1e-3 * rng.normal());
    else if (kind === 'none-hard') xi = row(w, y, D).map((a) => a + 1e-2 * rng.normal());
    else xi = u.map((a) => a + 0.05 * rng.normal());
    x.set(xi, i * D);
  }
  if (kind === 'all-hard') {
    labels.fill(0);
    for (let k = 0; k < C; k++) {
      const sign = k === 0 ? -1 : 1;
      w.set(
        u.map((a) => sign * a + 0.1 * rng.normal()),
        k * D,
      );
    }
  }
  return { x, w, labels, B, C, D };
}

/** The largest |cos| between a row and its class vector: near 1, float32 gradients are ill-conditioned. */
export function maxAbsTargetCos(p: Problem): number {
  return Math.max(...targetCosines(p).map(Math.abs));
}

/** cos(x_i, W_{y_i}) of each row, in float64. */
export function targetCosines(p: Problem): number[] {
  return Array.from({ length: p.B }, (_, i) => {
    const x = p.x.subarray(i * p.D, (i + 1) * p.D);
    const w = p.w.subarray(p.labels[i] * p.D, (p.labels[i] + 1) * p.D);
    const dot = x.reduce((s, v, d) => s + v * w[d], 0);
    return dot / (Math.hypot(...x) * Math.hypot(...w));
  });
}

/** ‖x_i‖ of each row. */
export function rowNorms(p: Problem): number[] {
  return Array.from({ length: p.B }, (_, i) => Math.hypot(...p.x.subarray(i * p.D, (i + 1) * p.D)));
}

/** max |a - b| / max(max |b|, 1) */
export function maxRelative(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
