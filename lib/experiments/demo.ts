/**
 * The main job on a fresh machine: the small net with MV-Softmax (arc margin, adaptive) on
 * Fashion-MNIST, on the CPU, then closed-set accuracy on the 10k test images and runs/demo/summary.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendInfo } from '../native/backend';
import { optimizerDefaults, trainDefaults } from '../config/defaults';
import { demoVerification } from './demo-eval';
import { createProgress } from '../cli/progress';
import { writeReport } from '../report/report';
import { MvfaceError } from '../errors';
import { holdsRun, runPaths, writeJsonAtomic } from '../train/run-files';
import { type TrainConfig, Trainer } from '../train/trainer';

export const demoConfig: TrainConfig = {
  name: 'demo',
  backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 128 },
  // FaceX-Zoo's MV-Softmax: arc margin with the easy margin. Without it, ArcFace's threshold branch
  // (theta + m > pi) traps this 10-class problem in a state where every negative is hard.
  head: { type: 'mv-arc', mode: 'adaptive', t: 1.2, scale: 32, margin: 0.5, easyMargin: true },
  data: { kind: 'fashion-mnist', split: 'train' },
  evalData: { kind: 'fashion-mnist', split: 'test' },
  epochs: 6,
  batchSize: 256,
  optimizer: { ...optimizerDefaults },
  schedule: { type: 'cosine' },
  warmupEpochs: 0.5,
  seed: 1,
  flip: true,
  device: 'cpu',
};

/**
 * The demo's trainer, keeping earlier runs: runs/demo resumed where it holds a checkpoint of the same
 * config (a finished run is evaluated again), else the first free name of demo-2, demo-3, ...
 */
export async function demoTrainer(config: TrainConfig): Promise<Trainer> {
  const runsDir = config.runsDir ?? trainDefaults.runsDir;
  for (let n = 1; ; n++) {
    const name = n === 1 ? config.name : `${config.name}-${n}`;
    const paths = runPaths(path.join(runsDir, name));
    if (!holdsRun(paths)) return Trainer.create({ ...config, name });
    if (!fs.existsSync(paths.checkpoint)) continue;
    try {
      const trainer = await Trainer.create({ ...config, name }, { resume: true });
      console.error(`mvface demo: resuming ${paths.dir} at step ${trainer.step}`);
      return trainer;
    } catch (e) {
      if (!(e instanceof MvfaceError) || e.code !== 'E_CONFIG') throw e;
    }
  }
}

export async function runDemo(options: { signal?: AbortSignal; epochs?: number; runsDir?: string } = {}): Promise<Record<string, unknown>> {
  const config: TrainConfig = { ...demoConfig, epochs: options.epochs ?? demoConfig.epochs, runsDir: options.runsDir };
  const info = backendInfo();
  console.error(
    `mvface demo: small net, mv-arc adaptive, Fashion-MNIST, ${config.epochs} epochs, ${info.threads} CPU threads (libtorch ${info.libtorchVersion})`,
  );
  const started = Date.now();
  const trainer = await demoTrainer(config);
  const paths = trainer.paths;
  const progress = createProgress();
  try {
    const result = await trainer.fit({ signal: options.signal, onStep: progress.step, onEpoch: progress.epoch });
    progress.stop();
    const summary = {
      head: config.head,
      backbone: config.backbone,
      data: 'Fashion-MNIST (60k train, 10k test)',
      epochs: result.epochs,
      steps: result.steps,
      cancelled: result.cancelled,
      samplesPerSecond: Math.round(result.samplesPerSecond),
      closedSetAccuracy: result.closedSetAccuracy ?? (result.cancelled ? undefined : await trainer.closedSetAccuracy(config.evalData!)), // a finished run resumed: measured again
      verification: result.cancelled ? undefined : await demoVerification(trainer),
      parameters: trainer.parameters,
      wallSeconds: Math.round((Date.now() - started) / 1000),
      threads: info.threads,
      checkpoint: result.checkpoint,
      model: result.cancelled ? undefined : paths.model,
    };
    writeJsonAtomic(paths.summary, summary);
    if (!result.cancelled) console.error(`mvface demo: report in ${(await writeReport(paths.dir)).index}`);
    return summary;
  } finally {
    progress.stop();
    trainer.dispose();
  }
}
