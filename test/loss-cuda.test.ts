/**
 * The fused loss on CUDA against the fused CPU path and the float64 truth, for every head type,
 * MV mode, easy margin and mining. Runs where backendInfo().cudaAvailable (a build against a CUDA
 * libtorch, on a machine with a GPU: scripts/gpu-check.sh); elsewhere only the error for
 * device: 'cuda' is checked.
 */
import { describe, expect, it } from 'vitest';
import { thrown } from './expect-error';
import { allHeads } from './heads';
import { backendInfo } from '../lib/native/backend';
import { ConfigError } from '../lib/errors';
import { computeLoss, type HeadConfig, type LossOptions, marginLoss, marginLossAsync } from '../lib/loss/margin-loss';
import { native } from '../lib/native/addon';
import type { NativeLossResult } from '../lib/native/types';
import { makeProblem, type Problem, scenarios, maxAbsTargetCos, maxRelative } from './problems';
import { freshSeed, Random } from './random';

const cuda = backendInfo().cudaAvailable;
const onCuda: LossOptions = { device: 'cuda' };
const seed = freshSeed();

const heads = allHeads;

type Result = NativeLossResult<Float32Array | Float64Array>;

const f32 = (p: Problem, round: (v: number) => number = Math.fround) => ({
  x: { data: Float32Array.from(p.x, round), rows: p.B, cols: p.D },
  w: { data: Float32Array.from(p.w, round), rows: p.C, cols: p.D },
});
const f64 = (p: Problem) => ({ x: { data: p.x, rows: p.B, cols: p.D }, w: { data: p.w, rows: p.C, cols: p.D } });

function run(p: Problem, head: HeadConfig, where: 'cpu64' | 'cpu32' | 'cuda', round?: (v: number) => number, options = onCuda): Result {
  const m = where === 'cpu64' ? f64(p) : f32(p, round);
  return computeLoss('fused', head, m.x, m.w, p.labels, where === 'cuda' ? options : undefined);
}

/** float32 -> bfloat16 -> float32, rounding to nearest even as the GPU's conversion does. */
function bf16(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >>> 16) & 1)) & 0xffff0000;
  return f[0];
}

/** The same problem with inputs rounded, so that every path sees equal inputs. */
function rounded(p: Problem, round: (v: number) => number = Math.fround): Problem {
  return { ...p, x: Float64Array.from(p.x, round), w: Float64Array.from(p.w, round) };
}

/**
 * Loss and gradients within tol (relative to max(1, max |b|)); hard flags equal, or at most
 * `flips` of them apart (float32 cosines from two GEMMs can land either side of mu).
 */
function expectSameResult(a: Result, b: Result, tol: number, what: string, flips = 0, negatives = 1) {
  const at = `${what} (seed ${seed})`;
  expect(Math.abs(a.loss - b.loss) / Math.max(1, Math.abs(b.loss)), `${at} loss`).toBeLessThanOrEqual(tol);
  expect(a.gradEmbeddings.length, at).toBe(b.gradEmbeddings.length);
  expect(a.gradWeight.length, at).toBe(b.gradWeight.length);
  expect(maxRelative(a.gradEmbeddings, b.gradEmbeddings), `${at} gradEmbeddings`).toBeLessThanOrEqual(tol);
  expect(maxRelative(a.gradWeight, b.gradWeight), `${at} gradWeight`).toBeLessThanOrEqual(tol);
  expect(Math.abs(a.hardFraction - b.hardFraction) * negatives, `${at} hard flags`).toBeLessThan(flips + 0.5);
  expect(Math.abs(a.meanTargetCos - b.meanTargetCos), `${at} meanTargetCos`).toBeLessThan(1e-5);
}

function expectFinite(r: Result, what: string) {
  expect(Number.isFinite(r.loss), what).toBe(true);
  expect(r.gradEmbeddings.every(Number.isFinite) && r.gradWeight.every(Number.isFinite), what).toBe(true);
}

const small = () => {
  const p = makeProblem('random', new Random(seed), 4, 6, 8);
  return { ...f32(p), labels: p.labels };
};

