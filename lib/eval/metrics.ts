/**
 * Face-recognition metrics over plain typed arrays: cosine scores, 10-fold verification accuracy
 * (InsightFace's protocol), ROC, AUC, EER, TAR at fixed FARs, and identification rank-k.
 * A higher score means "more likely the same identity".
 */
import { createError } from '../errors';

export type Scores = ArrayLike<number>;
/** Per pair: true (or 1) when both images show the same identity. */
export type SameFlags = ArrayLike<boolean | number>;

/** The FARs reported by tarAtFar, as their keys. */
export const farLevels = ['1e-1', '1e-2', '1e-3', '1e-4', '1e-5', '1e-6'] as const;
export type FarKey = (typeof farLevels)[number];
/** TAR per FAR; null where the negative pairs are too few to measure that FAR (< 1/FAR of them). */
export type TarAtFar = Record<FarKey, number | null>;

export interface RocCurve {
  /** Ascending; the first point is (0, 0), the last (1, 1). */
  fpr: number[];
  tpr: number[];
  /** Operating point k predicts "same" for score >= thresholds[k] (Infinity at (0, 0)). */
  thresholds: number[];
}

export interface VerificationMetrics {
  pairs: number;
  positives: number;
  negatives: number;
  /** Mean over the folds of the test-fold accuracy at the threshold picked on the other folds. */
  accuracy: number;
  /** Population standard deviation of the fold accuracies (as InsightFace prints it). */
  std: number;
  foldAccuracies: number[];
  foldThresholds: number[];
  /** The threshold with the best accuracy on all pairs, and that accuracy. */
  bestThreshold: number;
  bestAccuracy: number;
  auc: number;
  eer: number;
  tarAtFar: TarAtFar;
}

function isSame(flag: boolean | number): boolean {
  return flag === true || flag === 1;
}

function checkPairs(scores: Scores, same: SameFlags): void {
  if (scores.length !== same.length) throw createError('E_SHAPE', `scores: ${scores.length} scores for ${same.length} pair labels`, 'scores');
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw createError('E_NONFINITE', `scores: score ${i} is ${scores[i]}`, 'scores');
  }
}

