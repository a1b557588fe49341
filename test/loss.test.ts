import { describe, expect, it } from 'vitest';
import { allHeads } from './heads';
import { computeLoss, type HeadConfig, marginLoss, marginLossAsync, resolveHeadConfig } from '../lib/loss/margin-loss';
import type { NativeLossResult } from '../lib/native/types';
import { makeProblem, type Problem, rowNorms, scenarios, maxAbsTargetCos, maxRelative, targetCosines } from './problems';
import { freshSeed, Random } from './random';
import { specLoss } from './spec-loss';

const seed = freshSeed();

const heads = allHeads;

const name = (h: HeadConfig) => JSON.stringify(h);
const f32 = (p: Problem) => ({
  x: { data: Float32Array.from(p.x), rows: p.B, cols: p.D },
  w: { data: Float32Array.from(p.w), rows: p.C, cols: p.D },
});
const f64 = (p: Problem) => ({ x: { data: p.x, rows: p.B, cols: p.D }, w: { data: p.w, rows: p.C, cols: p.D } });

function run(path: 'fused' | 'reference', head: HeadConfig, p: Problem, precision: 32 | 64): NativeLossResult<Float32Array | Float64Array> {
  const m = precision === 32 ? f32(p) : f64(p);
  return computeLoss(path, head, m.x, m.w, p.labels);
}

/** max |a - b| <= tol * max(max |b|, 1) */
function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string) {
  expect(a.length, what).toBe(b.length);
  expect(maxRelative(a, b), `${what} (seed ${seed})`).toBeLessThanOrEqual(tol);
}

/** The same problem with inputs rounded to float32, so float32 and float64 runs see equal inputs. */
function roundedToFloat32(p: Problem): Problem {
  return { ...p, x: Float64Array.from(Float32Array.from(p.x)), w: Float64Array.from(Float32Array.from(p.w)) };
}

function expectSameResult(a: NativeLossResult<Float32Array | Float64Array>, b: NativeLossResult<Float32Array | Float64Array>, tol: number, what: string) {
  expect(Math.abs(a.loss - b.loss) / Math.max(1, Math.abs(b.loss)), `${what} loss (seed ${seed})`).toBeLessThanOrEqual(tol);
  expectClose(a.gradEmbeddings, b.gradEmbeddings, tol, `${what} gradEmbeddings`);
  expectClose(a.gradWeight, b.gradWeight, tol, `${what} gradWeight`);
  expect(a.hardFraction, `${what} hardFraction`).toBe(b.hardFraction);
  expect(Math.abs(a.meanTargetCos - b.meanTargetCos)).toBeLessThan(1e-5);
}

const angleHeads = ['arc', 'combined', 'mv-arc', 'sphereface'];

/**
 * The float32 loss error that rounding g = x̂·ŵ_y alone causes in heads with an angle. They map g
 * through θ = acos g, whose slope 1/sin θ is unbounded as |g| -> 1: |Δθ| <= min(|Δg| / sin θ,
 * sqrt(2 |Δg|)). The target logit moves by scale · m · |Δθ|, with m the angle's multiplier (m1,
 * SphereFace's m). The loss moves by at most that per row, times the mining weight's bound. Rounding
 * g in float32 (normalisation, then a D-term dot product) gives |Δg| <= (D + 4) 2^-24. Heads without
 * an angle: 0. Near |g| = 1 this allows much: there the float64 checks carry the proof.
 */
function float32AngleError(head: HeadConfig, p: Problem): number {
  const c = resolveHeadConfig(head);
  if (!angleHeads.includes(c.type)) return 0;
  const multiplier = c.type === 'sphereface' ? c.sphereM : c.type === 'combined' ? c.m1 : 1;
  const mining = c.mining === 'focal' ? 1 + c.focalGamma : c.mining === 'hm' ? 1 / c.hmRatio : 1;
  const norms = rowNorms(p);
  const deltaG = (p.D + 4) * 2 ** -24;
  const perRow = targetCosines(p).map((g, i) => {
    const scale = c.type === 'sphereface' ? norms[i] : c.scale;
    const deltaTheta = Math.min(deltaG / Math.sqrt(Math.max(1 - g * g, 0)), Math.sqrt(2 * deltaG));
    return scale * multiplier * deltaTheta;
  });
  return (mining * perRow.reduce((s, e) => s + e, 0)) / p.B;
}

