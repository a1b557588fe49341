/**
 * Every training option's default, written once: the resolvers apply them, `mvface schema` and
 * `mvface train --help` print them, and native code receives resolved values only.
 */

/** The backbone's; `small` has its own input size and channels. */
export const backboneDefaults = {
  embeddingSize: 512,
  inputSize: 112,
  inChannels: 3,
  block: 'ir',
  dropout: 0,
  norm: 'batch',
  small: { inputSize: 28, inChannels: 1 },
} as const;

export type MvMode = 'fixed' | 'adaptive';

/** The heads' (margins, scale, MV's t by mode, SphereFace's annealing, focal and HM mining). */
export const headDefaults = {
  scale: 32,
  amMargin: 0.35,
  arcMargin: 0.5,
  combined: { m1: 1.0, m2: 0.3, m3: 0.2 },
  t: { fixed: 0.2, adaptive: 1.2 } as Record<MvMode, number>,
  mode: 'adaptive' as MvMode,
  sphereface: { m: 4, lambdaBase: 1000, lambdaGamma: 0.12, lambdaPower: 1, lambdaMin: 5, iteration: 1 },
  focalGamma: 2,
  hmRatio: 0.9,
};

/** SGD's. */
export const optimizerDefaults = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };

/** The learning-rate schedule's (cosine unless configured). */
export const scheduleDefaults = { type: 'cosine', gamma: 0.1, minLr: 0, power: 2 } as const;

/** The fp16 loss scaler's. */
export const lossScaleDefaults = { initScale: 65536, growthFactor: 2, backoffFactor: 0.5, growthInterval: 2000 };

/** The train config's top-level options. */
export const trainDefaults = {
  runsDir: 'runs',
  batchSize: 256,
  seed: 0,
  device: 'auto',
  flip: true,
  warmupEpochs: 0,
  onCorrupt: 'fail',
  checkpointEveryMinutes: 10,
  shardHead: false,
  precision: 'fp32',
  cudnnBenchmark: true,
} as const;
