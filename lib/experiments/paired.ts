/**
 * Paired differences between two heads trained on the same seeds and data: the mean of the per-seed
 * differences with a 95% confidence interval from Student's t (n - 1 degrees of freedom).
 */
import { createError } from '../errors';

/** Student's t 0.975 quantiles for 1 to 30 degrees of freedom. */
const t975 = [
  12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.306, 2.2622, 2.2281, 2.201, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.093, 2.086,
  2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
];

/** The 0.975 quantile of Student's t with `df` degrees of freedom (above 30: Cornish-Fisher from the normal's 1.96). */
export function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw createError('E_CONFIG', `degrees of freedom: must be a positive integer, got ${df}`, 'df');
  if (df <= t975.length) return t975[df - 1];
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export type PairedVerdict = 'better' | 'worse' | 'within noise';

export interface PairedDifference {
  /** Seeds with both values. */
  n: number;
  /** Mean of (candidate - baseline) over the seeds. */
  mean: number;
  /** The 95% confidence interval of the mean difference. */
  low: number;
  high: number;
  /** 'better' when the whole interval is above 0, 'worse' when below, else 'within noise'. */
  verdict: PairedVerdict;
}

/** candidate[i] and baseline[i] come from the same seed; nulls (metric not defined) drop that seed. */
export function pairedDifference(candidate: ReadonlyArray<number | null>, baseline: ReadonlyArray<number | null>): PairedDifference | null {
  if (candidate.length !== baseline.length) throw createError('E_SHAPE', `paired values: ${candidate.length} against ${baseline.length}`, 'baseline');
  const d: number[] = [];
  candidate.forEach((c, i) => {
    const b = baseline[i];
    if (c !== null && b !== null) d.push(c - b);
  });
  if (d.length < 2) return null;
  const n = d.length;
  const mean = d.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(d.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  const low = mean - half;
  const high = mean + half;
  return { n, mean, low, high, verdict: low > 0 ? 'better' : high < 0 ? 'worse' : 'within noise' };
}
