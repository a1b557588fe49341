/**
 * The loss (docs/loss.md) written out in plain float64 TypeScript, loops only, sharing no code with the native
 * paths: the third, independent computation the fused path is checked against (values, and through
 * finite differences, gradients).
 */
import type { NativeLossConfig } from '../lib/native/types';

import type { Problem } from './problems';

export type SpecProblem = Problem;

export interface SpecResult {
  loss: number;
  hard: number;
  targetCos: number;
}

function normalizedRows(v: Float64Array, rows: number, D: number): { unit: Float64Array; norms: Float64Array } {
  const unit = new Float64Array(v.length);
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let d = 0; d < D; d++) sq += v[r * D + d] ** 2;
    norms[r] = Math.sqrt(sq);
    const denom = Math.max(norms[r], 1e-12);
    for (let d = 0; d < D; d++) unit[r * D + d] = v[r * D + d] / denom;
  }
  return { unit, norms };
}

function chebyshev(m: number, x: number): number {
  return Math.cos(m * Math.acos(x));
}

function margined(c: NativeLossConfig, g: number): number {
  if (c.type === 'am' || c.type === 'mv-am') return g - c.margin;
  if (c.type === 'combined') return Math.cos(c.m1 * Math.acos(g) + c.m2) - c.m3;
  return Math.cos(Math.acos(g) + c.margin);
}

function targetValue(c: NativeLossConfig, g: number): number {
  if (c.type === 'sphereface') {
    const k = Math.floor((c.sphereM * Math.acos(g)) / Math.PI);
    const phi = (k % 2 === 0 ? 1 : -1) * chebyshev(c.sphereM, g) - 2 * k;
    return g + (phi - g) / (1 + c.sphereLambda);
  }
  const mu = margined(c, g);
  if (c.easyMargin) return g > 0 ? mu : g;
  if ((c.type === 'arc' || c.type === 'mv-arc') && g <= Math.cos(Math.PI - c.margin)) {
    return g - Math.sin(Math.PI - c.margin) * c.margin;
  }
  return mu;
}

function rowLogits(c: NativeLossConfig, cos: number[], y: number, norm: number): { z: number[]; hard: number } {
  const g = cos[y];
  const mv = c.type === 'mv-am' || c.type === 'mv-arc';
  const mu = mv ? margined(c, g) : Infinity;
  const s = c.type === 'sphereface' ? norm : c.scale;
  let hard = 0;
  const z = cos.map((v, k) => {
    if (k === y) return s * targetValue(c, g);
    if (v <= mu) return s * v;
    hard++;
    return s * (c.mode === 'fixed' ? v + c.t : c.t * v + c.t - 1);
  });
  return { z, hard };
}

function reduce(c: NativeLossConfig, ce: number[]): number {
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  if (c.mining === 'focal') return mean(ce.map((l) => (1 - Math.exp(-l)) ** c.focalGamma * l));
  if (c.mining === 'hm') {
    const keep = Math.max(1, Math.floor(c.hmRatio * ce.length + 1e-9));
    const order = ce.map((l, i) => [l, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    return mean(order.slice(0, keep).map(([l]) => l));
  }
  return mean(ce);
}

export function specLoss(c: NativeLossConfig, p: SpecProblem): SpecResult {
  const { B, C, D } = p;
  const xs = normalizedRows(p.x, B, D);
  const ws = normalizedRows(p.w, C, D);
  const ce: number[] = [];
  let hard = 0;
  let targetCos = 0;
  for (let i = 0; i < B; i++) {
    const cos: number[] = [];
    for (let k = 0; k < C; k++) {
      let dot = 0;
      for (let d = 0; d < D; d++) {
        dot += c.type === 'softmax' ? p.x[i * D + d] * p.w[k * D + d] : xs.unit[i * D + d] * ws.unit[k * D + d];
      }
      cos.push(c.type === 'softmax' ? dot : Math.min(1, Math.max(-1, dot)));
    }
    const y = p.labels[i];
    const { z, hard: h } = c.type === 'softmax' ? { z: cos, hard: 0 } : rowLogits(c, cos, y, xs.norms[i]);
    hard += h;
    let dotY = 0;
    for (let d = 0; d < D; d++) dotY += xs.unit[i * D + d] * ws.unit[y * D + d];
    targetCos += dotY;
    const zmax = Math.max(...z);
    const lse = zmax + Math.log(z.reduce((s, v) => s + Math.exp(v - zmax), 0));
    ce.push(lse - z[y]);
  }
  return { loss: reduce(c, ce), hard: C > 1 ? hard / (B * (C - 1)) : 0, targetCos: targetCos / B };
}
