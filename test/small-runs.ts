/** The small synthetic training setup the precision, step and benchmark tests share. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BackboneConfig } from '../lib/model/backbones';
import { type CreateOptions, type StepInfo, type TrainConfig, Trainer } from '../lib/train/trainer';
import { configMaker, trainRun } from './train-run';

export const small: BackboneConfig = { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 32 };
export const data = { kind: 'synthetic', classes: 6, perClass: 16, height: 28, width: 28, channels: 1, seed: 5 } as const;

/** A fresh runs folder (remove it in afterAll) and configs of the small net that train in it. */
export function smallRuns(prefix: string) {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), `mvface-${prefix}-`));
  const tiny = configMaker(prefix, {
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
  return { runsDir, tiny };
}

export const train = (config: TrainConfig, abortAt?: number, resume = false) => trainRun(config, { abortAt, resume });
export const losses = (r: { steps: StepInfo[] }) => r.steps.map((s) => s.loss);
export const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
export const epochMeans = (r: { steps: StepInfo[] }) =>
  [...new Set(r.steps.map((s) => s.epoch))].map((e) => mean(r.steps.filter((s) => s.epoch === e).map((s) => s.loss)));

/** The smallest run there is: 16 images of 4 synthetic identities, one epoch of two steps. */
export const tinyRun = (name: string, runsDir: string): TrainConfig => ({
  name,
  runsDir,
  backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 16 },
  head: { type: 'mv-am', mode: 'fixed' },
  data: { kind: 'synthetic', classes: 4, perClass: 4, height: 28, width: 28, channels: 1, seed: 1 },
  epochs: 1,
  batchSize: 8,
  workers: 1,
});

/** Creates the trainer, fits it to the end and disposes of it. */
export async function fitRun(config: TrainConfig, options: CreateOptions = {}): Promise<void> {
  const trainer = await Trainer.create(config, options);
  try {
    await trainer.fit();
  } finally {
    trainer.dispose();
  }
}

/** `mvface train` flags for tinyRun's network: the small net at 28 x 28 grey, 16-d, mv-am, batch 8, 1 decoding thread. */
export const tinyTrainFlags = [
  '--backbone',
  'small',
  '--input-size',
  '28',
  '--channels',
  '1',
  '--embedding-size',
  '16',
  '--head',
  'mv-am',
  '--batch-size',
  '8',
  '--workers',
  '1',
];
