/**
 * How the step runs: the fused batch norm (the CPU's default) and channels-last against the
 * contiguous modules, and the static step (what a CUDA graph captures, run uncaptured on the CPU)
 * against the eager step.
 */
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo } from '../lib/native/backend';
import type { BackboneConfig } from '../lib/model/backbones';
import { ConfigError, NonFiniteError } from '../lib/errors';
import { native } from '../lib/native/addon';
import { type StepInfo, Trainer } from '../lib/train/trainer';
import { thrown } from './expect-error';
import { maxRelDiff } from './train-run';
import { data, epochMeans, losses, smallRuns, train } from './small-runs';

const cuda = backendInfo().cudaAvailable;
const { runsDir, tiny } = smallRuns('step');
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

describe('fusedNorm', () => {
  const face: BackboneConfig = { name: 'mobilefacenet', inputSize: 16, inChannels: 1, embeddingSize: 32 };
  const faceData = { ...data, height: 16, width: 16 } as const;

  // Deep float32 gradients differ from run to run in their last bits, and the MV head's
  // few-sample batches amplify that over steps, so the steps are compared at the first (the same
  // forward) and by learning; the gradients themselves are checked against float64, whole
  // backbones included, by test/fused-norm.test.ts (and the emulated CUDA kernels by scripts/check-cuda-emulated.sh).
  const iresnet: BackboneConfig = { name: 'iresnet18', inputSize: 16, inChannels: 1, embeddingSize: 32 };
  describe.each([face, iresnet])('runs on the CPU: $name', (backbone) => {
    it.each([
      ['fp32', 1e-5],
      ['bf16', 2e-2],
    ] as const)('%s, NCHW and channels-last', async (precision, tolerance) => {
      for (const channelsLast of [false, true]) {
        const over = { backbone, data: faceData, epochs: 2, precision, channelsLast, device: 'cpu', optimizer: { lr: 0.01 } } as const;
        const plain = await train(tiny({ ...over, fusedNorm: false }));
        const fused = await train(tiny({ ...over, fusedNorm: true }));
        expect([plain.fusedNorm, fused.fusedNorm]).toEqual([false, true]);
        expect(maxRelDiff(losses(fused).slice(0, 1), losses(plain).slice(0, 1))).toBeLessThan(tolerance);
        expect(fused.steps.every((s) => Number.isFinite(s.loss))).toBe(true);
        const [first, last] = epochMeans(fused);
        expect(last).toBeLessThan(first);
      }
    });
  });

  it('is off for the small net, which has no PReLU or residual after its batch norms', async () => {
    const small = await Trainer.create(tiny({ epochs: 1, fusedNorm: true }));
    expect(small.fusedNorm).toBe(false);
    small.dispose();
  });

  it('is on by default on the CPU; fusedNorm: false turns it off', async () => {
    for (const [fusedNorm, on] of [
      [undefined, true],
      [false, false],
      [true, true],
    ] as const) {
      const trainer = await Trainer.create(tiny({ backbone: face, data: faceData, epochs: 1, device: 'cpu', fusedNorm }));
      try {
        expect(trainer.fusedNorm).toBe(on);
      } finally {
        trainer.dispose();
      }
    }
  });

  it.skipIf(cuda)('its benchmark (cudaNormBench) needs CUDA: a ConfigError naming the device, or the bad option', () => {
    const layer = { N: 2, C: 3, H: 4, W: 4, dtype: 'bf16', channelsLast: false, prelu: true, residual: false, repeats: 1 } as const;
    expect(thrown(() => native().cudaNormBench(layer)).argument).toBe('device');
    expect(thrown(() => native().cudaNormBench({ ...layer, dtype: 'fp16' as never })).argument).toBe('dtype');
    expect(thrown(() => native().cudaNormBench({ ...layer, N: 0 })).argument).toBe('N');
    // The binding has no defaults of its own: every field is required.
    const { residual, ...withoutResidual } = layer;
    expect(thrown(() => native().cudaNormBench(withoutResidual as never)).argument).toBe('residual');
    expect(thrown(() => native().cudaNormBench({ ...layer, repeats: undefined } as never)).argument).toBe('repeats');
  });
});

describe('channels-last', () => {
  const rgb: BackboneConfig = { name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 32 };
  const rgbData = { ...data, channels: 3 } as const;

  it('stores the convolution weights NHWC, and they stay so through training', async () => {
    for (const channelsLast of [false, true]) {
      const trainer = await Trainer.create(tiny({ backbone: rgb, data: rgbData, epochs: 1, channelsLast }));
      try {
        expect(trainer.channelsLastWeights).toBe(channelsLast);
        await trainer.fit();
        expect(trainer.channelsLastWeights).toBe(channelsLast);
      } finally {
        trainer.dispose();
      }
    }
  });

  it('gives the step results of the contiguous layout on the CPU', async () => {
    const a = await train(tiny({ backbone: rgb, data: rgbData, epochs: 1 }));
    const b = await train(tiny({ backbone: rgb, data: rgbData, epochs: 1, channelsLast: true }));
    expect(maxRelDiff(losses(b), losses(a))).toBeLessThan(1e-4);
    expect(b.steps.map((s) => s.meanTargetCos)).toEqual(a.steps.map((s) => expect.closeTo(s.meanTargetCos, 4)));
  });
});

