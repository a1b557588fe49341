/**
 * The Trainer's head options: chunkClasses (the same training as the whole head) and Partial FC
 * (sampleRate: each step's loss over the batch's classes and a sample of the others, and only those
 * rows of the head updated, their momentum with them), with the typed errors for what they exclude.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../lib/errors';
import { type StepInfo, type TrainConfig, Trainer } from '../lib/train/trainer';
import { checkpointValues, torchPython } from './torch-python';
import { changedRows, configMaker, maxRelDiff, stepRows, trainRun } from './train-run';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-head-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

// 40 classes x 4 images, batches of 8: at most 8 classes in a batch, 32 or more to sample from.
const data = { kind: 'synthetic', classes: 40, perClass: 4, height: 28, width: 28, channels: 1, seed: 7 } as const;
const tiny = configMaker('h', {
  runsDir,
  backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 16 },
  head: { type: 'mv-arc', mode: 'adaptive' },
  data,
  epochs: 1,
  batchSize: 8,
  optimizer: { lr: 0.05 },
  seed: 3,
  workers: 2,
  device: 'cpu',
});

const losses = (steps: StepInfo[]) => steps.map((s) => s.loss);

/** The head's momentum in a checkpoint (the last parameter's buffer), flattened. */
const headMomentum = (file: string) => checkpointValues(file, 'c["momentum"][max(c["momentum"], key=int)]');

/** Steps one at a time, with the head's momentum from each step's checkpoint where PyTorch is at hand. */
const stepwise = (config: TrainConfig, steps: number) =>
  stepRows(config, steps, 16, torchPython ? (checkpoint) => Float32Array.from(headMomentum(checkpoint)) : undefined);

describe('chunkClasses', () => {
  it("gives the whole head's loss at every step, and its first update", async () => {
    // Frozen weights (a learning rate of 1e-30): each step's loss is its batch's alone, so the chunked
    // head's must equal the whole head's at all 20 steps, to float32 rounding. A trajectory that
    // learns is compared over its first two steps only: float32 runs that sum in another order part
    // ways later, by amounts that depend on the machine's BLAS and SIMD paths.
    const frozen = { optimizer: { lr: 1e-30 } };
    const whole = await trainRun(tiny(frozen));
    const chunked = await trainRun(tiny({ ...frozen, chunkClasses: 7 }));
    expect(chunked.steps).toHaveLength(whole.steps.length);
    expect(maxRelDiff(losses(chunked.steps), losses(whole.steps))).toBeLessThan(1e-6);
    expect(Math.max(...losses(whole.steps)) / Math.min(...losses(whole.steps))).toBeGreaterThan(1.01); // the batches differ
    expect(losses(chunked.steps)).not.toEqual(losses(whole.steps)); // the chunked path did run
    expect(chunked.steps.every((s) => s.sampledClasses === 40)).toBe(true);
    const learning = await trainRun(tiny({ epochs: 3 }));
    const chunkedLearning = await trainRun(tiny({ epochs: 3, chunkClasses: 7 }));
    expect(maxRelDiff(losses(chunkedLearning.steps).slice(0, 2), losses(learning.steps).slice(0, 2))).toBeLessThan(1e-5);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(losses(chunkedLearning.steps).slice(-5))).toBeLessThan(0.9 * mean(losses(chunkedLearning.steps).slice(0, 5)));
  });
});

describe('Partial FC (sampleRate)', () => {
  it('sampleRate 1 is the whole head', async () => {
    const whole = await trainRun(tiny());
    const one = await trainRun(tiny({ sampleRate: 1 }));
    expect(losses(one.steps)).toEqual(losses(whole.steps));
  });

  it('updates exactly the sampled rows of the head each step, no others (momentum and decay included)', async () => {
    const rate = 0.25;
    const steps = await stepwise(tiny({ sampleRate: rate }), 4);
    for (const { step, changed } of steps) {
      // The batch's classes (8 images: 1 to 8 classes) and ceil(0.25 x the rest) more.
      expect(step.sampledClasses).toBeGreaterThanOrEqual(1 + Math.ceil(rate * 32));
      expect(step.sampledClasses).toBeLessThanOrEqual(8 + Math.ceil(rate * 39));
      expect(changed).toHaveLength(step.sampledClasses);
    }
    // Different samples from step to step: rows updated before and not now stay as they were,
    // momentum notwithstanding.
    expect(new Set(steps.flatMap((s) => s.changed)).size).toBeGreaterThan(steps[0].changed.length);
    const whole = await stepwise(tiny(), 2);
    expect(whole.map((s) => s.changed.length)).toEqual([40, 40]);
    if (!torchPython) return;
    // Momentum: after the first step only the sampled rows have any; each later step changes the
    // momentum of its sampled rows and leaves the others' as they were.
    const zero = new Float32Array(40 * 16);
    expect(changedRows(zero, steps[0].read!, 16)).toEqual(steps[0].changed);
    for (let k = 1; k < steps.length; k++) expect(changedRows(steps[k - 1].read!, steps[k].read!, 16)).toEqual(steps[k].changed);
  });

  it('learns, and a resumed run draws the same samples', async () => {
    const config = tiny({ sampleRate: 0.3, epochs: 4, evalData: data });
    const full = await trainRun(config);
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean(losses(full.steps).slice(-5))).toBeLessThan(0.8 * mean(losses(full.steps).slice(0, 5)));
    const name = tiny().name;
    const first = await trainRun({ ...config, name }, { abortAt: 7 });
    const rest = await trainRun({ ...config, name }, { resume: true });
    const both = [...first.steps, ...rest.steps];
    expect(both.map((s) => [s.step, s.sampledClasses, s.loss])).toEqual(full.steps.map((s) => [s.step, s.sampledClasses, s.loss]));
  });

  it('refuses bad values and what it cannot go with, with a ConfigError naming the option', async () => {
    for (const [over, argument] of [
      [{ sampleRate: 0 }, 'sampleRate'],
      [{ sampleRate: 1.5 }, 'sampleRate'],
      [{ chunkClasses: -1 }, 'chunkClasses'],
      [{ chunkClasses: 2.5 }, 'chunkClasses'],
      [{ sampleRate: 0.5, staticStep: true }, 'cudaGraph'],
    ] as const) {
      const e = await Trainer.create(tiny(over as Partial<TrainConfig>)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).argument).toBe(argument);
    }
  });
});