describe('device option', () => {
  it.skipIf(cuda)("device: 'cuda' without CUDA -> ConfigError naming 'device'", async () => {
    const { x, w, labels } = small();
    const e = thrown(() => marginLoss({ type: 'mv-arc' }, x, w, labels, onCuda));
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.code).toBe('E_CONFIG');
    expect(e.argument).toBe('device');
    await expect(marginLossAsync({ type: 'mv-arc' }, x, w, labels, onCuda)).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'device' });
    expect(thrown(() => native().cudaMemoryStats()).argument).toBe('device');
  });

  it.skipIf(cuda)("chunkClasses with device: 'cuda' without CUDA -> the same ConfigError naming 'device'", () => {
    const { x, w, labels } = small();
    expect(thrown(() => marginLoss({ type: 'mv-arc' }, x, w, labels, { device: 'cuda', chunkClasses: 2 })).argument).toBe('device');
  });

  it('an unknown device or dtype -> ConfigError naming it; the default is the CPU path', () => {
    const { x, w, labels } = small();
    expect(thrown(() => marginLoss({ type: 'am' }, x, w, labels, { device: 'tpu' as never })).argument).toBe('device');
    expect(thrown(() => marginLoss({ type: 'am' }, x, w, labels, { dtype: 'bfloat16' })).argument).toBe('dtype');
    const plain = marginLoss({ type: 'am' }, x, w, labels);
    const cpu = marginLoss({ type: 'am' }, x, w, labels, { device: 'cpu' });
    expect(cpu.loss).toBe(plain.loss);
    expect(cpu.gradWeight).toEqual(plain.gradWeight);
  });
});