/** Cosine of each pair (pairs[2k], pairs[2k + 1]) of rows of the count x dim matrix `embeddings`; 0 for a zero row. */
export function pairScores(embeddings: Float32Array | Float64Array, dim: number, pairs: ArrayLike<number>): Float64Array {
  if (!Number.isInteger(dim) || dim < 1 || embeddings.length % dim !== 0)
    throw createError('E_SHAPE', `embeddings: length ${embeddings.length} is not a multiple of dim ${dim}`, 'embeddings');
  if (pairs.length % 2 !== 0) throw createError('E_SHAPE', 'pairs: needs an even number of indices', 'pairs');
  const rows = embeddings.length / dim;
  const out = new Float64Array(pairs.length / 2);
  for (let k = 0; k < out.length; k++) {
    const a = pairs[2 * k],
      b = pairs[2 * k + 1];
    if (!(a >= 0 && a < rows && b >= 0 && b < rows)) throw createError('E_SHAPE', `pairs: pair ${k} names a row outside [0, ${rows})`, 'pairs');
    let dot = 0,
      na = 0,
      nb = 0;
    for (let j = 0; j < dim; j++) {
      const x = embeddings[a * dim + j],
        y = embeddings[b * dim + j];
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    out[k] = na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
  }
  return out;
}

/** Accuracy of "same iff score >= threshold" over the pairs `indices` (all pairs when omitted). */
export function accuracyAt(scores: Scores, same: SameFlags, threshold: number, indices?: ArrayLike<number>): number {
  const n = indices ? indices.length : scores.length;
  let correct = 0;
  for (let k = 0; k < n; k++) {
    const i = indices ? indices[k] : k;
    if (scores[i] >= threshold === isSame(same[i])) correct++;
  }
  return n ? correct / n : 0;
}

/**
 * The threshold with the best accuracy over `indices`, scanned over the score range: the midpoints
 * between consecutive distinct scores, and min - 1 / max + 1 (everything same / different).
 * Among equally good thresholds the highest wins (InsightFace's argmax over ascending distances).
 */
export function bestThreshold(scores: Scores, same: SameFlags, indices?: ArrayLike<number>): { threshold: number; accuracy: number } {
  const order = indices ? Array.from(indices) : Array.from({ length: scores.length }, (_, k) => k);
  if (order.length === 0) throw createError('E_SHAPE', 'scores: no pairs', 'scores');
  order.sort((a, b) => scores[b] - scores[a]);
  // Sweep from the highest threshold down: each score passed turns its pair into "same".
  let correct = order.filter((i) => !isSame(same[i])).length;
  let best = { threshold: scores[order[0]] + 1, correct };
  for (let k = 0; k < order.length; ) {
    const s = scores[order[k]];
    for (; k < order.length && scores[order[k]] === s; k++) correct += isSame(same[order[k]]) ? 1 : -1;
    const threshold = k < order.length ? (s + scores[order[k]]) / 2 : s - 1;
    if (correct > best.correct) best = { threshold, correct };
  }
  return { threshold: best.threshold, accuracy: best.correct / order.length };
}

/** sklearn's KFold(n_splits, shuffle=False): consecutive blocks, the first n % folds one longer. */
export function foldRanges(n: number, folds: number): Array<[number, number]> {
  if (!Number.isInteger(folds) || folds < 2 || n < folds)
    throw createError('E_SHAPE', `pairs: ${folds}-fold evaluation needs at least ${folds} pairs, got ${n}`, 'pairs');
  const out: Array<[number, number]> = [];
  for (let f = 0, start = 0; f < folds; f++) {
    const size = Math.floor(n / folds) + (f < n % folds ? 1 : 0);
    out.push([start, start + size]);
    start += size;
  }
  return out;
}

/** Accuracy on each fold at the threshold picked on the other folds; mean and population std. */
export function kFoldAccuracy(
  scores: Scores,
  same: SameFlags,
  folds = 10,
): { accuracy: number; std: number; foldAccuracies: number[]; foldThresholds: number[] } {
  checkPairs(scores, same);
  const foldAccuracies: number[] = [];
  const foldThresholds: number[] = [];
  for (const [start, end] of foldRanges(scores.length, folds)) {
    const train = Array.from({ length: scores.length - (end - start) }, (_, k) => (k < start ? k : k + end - start));
    const test = Array.from({ length: end - start }, (_, k) => start + k);
    const { threshold } = bestThreshold(scores, same, train);
    foldThresholds.push(threshold);
    foldAccuracies.push(accuracyAt(scores, same, threshold, test));
  }
  const accuracy = foldAccuracies.reduce((a, b) => a + b, 0) / folds;
  const std = Math.sqrt(foldAccuracies.reduce((a, b) => a + (b - accuracy) ** 2, 0) / folds);
  return { accuracy, std, foldAccuracies, foldThresholds };
}

function countClasses(same: SameFlags): { positives: number; negatives: number } {
  let positives = 0;
  for (let i = 0; i < same.length; i++) if (isSame(same[i])) positives++;
  return { positives, negatives: same.length - positives };
}

/** The ROC: one operating point per distinct score, from the highest threshold down. */
export function rocCurve(scores: Scores, same: SameFlags): RocCurve {
  checkPairs(scores, same);
  const { positives, negatives } = countClasses(same);
  if (positives === 0 || negatives === 0)
    throw createError('E_SHAPE', `pairs: the ROC needs same and different pairs (${positives} same, ${negatives} different)`, 'pairs');
  const order = Array.from({ length: scores.length }, (_, k) => k).sort((a, b) => scores[b] - scores[a]);
  const roc: RocCurve = { fpr: [0], tpr: [0], thresholds: [Infinity] };
  let tp = 0,
    fp = 0;
  for (let k = 0; k < order.length; ) {
    const s = scores[order[k]];
    for (; k < order.length && scores[order[k]] === s; k++) isSame(same[order[k]]) ? tp++ : fp++;
    roc.fpr.push(fp / negatives);
    roc.tpr.push(tp / positives);
    roc.thresholds.push(s);
  }
  return roc;
}

/** Area under the ROC (trapezoids: ties between a same and a different pair count one half). */
export function rocAuc(roc: RocCurve): number {
  let area = 0;
  for (let k = 1; k < roc.fpr.length; k++) area += ((roc.fpr[k] - roc.fpr[k - 1]) * (roc.tpr[k] + roc.tpr[k - 1])) / 2;
  return area;
}

/** Equal error rate: where FAR = FRR (1 - TPR), linearly interpolated on the ROC segment that crosses. */
export function equalErrorRate(roc: RocCurve): number {
  for (let k = 1; k < roc.fpr.length; k++) {
    const f1 = roc.fpr[k - 1],
      t1 = roc.tpr[k - 1],
      f2 = roc.fpr[k],
      t2 = roc.tpr[k];
    if (f2 >= 1 - t2) {
      const df = f2 - f1,
        dt = t2 - t1;
      const u = df + dt > 0 ? (1 - t1 - f1) / (df + dt) : 0;
      return f1 + Math.max(0, Math.min(1, u)) * df;
    }
  }
  return 1;
}

/** The highest TPR among operating points with FPR <= far. */
export function tarAt(roc: RocCurve, far: number): number {
  let best = 0;
  for (let k = 0; k < roc.fpr.length; k++) if (roc.fpr[k] <= far) best = Math.max(best, roc.tpr[k]);
  return best;
}

/** TAR at FAR 1e-1 ... 1e-6; a FAR needs at least 1/FAR different pairs, else it is null. */
export function tarAtFar(roc: RocCurve, negatives: number): TarAtFar {
  const out = {} as TarAtFar;
  for (const key of farLevels) {
    const far = Number(key);
    out[key] = negatives * far >= 1 - 1e-9 ? tarAt(roc, far) : null;
  }
  return out;
}

/** The TAR-at-FAR curve sampled at `points` FARs log-spaced from 1/negatives to 1 (for plots). */
export function tarFarCurve(roc: RocCurve, negatives: number, points = 200): { far: number[]; tar: number[] } {
  const lo = Math.log10(1 / Math.max(negatives, 1));
  const far = Array.from({ length: points }, (_, k) => 10 ** (lo + (-lo * k) / (points - 1)));
  return { far, tar: far.map((f) => tarAt(roc, f)) };
}

/** Everything InsightFace reports for a verification set, and more. */
export function verificationMetrics(scores: Scores, same: SameFlags, folds = 10): VerificationMetrics {
  const kfold = kFoldAccuracy(scores, same, folds);
  const roc = rocCurve(scores, same);
  const { positives, negatives } = countClasses(same);
  const best = bestThreshold(scores, same);
  return {
    pairs: scores.length,
    positives,
    negatives,
    ...kfold,
    bestThreshold: best.threshold,
    bestAccuracy: best.accuracy,
    auc: rocAuc(roc),
    eer: equalErrorRate(roc),
    tarAtFar: tarAtFar(roc, negatives),
  };
}

export interface IdentificationMetrics {
  probes: number;
  galleryClasses: number;
  rank1: number;
  rank5: number;
}

/**
 * Closed-set identification. A class scores the best cosine of its gallery images; a probe's rank is
 * 1 + the number of classes scoring strictly higher than its own. Every probe's class must be in the gallery.
 */
export function identificationMetrics(
  gallery: Float32Array | Float64Array,
  galleryLabels: ArrayLike<number>,
  probes: Float32Array | Float64Array,
  probeLabels: ArrayLike<number>,
  dim: number,
): IdentificationMetrics {
  const ranks = identificationRanks(gallery, galleryLabels, probes, probeLabels, dim);
  const within = (k: number) => ranks.filter((r) => r <= k).length / ranks.length;
  return { probes: ranks.length, galleryClasses: new Set(Array.from(galleryLabels)).size, rank1: within(1), rank5: within(5) };
}

function unitRows(m: Float32Array | Float64Array, dim: number): Float64Array {
  const out = Float64Array.from(m);
  for (let r = 0; r < out.length / dim; r++) {
    let n = 0;
    for (let j = 0; j < dim; j++) n += out[r * dim + j] ** 2;
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let j = 0; j < dim; j++) out[r * dim + j] *= inv;
  }
  return out;
}