describe.each(heads)('%j', (head) => {
  const rng = new Random(seed ^ (name(head).length * 7919));

  it.each(scenarios)('fused == ATen reference == float64 SPEC on %s inputs', (scenario) => {
    const p = roundedToFloat32(makeProblem(scenario, rng));
    const truth = run('reference', head, p, 64);
    const fused64 = run('fused', head, p, 64);
    expectSameResult(fused64, truth, 1e-10, 'fused64 vs reference64');
    const spec = specLoss(resolveHeadConfig(head), p);
    expect(Math.abs(fused64.loss - spec.loss) / Math.max(1, spec.loss), `loss vs SPEC (seed ${seed})`).toBeLessThan(1e-10);
    expect(fused64.hardFraction).toBe(spec.hard);
    expect(fused64.meanTargetCos).toBeCloseTo(spec.targetCos, 10);
    // float32: the SPEC's target derivative grows as 1/sin θ (arc, combined), which turns float32
    // rounding of g into large gradient errors near |g| = 1 in any float32 code; there the float64
    // checks above carry the proof, and float32 must give the loss (within what rounding g allows)
    // and finite gradients.
    const fused32 = run('fused', head, p, 32);
    const lossError = Math.abs(fused32.loss - truth.loss) - float32AngleError(head, p);
    expect(lossError / Math.max(1, truth.loss), `float32 loss (seed ${seed})`).toBeLessThan(1e-4);
    expect(fused32.gradEmbeddings.every(Number.isFinite) && fused32.gradWeight.every(Number.isFinite)).toBe(true);
    if (maxAbsTargetCos(p) < 0.98) expectSameResult(fused32, truth, 2e-4, 'fused32 vs float64 truth');
  });

  it('gradients match finite differences of the float64 SPEC', () => {
    const p = makeProblem('spread', rng);
    const config = resolveHeadConfig(head);
    const fused = run('fused', head, p, 64);
    const h = 1e-6;
    for (const [array, grad] of [
      [p.x, fused.gradEmbeddings],
      [p.w, fused.gradWeight],
    ] as const) {
      for (let n = 0; n < 8; n++) {
        const j = rng.int(array.length);
        const keep = array[j];
        array[j] = keep + h;
        const up = specLoss(config, p).loss;
        array[j] = keep - h;
        const down = specLoss(config, p).loss;
        array[j] = keep;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(fd - grad[j]), `d/d[${j}] fd ${fd} vs ${grad[j]} (seed ${seed})`).toBeLessThan(1e-6 * (1 + Math.abs(fd)) + 2e-7);
      }
    }
  });
});