describe.skipIf(!cuda)('fused CUDA path', () => {
  // The head's GEMMs in IEEE float32, as on the CPU: libtorch's default, or MVFACE_TF32=0.
  it('runs with TensorFloat-32 off in cuBLAS', () => expect(backendInfo().tf32.cublas).toBe(false));

  describe.each(heads)('%j', (head) => {
    const rng = new Random(seed ^ (JSON.stringify(head).length * 7919));

    it.each(scenarios)('CUDA == CPU fused == float64 truth on %s inputs', (scenario) => {
      const p = rounded(makeProblem(scenario, rng));
      const truth = run(p, head, 'cpu64');
      const cpu = run(p, head, 'cpu32');
      const gpu = run(p, head, 'cuda');
      expectFinite(gpu, 'cuda');
      expect(Math.abs(gpu.loss - truth.loss) / Math.max(1, truth.loss), `loss vs truth (seed ${seed})`).toBeLessThan(1e-4);
      // Near |g| = 1 the target derivative grows as 1/sin θ: float32 gradients are loose there
      // on any device (see loss.test.ts); elsewhere they match the truth and the CPU.
      if (maxAbsTargetCos(p) < 0.98) {
        expectSameResult(gpu, truth, 2e-4, 'cuda vs float64 truth');
        expectSameResult(gpu, cpu, 2e-4, 'cuda vs cpu float32');
      }
    });

    it('bfloat16 inputs give the float32 result on the bfloat16-rounded inputs', () => {
      const p = rounded(makeProblem('random', rng), bf16);
      const cpu = run(p, head, 'cpu32');
      const gpu = run(p, head, 'cuda', bf16, { device: 'cuda', dtype: 'bfloat16' });
      expectFinite(gpu, 'cuda bfloat16');
      expect(Math.abs(gpu.loss - cpu.loss) / Math.max(1, cpu.loss), `loss (seed ${seed})`).toBeLessThan(1e-4);
      // Gradients are returned in bfloat16: 8 bits of mantissa.
      if (maxAbsTargetCos(p) < 0.98) {
        expect(maxRelative(gpu.gradEmbeddings, cpu.gradEmbeddings), `gradEmbeddings (seed ${seed})`).toBeLessThan(1e-2);
        expect(maxRelative(gpu.gradWeight, cpu.gradWeight), `gradWeight (seed ${seed})`).toBeLessThan(1e-2);
      }
    });
  });

  describe('row layouts: vector and scalar loads, many blocks per row', () => {
    const rng = new Random(seed + 3);
    const head: HeadConfig = { type: 'mv-arc', mode: 'adaptive', easyMargin: true };
    it.each([
      [64, 500, 32],
      [3, 70_001, 16],
      [2, 300_000, 8],
      [1, 16, 4],
    ])('B=%i C=%i D=%i', (B, C, D) => {
      const p = rounded(makeProblem('random', rng, B, C, D));
      expectSameResult(run(p, head, 'cuda'), run(p, head, 'cpu32'), 2e-4, `B=${B} C=${C}`, 3, B * (C - 1));
    });
  });

  describe('class-chunked CUDA loss (chunkClasses) == unchunked', () => {
    const rng = new Random(seed + 5);
    const chunks = [1, 4, 5, 23, 100];

    it.each(heads)('chunks of 1, 4, 5, 23 and 100 of C = 23 == unchunked CUDA == CPU: %j', (head) => {
      const p = rounded(makeProblem('spread', rng, 12, 23, 16));
      const whole = run(p, head, 'cuda');
      const cpu = run(p, head, 'cpu32');
      const negatives = p.B * (p.C - 1);
      for (const chunkClasses of chunks) {
        const r = run(p, head, 'cuda', undefined, { device: 'cuda', chunkClasses });
        expectFinite(r, `chunk ${chunkClasses}`);
        expect(Math.abs(r.loss - whole.loss) / Math.max(1, whole.loss), `chunk ${chunkClasses} loss (seed ${seed})`).toBeLessThan(1e-5);
        if (maxAbsTargetCos(p) < 0.98) {
          expectSameResult(r, whole, 1e-4, `chunk ${chunkClasses} vs unchunked`, 0, negatives);
          expectSameResult(r, cpu, 2e-4, `chunk ${chunkClasses} vs cpu float32`, 0, negatives);
        }
      }
    });

    it.each([
      [64, 500, 32, 128],
      [3, 100_003, 16, 40_000],
      [2, 300_000, 8, 65_537],
    ])('B=%i C=%i D=%i in chunks of %i (several blocks per row, a narrower last chunk)', (B, C, D, chunkClasses) => {
      const head: HeadConfig = { type: 'mv-arc', mode: 'adaptive', easyMargin: true };
      const p = rounded(makeProblem('random', rng, B, C, D));
      const chunked = run(p, head, 'cuda', undefined, { device: 'cuda', chunkClasses });
      expectSameResult(chunked, run(p, head, 'cuda'), 2e-4, `B=${B} C=${C} chunk ${chunkClasses} vs unchunked`, 3, B * (C - 1));
      expectSameResult(chunked, run(p, head, 'cpu32'), 2e-4, `B=${B} C=${C} chunk ${chunkClasses} vs cpu`, 3, B * (C - 1));
    });

    it('bfloat16 inputs, chunked == unchunked (to the bfloat16 gradients)', () => {
      const head: HeadConfig = { type: 'mv-am', mode: 'fixed', mining: { type: 'hm', ratio: 0.75 } };
      const p = rounded(makeProblem('random', rng, 32, 300, 16), bf16);
      const bf: LossOptions = { device: 'cuda', dtype: 'bfloat16' };
      const whole = run(p, head, 'cuda', bf16, bf);
      const chunked = run(p, head, 'cuda', bf16, { ...bf, chunkClasses: 64 });
      expect(Math.abs(chunked.loss - whole.loss) / Math.max(1, whole.loss), `loss (seed ${seed})`).toBeLessThan(1e-5);
      expect(maxRelative(chunked.gradEmbeddings, whole.gradEmbeddings), `gradEmbeddings (seed ${seed})`).toBeLessThan(1e-2);
      expect(maxRelative(chunked.gradWeight, whole.gradWeight), `gradWeight (seed ${seed})`).toBeLessThan(1e-2);
    });

    it('the chunked loss peaks below the unchunked one by most of a B x C buffer', () => {
      const B = 64,
        C = 200_000,
        D = 32;
      const p = makeProblem('random', rng, B, C, D);
      const m = f32(p);
      const peak = (options: LossOptions) => {
        native().cudaMemoryStats(true);
        const base = native().cudaMemoryStats().allocatedBytes;
        marginLoss({ type: 'mv-arc' }, m.x, m.w, p.labels, options);
        return native().cudaMemoryStats().peakAllocatedBytes - base;
      };
      const whole = peak(onCuda);
      const chunked = peak({ device: 'cuda', chunkClasses: 10_000 });
      expect(chunked, `chunked ${chunked} vs unchunked ${whole} bytes`).toBeLessThan(whole - 0.5 * B * C * 4);
    });

    it('async gives the same result as sync; sampleRate stays CPU-only', async () => {
      const p = makeProblem('random', rng, 16, 50, 8);
      const m = f32(p);
      const options: LossOptions = { device: 'cuda', chunkClasses: 7 };
      const sync = marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels, options);
      const asyncResult = await marginLossAsync({ type: 'mv-am' }, m.x, m.w, p.labels, options);
      expect(asyncResult.loss).toBe(sync.loss);
      expect(asyncResult.gradWeight).toEqual(sync.gradWeight);
      const e = thrown(() => marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels, { device: 'cuda', sampleRate: 0.5 }));
      expect([e.code, e.argument]).toEqual(['E_CONFIG', 'device']);
    });
  });

  describe('marginLoss API on CUDA', () => {
    const rng = new Random(seed + 2);
    const p = makeProblem('random', rng, 64, 500, 32);
    const m = f32(p);

    it('async gives the same result as sync', async () => {
      const sync = marginLoss({ type: 'mv-am' }, m.x, m.w, p.labels, onCuda);
      const asyncResult = await marginLossAsync({ type: 'mv-am' }, m.x, m.w, p.labels, onCuda);
      expect(asyncResult.loss).toBe(sync.loss);
      expect(asyncResult.gradWeight).toEqual(sync.gradWeight);
    });

    it('never modifies its inputs and returns Float32Array gradients of the right sizes', () => {
      const x = Float32Array.from(m.x.data);
      const w = Float32Array.from(m.w.data);
      const r = marginLoss({ type: 'arc', scale: 64 }, m.x, m.w, p.labels, onCuda);
      expect(m.x.data).toEqual(x);
      expect(m.w.data).toEqual(w);
      expect(r.gradEmbeddings).toBeInstanceOf(Float32Array);
      expect(r.gradEmbeddings.length).toBe(64 * 32);
      expect(r.gradWeight).toBeInstanceOf(Float32Array);
      expect(r.gradWeight.length).toBe(500 * 32);
    });

    it('bad inputs raise the same typed errors as on the CPU', () => {
      const badLabels = Int32Array.from(p.labels, (v, i) => (i === 3 ? 500 : v));
      expect(thrown(() => marginLoss({ type: 'am' }, m.x, m.w, badLabels, onCuda)).code).toBe('E_LABEL');
      const badW = { ...m.w, data: Float32Array.from(m.w.data, (v, i) => (i === 7 ? NaN : v)) };
      const e = thrown(() => marginLoss({ type: 'am' }, m.x, badW, p.labels, onCuda));
      expect([e.code, e.argument]).toEqual(['E_NONFINITE', 'weight']);
      const f64x = { data: Float64Array.from(m.x.data), rows: 64, cols: 32 };
      expect(thrown(() => computeLoss('fused', { type: 'am' }, f64x, m.w, p.labels, onCuda)).code).toBe('E_SHAPE');
    });

    it('reports the CUDA caching allocator and resets its peak', () => {
      marginLoss({ type: 'mv-arc' }, m.x, m.w, p.labels, onCuda);
      const before = native().cudaMemoryStats(true);
      expect(before.peakAllocatedBytes).toBeGreaterThanOrEqual(64 * 500 * 4);
      expect(before.reservedBytes).toBeGreaterThanOrEqual(before.allocatedBytes);
      const after = native().cudaMemoryStats();
      expect(after.peakAllocatedBytes).toBeLessThanOrEqual(before.peakAllocatedBytes);
    });
  });
});
