import { describe, expect, it } from 'vitest';
import { flipAveragedEmbeddings, flipWidth } from '../lib/eval/flip-embeddings';
import { ShapeError } from '../lib/errors';
import { freshSeed, Random } from './random';
import {
  accuracyAt,
  allPairsVerification,
  bestThreshold,
  equalErrorRate,
  foldRanges,
  identificationMetrics,
  identificationRanks,
  kFoldAccuracy,
  pairScores,
  rocAuc,
  rocCurve,
  tarAt,
  tarAtFar,
  verificationMetrics,
} from '../lib/eval/metrics';

function numbersIn(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(numbersIn);
}

// Six pairs, sorted by score: S S D S D D (S = same identity, D = different).
const scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1];
const same = [1, 1, 0, 1, 0, 0];

describe('pair scores', () => {
  it('is the cosine of each pair of rows, 0 for a zero row', () => {
    // rows: a = (1, 0), b = (0, 1), c = (1, 1), z = (0, 0)
    const e = new Float32Array([1, 0, 0, 1, 1, 1, 0, 0]);
    const s = pairScores(e, 2, [0, 2, 0, 1, 2, 2, 0, 3]);
    // cos(a, c) = 1 / sqrt(2); cos(a, b) = 0; cos(c, c) = 1; with z: 0
    expect(s[0]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(Array.from(s.subarray(1))).toEqual([0, 1, 0]);
    expect(() => pairScores(e, 2, [0, 4])).toThrow(ShapeError);
    expect(() => pairScores(e, 3, [0, 1])).toThrow(ShapeError);
  });
});

describe('verification accuracy', () => {
  it('picks the best threshold on a midpoint between scores, the highest among ties', () => {
    // From the top (threshold 0.9 + 1 = 1.9, all "different"): 3/6 correct. Passing 0.9 (S) -> 4 at
    // (0.9 + 0.8) / 2 = 0.85; 0.8 (S) -> 5 at 0.75; 0.7 (D) -> 4; 0.4 (S) -> 5 again at 0.35, which
    // ties and loses to the higher 0.75; 0.3 (D) -> 4; 0.1 (D) -> 3.
    expect(bestThreshold(scores, same)).toEqual({ threshold: expect.closeTo(0.75, 12), accuracy: 5 / 6 });
    expect(accuracyAt(scores, same, 0.75)).toBe(5 / 6);
    expect(accuracyAt(scores, same, 0.35)).toBe(5 / 6);
    expect(accuracyAt(scores, same, 2)).toBe(3 / 6);
  });

  it('splits folds as consecutive blocks like sklearn KFold', () => {
    // 23 pairs in 10 folds: the first 23 % 10 = 3 folds hold 3 pairs, the other 7 hold 2.
    expect(foldRanges(23, 10)).toEqual([
      [0, 3],
      [3, 6],
      [6, 9],
      [9, 11],
      [11, 13],
      [13, 15],
      [15, 17],
      [17, 19],
      [19, 21],
      [21, 23],
    ]);
    expect(() => foldRanges(5, 10)).toThrow(ShapeError);
  });

  it('tests each fold at the threshold picked on the other folds', () => {
    // 3 folds of 2 pairs.
    // Fold 1 tests {0.9 S, 0.8 S}; the others (0.7 D, 0.4 S, 0.3 D, 0.1 D) are best (3/4) with all
    //   "different": threshold 0.7 + 1 = 1.7, so both test pairs are wrong: 0.
    // Fold 2 tests {0.7 D, 0.4 S}; the others (0.9 S, 0.8 S, 0.3 D, 0.1 D) are perfect at
    //   (0.8 + 0.3) / 2 = 0.55, which gets both test pairs wrong: 0.
    // Fold 3 tests {0.3 D, 0.1 D}; the others (0.9 S, 0.8 S, 0.7 D, 0.4 S) are best (3/4) at 0.75
    //   (ties with -0.6 lose to the higher), both test pairs right: 1.
    // Mean 1/3, population std sqrt(((1/3)^2 + (1/3)^2 + (2/3)^2) / 3) = sqrt(2) / 3.
    const r = kFoldAccuracy(scores, same, 3);
    expect(r.foldAccuracies).toEqual([0, 0, 1]);
    expect(r.foldThresholds.map((t) => Number(t.toFixed(12)))).toEqual([1.7, 0.55, 0.75]);
    expect(r.accuracy).toBeCloseTo(1 / 3, 12);
    expect(r.std).toBeCloseTo(Math.sqrt(2) / 3, 12);
  });

  it('is 1 +- 0 over 10 folds on separable pairs', () => {
    const s = Array.from({ length: 20 }, (_, i) => (i % 2 ? 0.2 + i / 100 : 0.6 + i / 100));
    const r = kFoldAccuracy(
      s,
      s.map((_, i) => i % 2 === 0),
      10,
    );
    expect(r.accuracy).toBe(1);
    expect(r.std).toBe(0);
  });
});

describe('ROC', () => {
  // P = 3, N = 3. From the top: (0,0) 0.9 S (0,1/3) 0.8 S (0,2/3) 0.7 D (1/3,2/3) 0.4 S (1/3,1)
  // 0.3 D (2/3,1) 0.1 D (1,1).
  const roc = rocCurve(scores, same);

  it('has one point per distinct score', () => {
    expect(roc.fpr).toEqual([0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1]);
    expect(roc.tpr).toEqual([0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1]);
    expect(roc.thresholds).toEqual([Infinity, ...scores]);
  });

  it('AUC: 8/9 (same as the share of (S, D) pairs ordered right: 3 + 3 + 2 of 9)', () => {
    // Trapezoids where FPR grows: (1/3)(2/3) + (1/3)(1) + (1/3)(1) = 2/9 + 6/9.
    expect(rocAuc(roc)).toBeCloseTo(8 / 9, 12);
    // A tie between an S and a D counts one half: S 0.5, D 0.5, S 0.9 -> (1 + 0.5) / 2.
    expect(rocAuc(rocCurve([0.5, 0.5, 0.9], [1, 0, 1]))).toBeCloseTo(0.75, 12);
  });

  it('EER: FAR = FRR on the segment (0,2/3) -> (1/3,2/3), at 1/3', () => {
    // FRR = 1 - TPR = 1/3 along the segment; FAR reaches 1/3 at its end.
    expect(equalErrorRate(roc)).toBeCloseTo(1 / 3, 12);
    // Separable: EER 0. Reversed (every D above every S): EER 1.
    expect(equalErrorRate(rocCurve([0.9, 0.1], [1, 0]))).toBe(0);
    expect(equalErrorRate(rocCurve([0.1, 0.9], [1, 0]))).toBe(1);
    // One tie S/D at 0.5 only: the ROC is the diagonal (0,0) -> (1,1), EER 1/2.
    expect(equalErrorRate(rocCurve([0.5, 0.5], [1, 0]))).toBeCloseTo(0.5, 12);
  });

  it('TAR at FAR: the best TPR with FPR <= FAR', () => {
    expect(tarAt(roc, 0)).toBe(2 / 3);
    expect(tarAt(roc, 0.5)).toBe(1);
  });

  it('reports a FAR as null when fewer than 1/FAR different pairs measure it, never NaN', () => {
    // 10 D at 0.0, 0.1, ..., 0.9 and 2 S at 0.95 and 0.55. FAR <= 0.1 allows one D (0.9) above the
    // threshold: the best is at 0.9, passing the S at 0.95 only: TAR 1/2. 1e-2 needs 100 D: null.
    const d = Array.from({ length: 10 }, (_, i) => i / 10);
    const s = [...d, 0.95, 0.55];
    const flags = [...d.map(() => 0), 1, 1];
    const r = tarAtFar(rocCurve(s, flags), 10);
    expect(r).toEqual({ '1e-1': 0.5, '1e-2': null, '1e-3': null, '1e-4': null, '1e-5': null, '1e-6': null });
    const m = verificationMetrics(scores, same, 3);
    expect(Object.values(m.tarAtFar)).toEqual([null, null, null, null, null, null]);
    expect(numbersIn(m).every(Number.isFinite)).toBe(true);
    expect(m).toMatchObject({ pairs: 6, positives: 3, negatives: 3, bestAccuracy: 5 / 6 });
  });

  it('needs same and different pairs', () => {
    expect(() => rocCurve([0.1, 0.2], [1, 1])).toThrow(ShapeError);
    expect(() => rocCurve([0.1, NaN], [1, 0])).toThrow(/NaN/);
    expect(() => rocCurve([0.1], [1, 0])).toThrow(ShapeError);
  });
});

describe('identification', () => {
  it('ranks the true class among the gallery classes', () => {
    // Gallery: class 0 = (1, 0), class 1 = (0, 1), class 2 = (-1, 0).
    // Probe (0.9, 0.1) of class 0: cos 0.99 / 0.11 / -0.99 -> rank 1.
    // Probe (1, 0.2) of class 1: class 0 scores 0.98 > class 1's 0.20 -> rank 2.
    // Probe (0.6, 0.8) of class 2: 0.6 and 0.8 beat class 2's -0.6 -> rank 3.
    const gallery = new Float32Array([1, 0, 0, 1, -1, 0]);
    const probes = new Float32Array([0.9, 0.1, 1, 0.2, 0.6, 0.8]);
    expect(identificationRanks(gallery, [0, 1, 2], probes, [0, 1, 2], 2)).toEqual([1, 2, 3]);
    expect(identificationMetrics(gallery, [0, 1, 2], probes, [0, 1, 2], 2)).toEqual({ probes: 3, galleryClasses: 3, rank1: 1 / 3, rank5: 1 });
  });

  it('rank-5 leaves out a probe ranked 7th; a class scores its best gallery image', () => {
    // 7 classes, gallery image k = unit vector e_k; two more images of class 6 are e_0 + e_6.
    // The probe of class 6 is (6, 5, 4, 3, 2, 1, 0.5): alone, class 6 scores lowest (0.5): rank 7.
    const dim = 7;
    const gallery = new Float32Array(dim * dim);
    for (let k = 0; k < dim; k++) gallery[k * dim + k] = 1;
    const probe = new Float32Array([6, 5, 4, 3, 2, 1, 0.5]);
    const labels = [0, 1, 2, 3, 4, 5, 6];
    expect(identificationRanks(gallery, labels, probe, [6], dim)).toEqual([7]);
    expect(identificationMetrics(gallery, labels, probe, [6], dim)).toMatchObject({ rank1: 0, rank5: 0 });
    // With e_0 + e_6 in class 6, class 6 scores (6 + 0.5) / sqrt(2) = 4.6 (x 1/|p|): above classes 2..6: rank 3.
    const extra = new Float32Array(dim);
    extra[0] = extra[6] = 1;
    const withExtra = new Float32Array([...gallery, ...extra]);
    expect(identificationRanks(withExtra, [...labels, 6], probe, [6], dim)).toEqual([3]);
  });

  it('needs every probe class in the gallery', () => {
    expect(() => identificationRanks(new Float32Array([1, 0]), [0], new Float32Array([1, 0]), [5], 2)).toThrow(ShapeError);
  });
});

describe('flip-averaged embeddings', () => {
  it('mirrors along the width', () => {
    // One image, 1 channel, 2 x 3: rows (1 2 3) (4 5 6) -> (3 2 1) (6 5 4).
    const f = flipWidth(new Float32Array([1, 2, 3, 4, 5, 6]), { channels: 1, height: 2, width: 3 });
    expect(Array.from(f)).toEqual([3, 2, 1, 6, 5, 4]);
  });

  it('is normalize(e(x) + e(flip x)), the same at any batch size', async () => {
    // A fake model: e(x) = (first pixel, last pixel). x = (1 2 3): e = (1, 3), e(flip) = (3, 1),
    // sum (4, 4), normalised (1/sqrt 2, 1/sqrt 2). x = (0 0 5): (0, 5) + (5, 0) -> same. x = (2 0 0):
    // (2, 0) + (0, 2) -> same again; x = (1 0 1): (1, 1) + (1, 1) -> same.
    const calls: number[] = [];
    const embed = async (images: Float32Array, count: number) => {
      calls.push(count);
      return Float32Array.from({ length: count * 2 }, (_, i) => images[Math.floor(i / 2) * 3 + (i % 2 ? 2 : 0)]);
    };
    const images = new Float32Array([1, 2, 3, 0, 0, 5, 2, 0, 0, 1, 0, 1]);
    const shape = { channels: 1, height: 1, width: 3 };
    const all = await flipAveragedEmbeddings(embed, images, 4, shape);
    expect(calls).toEqual([8]);
    expect(all.dim).toBe(2);
    for (const v of all.data) expect(v).toBeCloseTo(Math.SQRT1_2, 6);
    const batched = await flipAveragedEmbeddings(embed, images, 4, shape, 3);
    expect(calls).toEqual([8, 6, 2]);
    expect(batched.data).toEqual(all.data);
    await expect(flipAveragedEmbeddings(embed, images, 5, shape)).rejects.toThrow(ShapeError);
  });
});

describe('all-pairs verification', () => {
  const checkAgainstRoc = (e: Float64Array, labels: number[], dim: number) => {
    const n = labels.length;
    const pairs: number[] = [];
    const same: boolean[] = [];
    for (let a = 0; a < n; a++) {
      for (let b = a + 1; b < n; b++) {
        pairs.push(a, b);
        same.push(labels[a] === labels[b]);
      }
    }
    const negatives = same.filter((s) => !s).length;
    const r = allPairsVerification(e, labels, dim);
    expect(r).toMatchObject({ images: n, positives: same.length - negatives, negatives });
    expect(r.tarAtFar).toEqual(tarAtFar(rocCurve(pairScores(e, dim, pairs), same), negatives));
    expect(r.tarAtFar['1e-3']).not.toBeNull();
    return r;
  };

  it('equals the ROC over every pair, on random embeddings', () => {
    const rng = new Random(freshSeed());
    const labels = Array.from({ length: 150 }, () => rng.int(8));
    const r = checkAgainstRoc(
      Float64Array.from({ length: 150 * 5 }, () => rng.normal() + (rng.int(4) === 0 ? 2 : 0)),
      labels,
      5,
    );
    expect(r.tarAtFar['1e-1']).toBeGreaterThan(0);
  });

  it('equals the ROC over every pair when scores tie', () => {
    // Signed one-hot rows (scaled by 1 or 2): every score is exactly -1, 0 or 1, in both computations.
    const rng = new Random(freshSeed());
    const n = 150,
      dim = 4;
    const e = new Float64Array(n * dim);
    const labels = Array.from({ length: n }, (_, i) => {
      const axis = rng.int(dim);
      e[i * dim + axis] = (rng.int(2) ? 1 : -1) * (1 + rng.int(2));
      return (axis + rng.int(2)) % 5;
    });
    checkAgainstRoc(e, labels, dim);
  });

  it('counts the positives above the (m+1)-th highest negative', () => {
    // Rows on the unit circle at angles 0, 10, 20, 90, 100 degrees; classes A A B B C.
    const rad = (d: number) => (d * Math.PI) / 180;
    const e = new Float64Array([0, 10, 20, 90, 100].flatMap((d) => [Math.cos(rad(d)), Math.sin(rad(d))]));
    const r = allPairsVerification(e, [0, 0, 1, 1, 2], 2);
    // Positives: (0,10) cos 10, (20,90) cos 70. The highest negative is (10,20) at cos 10 (ties the
    // positive, which then cannot pass with no false accept); at FAR 1e-1 of 8 negatives m = 0.
    expect(r).toMatchObject({ positives: 2, negatives: 8 });
    expect(r.tarAtFar['1e-1']).toBeNull();
    expect(() => allPairsVerification(e, [0, 0, 0, 0, 0], 2)).toThrow(ShapeError);
    expect(() => allPairsVerification(e, [0, 1], 2)).toThrow(ShapeError);
  });
});
