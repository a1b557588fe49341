/**
 * Mixed precision, the loss scaler, channels-last and the device options of the Trainer.
 * On the CPU: bf16 autocast against fp32, the scaler's exactness, skip and back-off, its checkpointed
 * state, channels-last against contiguous, the static step (what cudaGraph captures, run uncaptured)
 * against the eager step, and the typed errors for what needs CUDA. The same on CUDA:
 * test/trainer-cuda.test.ts.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo } from '../lib/native/backend';
import type { BackboneConfig } from '../lib/model/backbones';
import { benchTrainStep } from '../lib/bench/train-bench';
import { ConfigError, NonFiniteError } from '../lib/errors';
import { native } from '../lib/native/addon';
import { resolvePrecisionOptions } from '../lib/train/precision';
import { type StepInfo, type TrainConfig, Trainer } from '../lib/train/trainer';
import { thrown } from './expect-error';
import { configMaker, maxRelDiff, trainRun } from './train-run';

const cuda = backendInfo().cudaAvailable;
const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-precision-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const small: BackboneConfig = { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 32 };
const data = { kind: 'synthetic', classes: 6, perClass: 16, height: 28, width: 28, channels: 1, seed: 5 } as const;
const tiny = configMaker('p', {
  runsDir,
  backbone: small,
  head: { type: 'mv-arc', mode: 'adaptive' },
  data,
  epochs: 2,
  batchSize: 16,
  optimizer: { lr: 0.05 },
  seed: 11,
  workers: 2,
  device: 'cpu',
});

const train = (config: TrainConfig, abortAt?: number, resume = false) => trainRun(config, { abortAt, resume });

const losses = (r: { steps: StepInfo[] }) => r.steps.map((s) => s.loss);
const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
const epochMeans = (r: { steps: StepInfo[] }) =>
  [...new Set(r.steps.map((s) => s.epoch))].map((e) => mean(r.steps.filter((s) => s.epoch === e).map((s) => s.loss)));

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

describe('fusedNorm', () => {
  const face: BackboneConfig = { name: 'mobilefacenet', inputSize: 16, inChannels: 1, embeddingSize: 32 };
  const faceData = { ...data, height: 16, width: 16 } as const;

  // Deep float32 gradients differ from run to run in their last bits, and the MV head's
  // few-sample batches amplify that over steps, so the steps are compared at the first (the same
  // forward) and by learning; the gradients themselves are checked against float64, whole
  // backbones included, by scripts/check-cuda-emulated.sh (native/core/cuda/emulation/check_norm.cpp).
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
    expect(thrown(() => native().cudaNormBench({ N: 2, C: 3, H: 4, W: 4 })).argument).toBe('device');
    expect(thrown(() => native().cudaNormBench({ N: 2, C: 3, H: 4, W: 4, dtype: 'fp16' as never })).argument).toBe('dtype');
    expect(thrown(() => native().cudaNormBench({ N: 0, C: 3, H: 4, W: 4 })).argument).toBe('N');
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

describe('bench train', () => {
  it('reports samples/s, peak memory, the pipeline alone and a memory series', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-data-'));
    try {
      const lines: string[] = [];
      const r = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 2,
        warmup: 1,
        classes: 10,
        device: 'cpu',
        workers: 2,
        pipeline: 'recordio',
        pipelineImages: 48,
        dataDir,
        memorySteps: 4,
        log: (line) => lines.push(line),
      });
      expect(r).toMatchObject({ device: 'cpu', backbone: 'small', batch: 8, precision: 'fp32', head: 'mv-arc', steps: 2 });
      expect(r.samplesPerSecond).toBeGreaterThan(0);
      // The native step is timed inside each step's wall time and is most of it here; the rest
      // (Node and the loop) is what is left, so it is positive.
      expect(r.split.nativeMs).toBeGreaterThan(0.5 * r.stepMs);
      expect(r.split.dataMs).toBeGreaterThanOrEqual(0);
      expect(r.split.restMs).toBeGreaterThan(0);
      expect(r.peakMemory.kind).toBe('host-rss');
      expect(r.peakMemory.bytes).toBeGreaterThan(10 * 2 ** 20);
      expect(r.pipeline?.samplesPerSecond).toBeGreaterThan(0);
      expect(r.pipeline?.versusStep).toBeCloseTo(r.pipeline!.samplesPerSecond / r.samplesPerSecond, 6);
      expect(r.memoryCheck?.samples.map((s) => s.step)).toEqual([1, 2, 3, 4]);
      expect(r.memoryCheck?.samples.every((s) => s.rssBytes > 0 && s.deviceBytes === undefined)).toBe(true);
      // The long run says where it is at every sample.
      expect(lines.filter((l) => l.includes('memory at step'))).toEqual(
        r.memoryCheck!.samples.map((s) => `bench train: memory at step ${s.step} of 4: host RSS ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB`),
      );
      const imagefolder = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 1,
        warmup: 1,
        classes: 10,
        device: 'cpu',
        workers: 2,
        pipeline: 'imagefolder',
        pipelineImages: 16,
        dataDir,
      });
      expect(imagefolder.pipeline?.kind).toBe('imagefolder');
      expect(fs.readdirSync(path.join(dataDir, 'imagefolder-16-32')).filter((d) => d.startsWith('id'))).toHaveLength(16);
      // Training on the generated RecordIO JPEGs: one epoch holds every step, so no epoch-end checkpoint is timed.
      const jpegs = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 3,
        warmup: 1,
        classes: 12,
        device: 'cpu',
        workers: 2,
        pipeline: 'none',
        source: 'recordio',
        pipelineImages: 16,
        dataDir,
      });
      expect(jpegs).toMatchObject({ source: 'recordio', workers: 2, classes: 12, steps: 3 });
      expect(jpegs.samplesPerSecond).toBeGreaterThan(0);
      const records = fs
        .readFileSync(path.join(dataDir, 'recordio-40-32-12', 'train.idx'), 'utf8')
        .trim()
        .split('\n');
      expect(records).toHaveLength((1 + 3 + 1) * 8);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('mvface bench train (CLI)', () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
  it('prints the step, memory and pipeline lines and writes --json; refuses what the machine cannot run', async () => {
    const json = path.join(runsDir, 'bench.json');
    const args = [
      cli,
      'bench',
      'train',
      '--backbone',
      'small',
      '--input-size',
      '32',
      '--batch',
      '8',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--classes',
      '10',
      '--device',
      'cpu',
      '--pipeline-images',
      '16',
      '--workers',
      '2',
      '--json',
      json,
    ];
    const { stdout } = await promisify(execFile)(process.execPath, args, { env: process.env });
    expect(stdout).toMatch(/step: +[\d.]+ samples\/s/);
    expect(stdout).toMatch(/split: +native step [\d.]+ ms, waiting for data [\d.]+ ms, the rest \(Node, the TypeScript loop\) -?[\d.]+ ms/);
    expect(stdout).toMatch(/memory: +peak \d+ MiB \(host peak RSS\)/);
    expect(stdout).toMatch(/pipeline: +[\d.]+ samples\/s alone \(recordio/);
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toMatchObject({ backbone: 'small', batch: 8, device: 'cpu' });
    if (!cuda) {
      const e = await promisify(execFile)(
        process.execPath,
        [cli, 'bench', 'train', '--backbone', 'small', '--input-size', '32', '--precision', 'fp16', '--pipeline', 'none'],
        { env: process.env },
      ).catch((x: { code: number; stderr: string }) => x);
      expect((e as { code: number }).code).toBe(1);
      expect((e as { stderr: string }).stderr).toMatch(/precision: 'fp16' runs on device 'cuda' only.*\[E_CONFIG\]/);
    }
  });
});

// Two float32 runs of MobileFaceNet that differ by rounding part ways within a few steps: on the