/** Each probe's rank (1 = its class scored highest). */
export function identificationRanks(
  gallery: Float32Array | Float64Array,
  galleryLabels: ArrayLike<number>,
  probes: Float32Array | Float64Array,
  probeLabels: ArrayLike<number>,
  dim: number,
): number[] {
  if (gallery.length !== galleryLabels.length * dim || probes.length !== probeLabels.length * dim) {
    throw createError('E_SHAPE', `identification: gallery or probes do not hold labels x ${dim} values`, 'gallery');
  }
  if (probeLabels.length === 0) throw createError('E_SHAPE', 'identification: no probes', 'probes');
  const classes = [...new Set(Array.from(galleryLabels))];
  const classIndex = new Map(classes.map((c, i) => [c, i]));
  const g = unitRows(gallery, dim),
    p = unitRows(probes, dim);
  const ranks: number[] = [];
  const classScore = new Float64Array(classes.length);
  for (let q = 0; q < probeLabels.length; q++) {
    const own = classIndex.get(probeLabels[q]);
    if (own === undefined) throw createError('E_SHAPE', `identification: probe ${q} has class ${probeLabels[q]}, which is not in the gallery`, 'probes');
    classScore.fill(-Infinity);
    for (let r = 0; r < galleryLabels.length; r++) {
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += g[r * dim + j] * p[q * dim + j];
      const c = classIndex.get(galleryLabels[r])!;
      if (dot > classScore[c]) classScore[c] = dot;
    }
    ranks.push(1 + classScore.filter((s) => s > classScore[own]).length);
  }
  return ranks;
}