describe('static step: the code a CUDA graph captures, run uncaptured on the CPU', () => {
  const modes = (r: { steps: StepInfo[] }) => [...new Set(r.steps.map((s) => s.stepMode))];
  const embedAll = async (trainer: Trainer) =>
    trainer.embed(
      new Float32Array(4 * 28 * 28).map((_, i) => Math.sin(i)),
      4,
    );

  it('gives the eager step results: loss, statistics, SGD with momentum and decay, accuracy', async () => {
    for (const head of [{ type: 'mv-arc', mode: 'adaptive' }, { type: 'softmax' }] as const) {
      const eager = await train(tiny({ head, evalData: data }));
      const graphed = await train(tiny({ head, evalData: data, staticStep: true }));
      expect(modes(eager)).toEqual(['eager']);
      expect(modes(graphed)).toEqual(['static']);
      expect(maxRelDiff(losses(graphed), losses(eager))).toBeLessThan(1e-5);
      expect(graphed.steps.map((s) => s.hardFraction)).toEqual(eager.steps.map((s) => expect.closeTo(s.hardFraction, 9)));
      expect(graphed.steps.map((s) => s.meanTargetCos)).toEqual(eager.steps.map((s) => expect.closeTo(s.meanTargetCos, 5)));
      expect(graphed.accuracy).toBe(eager.accuracy);
    }
  });

  it('gives the eager step results in bf16 autocast with channels-last', async () => {
    const rgb: BackboneConfig = { name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 32 };
    const over = { backbone: rgb, data: { ...data, channels: 3 } as const, epochs: 1, precision: 'bf16', channelsLast: true } as const;
    const eager = await train(tiny(over));
    const graphed = await train(tiny({ ...over, staticStep: true }));
    expect(modes(graphed)).toEqual(['static']);
    expect(maxRelDiff(losses(graphed), losses(eager))).toBeLessThan(1e-5);
  });

  it('steps eagerly when the head config changes (SphereFace anneals lambda every step)', async () => {
    const head = { type: 'sphereface' } as const;
    const eager = await train(tiny({ head, epochs: 1 }));
    const mixed = await train(tiny({ head, epochs: 1, staticStep: true }));
    expect(mixed.steps.map((s) => s.stepMode)).toEqual(['static', ...eager.steps.slice(1).map(() => 'eager')]);
    expect(maxRelDiff(losses(mixed), losses(eager))).toBeLessThan(1e-5);
  });

  it('a diverging loss stops it before the update, as the eager step', async () => {
    const stops: Array<{ message: string; embeddings: Float32Array }> = [];
    for (const staticStep of [false, true]) {
      const trainer = await Trainer.create(tiny({ head: { type: 'mv-arc', scale: 1e308 }, staticStep }));
      const e = await trainer.fit().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(NonFiniteError);
      stops.push({ message: (e as Error).message, embeddings: await embedAll(trainer) });
      trainer.dispose();
    }
    expect(stops[1].message).toBe(stops[0].message);
    expect(stops[1].message).toMatch(/at step \d+/);
    expect(stops[1].embeddings.every(Number.isFinite)).toBe(true);
    expect(Array.from(stops[1].embeddings)).toEqual(Array.from(stops[0].embeddings).map((v) => expect.closeTo(v, 4)));
  });

  it('runs the loss scaler as the eager step: the same scales, growth, skipped steps and losses', async () => {
    const settings = [
      { initScale: 2 ** 16, growthInterval: 3 }, // grows every 3 steps
      { initScale: 2 ** 140, backoffFactor: 2 ** -20, growthInterval: 1000 }, // overflows first: skipped
    ];
    for (const lossScale of settings) {
      const eager = await train(tiny({ lossScale }));
      const graphed = await train(tiny({ lossScale, staticStep: true }));
      expect(modes(graphed)).toEqual(['static']);
      expect(graphed.steps.map((s) => [s.lossScale, s.updateSkipped])).toEqual(eager.steps.map((s) => [s.lossScale, s.updateSkipped]));
      expect(maxRelDiff(losses(graphed), losses(eager))).toBeLessThan(1e-5);
    }
    const overflowed = await train(tiny({ lossScale: settings[1], staticStep: true }));
    expect(overflowed.steps.slice(0, 2).map((s) => [s.lossScale, s.updateSkipped])).toEqual([
      [2 ** 140, true],
      [2 ** 120, false],
    ]);
  });

  it('refuses what the captured step cannot do: focal or hm mining', async () => {
    const trainer = await Trainer.create(tiny({ staticStep: true, head: { type: 'mv-arc', mining: { type: 'focal' } } }));
    const mined = await trainer.fit().catch((x: unknown) => x);
    trainer.dispose();
    expect(mined).toBeInstanceOf(ConfigError);
    expect((mined as Error).message).toMatch(/mining/);
  });
});
