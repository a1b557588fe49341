/**
 * Mixed precision and the Trainer's device options: bf16 autocast against fp32 on the CPU, the loss
 * scaler's exactness, skip and back-off and its checkpointed state, TensorFloat-32 and cuDNN flags,
 * and the typed errors for what needs CUDA. The same on CUDA: test/trainer-cuda.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo } from '../lib/native/backend';
import { ConfigError } from '../lib/errors';
import { resolvePrecisionOptions } from '../lib/train/precision';
import { type TrainConfig, Trainer } from '../lib/train/trainer';
import { thrown } from './expect-error';
import { maxRelDiff } from './train-run';
import { data, epochMeans, losses, mean, smallRuns, train } from './small-runs';

const cuda = backendInfo().cudaAvailable;
const { runsDir, tiny } = smallRuns('precision');
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

describe('precision options', () => {
  it('resolve with defaults: no scaler except for fp16', () => {
    expect(resolvePrecisionOptions({})).toEqual({
      precision: 'fp32',
      channelsLast: false,
      fusedNorm: undefined,
      cudnnBenchmark: true,
      cudaGraph: false,
      staticStep: false,
    });
    expect(resolvePrecisionOptions({ fusedNorm: true }).fusedNorm).toBe(true);
    expect(resolvePrecisionOptions({ fusedNorm: false }).fusedNorm).toBe(false);
    expect(resolvePrecisionOptions({ cudnnBenchmark: false }).cudnnBenchmark).toBe(false);
    expect(resolvePrecisionOptions({ precision: 'fp16' }).lossScale).toEqual({ initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 });
    expect(resolvePrecisionOptions({ precision: 'fp16', lossScale: false }).lossScale).toBeUndefined();
    expect(resolvePrecisionOptions({ precision: 'bf16', lossScale: { initScale: 8 } }).lossScale?.initScale).toBe(8);
  });

  it('refuse bad values with a ConfigError naming the option', () => {
    const cases: Array<[Parameters<typeof resolvePrecisionOptions>[0], string]> = [
      [{ precision: 'fp8' as never }, 'precision'],
      [{ channelsLast: 'yes' as never }, 'channelsLast'],
      [{ fusedNorm: 'on' as never }, 'fusedNorm'],
      [{ cudnnBenchmark: 1 as never }, 'cudnnBenchmark'],
      [{ lossScale: { backoffFactor: 1 } }, 'backoffFactor'],
      [{ lossScale: { growthInterval: 0.5 } }, 'growthInterval'],
      [{ lossScale: { initScale: -1 } }, 'initScale'],
      [{ lossScale: { bogus: 1 } as never }, 'bogus'],
    ];
    for (const [config, argument] of cases) {
      const e = thrown(() => resolvePrecisionOptions(config));
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).argument).toBe(argument);
    }
  });

  it.skipIf(cuda)('fp16 and cudaGraph without CUDA: a ConfigError that says why', async () => {
    for (const [over, argument, words] of [
      [{ precision: 'fp16' }, 'precision', /'cuda' only.*bf16/],
      [{ precision: 'fp16', device: 'auto' }, 'precision', /'cuda' only/],
      [{ cudaGraph: true }, 'cudaGraph', /need device 'cuda'/],
    ] as const) {
      const e = await Trainer.create(tiny(over as Partial<TrainConfig>)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).argument).toBe(argument);
      expect((e as Error).message).toMatch(words);
    }
  });
});

describe('bf16 autocast on the CPU', () => {
  it('tracks fp32 and learns', async () => {
    const fp32 = await train(tiny({ epochs: 5, evalData: data }));
    const bf16 = await train(tiny({ epochs: 5, evalData: data, precision: 'bf16' }));
    expect(bf16.steps).toHaveLength(fp32.steps.length);
    // Same batches, bf16 convolutions: the first steps agree closely; per-step losses then wander
    // (small batches), so the curves are compared per epoch, against the scale of the initial loss.
    expect(maxRelDiff(losses(bf16).slice(0, 3), losses(fp32).slice(0, 3))).toBeLessThan(0.05);
    expect(losses(bf16).slice(0, 3)).not.toEqual(losses(fp32).slice(0, 3)); // autocast did run
    const a = epochMeans(fp32);
    const b = epochMeans(bf16);
    expect(Math.max(...b.map((v, i) => Math.abs(v - a[i])))).toBeLessThan(0.15 * a[0]);
    expect(b[b.length - 1]).toBeLessThan(0.3 * b[0]);
    expect(bf16.accuracy).toBeGreaterThan(0.7);
    expect(bf16.steps.every((s) => s.lossScale === 1 && !s.updateSkipped)).toBe(true);
  });
});

describe('dynamic loss scaler (fp32 on the CPU)', () => {
  it('changes nothing while the gradients stay finite, and grows after growthInterval steps', async () => {
    const plain = await train(tiny());
    const scaled = await train(tiny({ lossScale: { initScale: 2 ** 16, growthInterval: 3 } }));
    expect(maxRelDiff(losses(scaled), losses(plain))).toBeLessThan(1e-5);
    expect(scaled.steps.map((s) => s.lossScale).slice(0, 7)).toEqual([16, 16, 16, 17, 17, 17, 18].map((e) => 2 ** e));
    expect(scaled.steps.some((s) => s.updateSkipped)).toBe(false);
  });

  it('skips the step and backs off when the scaled gradients overflow', async () => {
    const config = tiny({ lossScale: { initScale: 2 ** 140, backoffFactor: 2 ** -20, growthInterval: 1000 } });
    const r = await train(config);
    expect(r.steps[0]).toMatchObject({ updateSkipped: true, lossScale: 2 ** 140 });
    expect(r.steps[1]).toMatchObject({ updateSkipped: false, lossScale: 2 ** 120 });
    expect(r.steps.slice(1).every((s) => !s.updateSkipped && s.lossScale === 2 ** 120)).toBe(true);
    expect(mean(losses(r).slice(-3))).toBeLessThan(mean(losses(r).slice(0, 3)));
    const log = fs
      .readFileSync(path.join(runsDir, config.name, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.find((l) => l.event === 'step' && l.step === 1)).toMatchObject({ updateSkipped: true, lossScale: 2 ** 140 });
  });

  it('resumes with the scale and growth count of the checkpoint', async () => {
    const over = { lossScale: { initScale: 4, growthInterval: 3 }, epochs: 2 };
    const straight = await train(tiny(over));
    const name = tiny().name;
    const first = await train(tiny({ ...over, name }), 4);
    const rest = await train(tiny({ ...over, name }), undefined, true);
    const both = [...first.steps, ...rest.steps];
    expect(both.map((s) => [s.step, s.lossScale, s.loss])).toEqual(straight.steps.map((s) => [s.step, s.lossScale, s.loss]));
  });
});

describe('tf32', () => {
  it('sets the process-wide TensorFloat-32 flags of cuDNN and cuBLAS when a Trainer is created; unset leaves them', async () => {
    for (const tf32 of [false, true, undefined, false, undefined]) {
      const before = backendInfo().tf32;
      const trainer = await Trainer.create(tiny({ epochs: 1, tf32 }));
      trainer.dispose();
      expect(backendInfo().tf32).toEqual(tf32 === undefined ? before : { cudnn: tf32, cublas: tf32 });
    }
    expect(thrown(() => resolvePrecisionOptions({ tf32: 'yes' as never })).argument).toBe('tf32');
  });
});

describe('cudnnBenchmark', () => {
  it('sets the process-wide cuDNN benchmark flag when a Trainer is created (default on)', async () => {
    for (const cudnnBenchmark of [false, undefined, false, true]) {
      const trainer = await Trainer.create(tiny({ epochs: 1, cudnnBenchmark }));
      try {
        expect(trainer.cudnnBenchmark).toBe(cudnnBenchmark ?? true);
      } finally {
        trainer.dispose();
      }
    }
  });
});