describe('MV-Softmax special cases', () => {
  const rng = new Random(seed + 1);

  it('fixed t = 0 and adaptive t = 1 are exactly the plain margin loss', () => {
    for (const margin of ['am', 'arc'] as const) {
      const p = f32(makeProblem('spread', rng, 32, 20, 16));
      const labels = Int32Array.from({ length: 32 }, () => rng.int(20));
      const plain = marginLoss({ type: margin }, p.x, p.w, labels);
      for (const mv of [
        { mode: 'fixed', t: 0 },
        { mode: 'adaptive', t: 1 },
      ] as const) {
        const r = marginLoss({ type: `mv-${margin}`, ...mv }, p.x, p.w, labels);
        expect(r.hardFraction).toBeGreaterThan(0);
        expect(r.loss).toBe(plain.loss);
        expect(r.gradEmbeddings).toEqual(plain.gradEmbeddings);
        expect(r.gradWeight).toEqual(plain.gradWeight);
      }
    }
  });

  it('flags every negative when every class is hard and none when none is', () => {
    for (const type of ['mv-am', 'mv-arc'] as const) {
      const all = f32(makeProblem('all-hard', rng));
      expect(marginLoss({ type }, all.x, all.w, new Int32Array(12)).hardFraction).toBe(1);
      const none = makeProblem('none-hard', rng);
      const m = f32(none);
      expect(marginLoss({ type }, m.x, m.w, none.labels).hardFraction).toBe(0);
    }
  });

  it('re-weighting raises the loss of hard negatives (adaptive t > 1, fixed t > 0)', () => {
    const p = makeProblem('random', rng);
    const m = f32(p);
    const plain = marginLoss({ type: 'am' }, m.x, m.w, p.labels).loss;
    expect(marginLoss({ type: 'mv-am', mode: 'adaptive', t: 1.2 }, m.x, m.w, p.labels).loss).toBeGreaterThan(plain);
    expect(marginLoss({ type: 'mv-am', mode: 'fixed', t: 0.2 }, m.x, m.w, p.labels).loss).toBeGreaterThan(plain);
  });
});

describe('marginLoss API', () => {
  const rng = new Random(seed + 2);
  const p = makeProblem('random', rng, 64, 500, 32);
  const m = f32(p);

  it('fused == reference at a larger size', () => {
    const head: HeadConfig = { type: 'mv-arc' };
    expectSameResult(computeLoss('fused', head, m.x, m.w, p.labels), computeLoss('reference', head, m.x, m.w, p.labels), 2e-4, 'large');
  });

  it('async gives the same result as sync and leaves the event loop free', async () => {
    const sync = marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const big = makeProblem('random', rng, 256, 20000, 64);
    const bigM = f32(big);
    const [asyncResult] = await Promise.all([
      marginLossAsync({ type: 'mv-am' }, m.x, m.w, p.labels),
      marginLossAsync({ type: 'mv-am' }, bigM.x, bigM.w, big.labels),
    ]);
    clearInterval(timer);
    expect(asyncResult.loss).toBe(sync.loss);
    expect(asyncResult.gradWeight).toEqual(sync.gradWeight);
    expect(ticks).toBeGreaterThan(0);
  });

  it('never modifies its inputs', () => {
    const x = Float32Array.from(m.x.data);
    const w = Float32Array.from(m.w.data);
    const labels = Int32Array.from(p.labels);
    marginLoss({ type: 'mv-arc', mode: 'fixed' }, m.x, m.w, p.labels);
    expect(m.x.data).toEqual(x);
    expect(m.w.data).toEqual(w);
    expect(p.labels).toEqual(labels);
  });

  it('returns Float32Array gradients of the right sizes', () => {
    const r = marginLoss({ type: 'arc', scale: 64 }, m.x, m.w, p.labels);
    expect(r.gradEmbeddings).toBeInstanceOf(Float32Array);
    expect(r.gradEmbeddings.length).toBe(64 * 32);
    expect(r.gradWeight.length).toBe(500 * 32);
    expect(Number.isFinite(r.loss)).toBe(true);
  });
});