export interface AllPairsVerification {
  images: number;
  positives: number;
  negatives: number;
  /** TAR at each FAR over every pair of images (as IJB's 1:1 protocol); null below 1/negatives. */
  tarAtFar: TarAtFar;
}

/**
 * TAR at FAR over all n(n-1)/2 pairs of the rows of `embeddings` (cosine scores). The same operating
 * points as tarAtFar(rocCurve(...)): "same" iff score >= t, the best TPR with at most far x negatives
 * false accepts, i.e. the positives scoring above the (m+1)-th highest negative, m = floor(far x negatives).
 */
export function allPairsVerification(embeddings: Float32Array | Float64Array, labels: ArrayLike<number>, dim: number): AllPairsVerification {
  const n = labels.length;
  if (embeddings.length !== n * dim) throw createError('E_SHAPE', `embeddings: ${embeddings.length} values for ${n} labels x ${dim}`, 'embeddings');
  const u = unitRows(embeddings, dim);
  const positives: number[] = [];
  const negatives = new Float64Array((n * (n - 1)) / 2);
  let nNeg = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      let s = 0;
      for (let j = 0; j < dim; j++) s += u[a * dim + j] * u[b * dim + j];
      if (!Number.isFinite(s)) throw createError('E_NONFINITE', `embeddings: rows ${a} and ${b} score ${s}`, 'embeddings');
      if (labels[a] === labels[b]) positives.push(s);
      else negatives[nNeg++] = s;
    }
  }
  if (positives.length === 0 || nNeg === 0)
    throw createError('E_SHAPE', `pairs: all-pairs verification needs same and different pairs (${positives.length} same, ${nNeg} different)`, 'labels');
  const neg = negatives.subarray(0, nNeg).sort().reverse();
  const tarAtFar = {} as TarAtFar;
  for (const key of farLevels) {
    const m = Math.floor(Number(key) * nNeg + 1e-9);
    if (m < 1) tarAtFar[key] = null;
    else tarAtFar[key] = m >= nNeg ? 1 : positives.filter((s) => s > neg[m]).length / positives.length;
  }
  return { images: n, positives: positives.length, negatives: nNeg, tarAtFar };
}