describe('class-chunked loss and Partial FC (CPU)', () => {
  const rng = new Random(seed + 3);

  it.each(heads)('chunked == unchunked: %j', (head) => {
    const p = makeProblem('spread', rng, 12, 23, 16);
    const m = f32(p);
    const whole = marginLoss(head, m.x, m.w, p.labels);
    for (const chunkClasses of [1, 5, 23, 100]) {
      const r = marginLoss(head, m.x, m.w, p.labels, { chunkClasses });
      expect(Math.abs(r.loss - whole.loss) / Math.max(1, whole.loss), `chunk ${chunkClasses}`).toBeLessThan(1e-6);
      expect(r.hardFraction).toBe(whole.hardFraction);
      expectClose(r.gradEmbeddings, whole.gradEmbeddings, 1e-5, `chunk ${chunkClasses} gradEmbeddings`);
      expectClose(r.gradWeight, whole.gradWeight, 1e-5, `chunk ${chunkClasses} gradWeight`);
    }
  });

  it('chunked == unchunked in float64 to 1e-12', () => {
    const p = makeProblem('random', rng, 10, 31, 8);
    const m = f64(p);
    const head: HeadConfig = { type: 'mv-arc', mode: 'fixed', mining: { type: 'focal' } };
    const whole = computeLoss('fused', head, m.x, m.w, p.labels);
    const chunked = computeLoss('fused', head, m.x, m.w, p.labels, { chunkClasses: 4 });
    expect(Math.abs(chunked.loss - whole.loss)).toBeLessThan(1e-12);
    expectClose(chunked.gradWeight, whole.gradWeight, 1e-12, 'float64 chunked gradWeight');
  });

  it('Partial FC with rate 1 is the full head, exactly', () => {
    const p = makeProblem('random', rng, 16, 40, 12);
    const m = f32(p);
    const full = marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels);
    const pfc = marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels, { sampleRate: 1, sampleSeed: 3 });
    expect(pfc.loss).toBe(full.loss);
    expect(pfc.gradWeight).toEqual(full.gradWeight);
    expect(pfc.gradEmbeddings).toEqual(full.gradEmbeddings);
  });

  it('Partial FC samples the positives plus rate of the others, seeded, and is the loss over them', () => {
    const B = 16,
      C = 200,
      D = 12;
    const p = makeProblem('random', rng, B, C, D);
    const m = f32(p);
    const rowsWithGradient = (g: Float32Array) => Array.from({ length: C }, (_, k) => k).filter((k) => g.subarray(k * D, (k + 1) * D).some((v) => v !== 0));
    const a = marginLoss({ type: 'mv-arc' }, m.x, m.w, p.labels, { sampleRate: 0.1, sampleSeed: 7 });
    const again = marginLoss({ type: 'mv-arc' }, m.x, m.w, p.labels, { sampleRate: 0.1, sampleSeed: 7 });
    const other = marginLoss({ type: 'mv-arc' }, m.x, m.w, p.labels, { sampleRate: 0.1, sampleSeed: 8 });
    const sampled = rowsWithGradient(a.gradWeight);
    const positives = new Set(p.labels);
    expect(sampled.length).toBe(positives.size + Math.ceil(0.1 * (C - positives.size)));
    for (const y of positives) expect(sampled).toContain(y);
    expect(again.loss).toBe(a.loss);
    expect(rowsWithGradient(other.gradWeight)).not.toEqual(sampled);
    const sub = { data: Float32Array.from(sampled.flatMap((k) => Array.from(m.w.data.subarray(k * D, (k + 1) * D)))), rows: sampled.length, cols: D };
    const local = Int32Array.from(p.labels, (y) => sampled.indexOf(y));
    const direct = marginLoss({ type: 'mv-arc' }, m.x, sub, local);
    expect(a.loss).toBe(direct.loss);
    expect(a.gradEmbeddings).toEqual(direct.gradEmbeddings);
  });

  it('rejects bad chunk and sampling options', () => {
    const p = makeProblem('random', rng, 4, 6, 4);
    const m = f32(p);
    expect(() => marginLoss({ type: 'am' }, m.x, m.w, p.labels, { chunkClasses: -1 })).toThrow(/chunkClasses/);
    expect(() => marginLoss({ type: 'am' }, m.x, m.w, p.labels, { sampleRate: 0 })).toThrow(/sampleRate/);
    expect(() => marginLoss({ type: 'am' }, m.x, m.w, p.labels, { sampleRate: 1.5 })).toThrow(/sampleRate/);
  });
});
