/**
 * Training from TypeScript: config as plain data, a native step per batch (off the event loop),
 * learning-rate schedule, JSONL logs, atomic checkpoints and exact resume, AbortSignal cancellation.
 */
import type { NativeLossConfig, NativeTrainer } from '../native/types';
import { optimizerDefaults, scheduleDefaults, trainDefaults } from '../config/defaults';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Model, modelFile } from '../model/model';
import { checkConfig, trainConfigSchema } from '../config/schema';
import { resolveBackboneConfig } from '../model/backbones';
import { type DataSpec, DataLoader, type DataInfo } from '../data/loader';
import { createError, MvfaceError, NonFiniteError } from '../errors';
import { type HeadConfig, headScaling, resolveHeadConfig } from '../loss/margin-loss';
import { native } from '../native/addon';
import { resolvePrecisionOptions } from './precision';
import { learningRate, checkSchedule, type ScheduleSettings } from './schedule';
import { clearRun, ensureDir, holdsRun, JsonlLog, lockRun, readJson, type RunLog, runPaths, type RunPaths, writeJsonAtomic } from './run-files';
import { checkTrainEvalConfig, TrainEval } from './periodic-eval';
import type { ProcessGroup } from './distributed';

import type { CreateOptions, EpochInfo, FitOptions, FitResult, StepInfo, StepResult, TrainConfig } from './config';
import { type CheckpointMeta, configKey, type Position, resumeLog, withAbsolutePaths } from './checkpoint-policy';
import { pickDevice } from './device';

export type { CreateOptions, Device, EpochInfo, FitOptions, FitResult, StepInfo, StepMode, StepResult, TrainConfig } from './config';
export { isDevice, resolveDevice } from './device';
export { optimizerDefaults };

/** The log of ranks other than 0: nothing is written. */
const silentLog: RunLog = { write: (): void => undefined, close: (): void => undefined };

export class Trainer {
  readonly paths: RunPaths;
  private position: Position = { step: 0, epoch: 0, index: 0, samples: 0, stepSeconds: 0 };
  private busy = false;

  private constructor(
    readonly config: Required<Pick<TrainConfig, 'batchSize' | 'seed' | 'epochs'>> & TrainConfig,
    private readonly nativeTrainer: NativeTrainer,
    private readonly train: DataLoader,
    readonly dataInfo: DataInfo,
    private readonly schedule: ScheduleSettings,
    private readonly group?: ProcessGroup,
  ) {
    this.paths = runPaths(path.join(config.runsDir ?? trainDefaults.runsDir, config.name));
  }

  /** Builds the model and opens the data; with `resume`, continues from the run folder's checkpoint. */
  static async create(config: TrainConfig, options: CreateOptions = {}): Promise<Trainer> {
    checkConfig(trainConfigSchema, config, '');
    const c = withAbsolutePaths({ batchSize: trainDefaults.batchSize, seed: trainDefaults.seed, ...config });
    if (typeof c.name !== 'string' || !/^[\w.-]+$/.test(c.name)) throw createError('E_CONFIG', 'name: letters, digits, ., _ and - only', 'name');
    if (!Number.isInteger(c.epochs) || c.epochs < 1) throw createError('E_CONFIG', 'epochs: must be an integer >= 1', 'epochs');
    resolveHeadConfig(c.head);
    const precision = resolvePrecisionOptions(c);
    const scaling = headScaling(c);
    if (c.eval) checkTrainEvalConfig(c.eval);
    const backbone = resolveBackboneConfig(c.backbone);
    const device = pickDevice(c.device ?? trainDefaults.device, options.processGroup?.localRank);
    const train = await DataLoader.open(c.data, {
      batchSize: c.batchSize,
      shuffle: true,
      flip: c.flip ?? trainDefaults.flip,
      seed: c.seed,
      workers: c.workers,
      dropLast: true,
      onCorrupt: c.onCorrupt,
      rank: options.processGroup?.rank,
      worldSize: options.processGroup?.worldSize,
      // Batches straight into page-locked memory for the upload (a device that is not there is the trainer's error).
      pinned: device.startsWith('cuda') && native().backendInfo().cudaAvailable,
    });
    const info = train.info;
    if (info.classesWithoutImages > 0) {
      process.emitWarning(
        `data: ${info.classesWithoutImages} of its ${info.numClasses} classes (0 to the largest label) have no image: gaps in the labels, or a stray label; the head still has ${info.numClasses} classes`,
        { code: 'MVFACE_LABEL_GAPS' },
      );
    }
    const schedule: ScheduleSettings = {
      schedule: c.schedule ?? { type: scheduleDefaults.type },
      lr: c.optimizer?.lr ?? optimizerDefaults.lr,
      warmupEpochs: c.warmupEpochs ?? trainDefaults.warmupEpochs,
      stepsPerEpoch: info.batchesPerEpoch,
      epochs: c.epochs,
    };
    try {
      checkSchedule(schedule);
      if (c.numClasses !== undefined && c.numClasses !== info.numClasses) {
        throw createError('E_CONFIG', `numClasses: the config says ${c.numClasses}, the data has ${info.numClasses} classes`, 'numClasses');
      }
      if (info.batchesPerEpoch < 1) {
        const ranks = options.processGroup ? ` x ${options.processGroup.worldSize} ranks` : '';
        throw createError('E_CONFIG', `batchSize: ${c.batchSize}${ranks} is larger than the data set (${info.size} images)`, 'batchSize');
      }
      if (backbone.inputSize !== info.height || backbone.inChannels !== info.channels) {
        throw createError(
          'E_CONFIG',
          `backbone: expects ${backbone.inChannels} x ${backbone.inputSize} x ${backbone.inputSize} images, the data has ${info.channels} x ${info.height} x ${info.width}`,
          'backbone',
        );
      }
      const nt = new (native().NativeTrainer)({
        backbone,
        numClasses: info.numClasses,
        seed: c.seed,
        device,
        ...precision,
        fusedNorm: precision.fusedNorm ?? device === 'cpu',
        momentum: c.optimizer?.momentum ?? optimizerDefaults.momentum,
        weightDecay: c.optimizer?.weightDecay ?? optimizerDefaults.weightDecay,
        shardHead: c.shardHead ?? trainDefaults.shardHead,
        ...scaling,
      });
      const trainer = new Trainer(c, nt, train, info, schedule, options.processGroup);
      try {
        await trainer.start(options.resume ?? false, options.overwrite ?? false);
        if (options.processGroup) await nt.setProcessGroup(options.processGroup.nativeHandle);
      } catch (e) {
        nt.dispose();
        trainer.unlock();
        throw e;
      }
      return trainer;
    } catch (e) {
      train.dispose();
      throw e;
    }
  }

  private async start(resume: boolean, overwrite: boolean): Promise<void> {
    ensureDir(this.paths.dir);
    if (this.isMain) this.unlock = lockRun(this.paths.dir);
    // Rank 0 alone checks: the others would see the config.json it has just written.
    if (this.isMain && !resume && holdsRun(this.paths)) {
      if (!overwrite) {
        throw createError(
          'E_CONFIG',
          `${this.paths.dir} already holds a run: continue it with --resume (resume: true), or delete it and start over with --overwrite (overwrite: true)`,
          'name',
        );
      }
      clearRun(this.paths);
    }
    if (resume && fs.existsSync(this.paths.checkpoint)) {
      const meta = JSON.parse(await this.nativeTrainer.load(this.paths.checkpoint)) as CheckpointMeta;
      if (meta.configKey !== configKey(this.config)) {
        throw createError(
          'E_CONFIG',
          `checkpoint: ${this.paths.checkpoint} comes from another config (model, head, data, optimizer, schedule or seed differ); use another run name`,
          'checkpoint',
        );
      }
      const ranks = this.group?.worldSize ?? 1;
      if ((meta.worldSize ?? 1) !== ranks) {
        throw createError(
          'E_CONFIG',
          `checkpoint: ${this.paths.checkpoint} was written by ${meta.worldSize ?? 1} process(es), this run has ${ranks}; resume with --nproc ${meta.worldSize ?? 1} (the global batch and the data order depend on it)`,
          'checkpoint',
        );
      }
      this.position = meta.position;
      if (this.isMain) resumeLog(this.paths.log, this.position.step);
    } else if (resume) {
      throw createError('E_IO', `${this.paths.checkpoint}: no checkpoint to resume from`, this.paths.checkpoint);
    }
    if (this.isMain) writeJsonAtomic(this.paths.config, this.config);
  }

  /** Rank 0 (or the only process): the one that writes logs, checkpoints and the model. */
  get isMain(): boolean {
    return !this.group || this.group.rank === 0;
  }

  get step(): number {
    return this.position.step;
  }

  get totalSteps(): number {
    return this.schedule.epochs * this.schedule.stepsPerEpoch;
  }

  /** Trains to the configured number of epochs, or until `signal` aborts (then checkpoints and returns). */
  async fit(options: FitOptions = {}): Promise<FitResult> {
    return this.exclusive(async () => {
      const log = this.isMain ? new JsonlLog(this.paths.log) : silentLog;
      try {
        let accuracy: number | undefined;
        while (this.position.epoch < this.config.epochs) {
          const done = await this.runEpoch(log, options);
          if (!done) return this.finish(true, accuracy);
          accuracy = await this.endEpoch(log, options);
        }
        return this.finish(false, accuracy);
      } finally {
        log.close();
      }
    });
  }

  /** Runs the rest of the current epoch; false when cancelled (after checkpointing). */
  private async runEpoch(log: RunLog, options: FitOptions): Promise<boolean> {
    const p = this.position;
    if (!this.onDeviceSource) this.train.startEpoch(p.epoch, p.index);
    p.epochLossSum ??= 0;
    p.epochSteps ??= 0;
    for (;;) {
      // One process stops before the next step. The ranks of a process group pass their signal with
      // the step (it travels with the step's statistics) and all stop after that same step.
      const aborted = options.signal?.aborted ?? false;
      if (aborted && !this.group) return this.cancel(log);
      const lr = learningRate(this.schedule, p.step);
      const t0 = process.hrtime.bigint();
      const r = await this.nativeStep(lr, aborted);
      if (!r) break;
      p.stepSeconds += Number(process.hrtime.bigint() - t0) / 1e9;
      p.samples += r.samples;
      p.step += 1;
      p.index += 1;
      p.epochLossSum! += r.loss;
      p.epochSteps! += 1;
      const info: StepInfo = {
        step: p.step,
        epoch: p.epoch,
        index: r.index,
        stepsPerEpoch: this.schedule.stepsPerEpoch,
        totalSteps: this.totalSteps,
        loss: r.loss,
        lr,
        hardFraction: r.hardFraction,
        meanTargetCos: r.meanTargetCos,
        samples: r.samples,
        skipped: r.skipped,
        lossScale: r.lossScale,
        updateSkipped: r.updateSkipped,
        stepMode: r.stepMode,
        dataSeconds: r.dataSeconds,
        nativeSeconds: r.nativeSeconds,
        sampledClasses: r.sampledClasses,
        samplesPerSecond: p.samples / Math.max(p.stepSeconds, 1e-9),
      };
      log.write({ event: 'step', ...info });
      if (r.skippedItems.length) log.write({ event: 'skipped', step: p.step, items: r.skippedItems });
      options.onStep?.(info);
      await this.evalHook(p.step, log);
      if (this.checkpointDue(p.step)) await this.checkpoint();
      if (r.stop) return this.cancel(log);
    }
    this.epochLoss = p.epochSteps ? p.epochLossSum! / p.epochSteps : NaN;
    return true;
  }

  private lastCheckpoint = Date.now();

  /** Every checkpointEverySteps steps, or (one process) when checkpointEveryMinutes passed. */
  private checkpointDue(step: number): boolean {
    const every = this.config.checkpointEverySteps;
    if (every && step % every === 0) return true;
    const minutes = this.group ? 0 : (this.config.checkpointEveryMinutes ?? trainDefaults.checkpointEveryMinutes);
    return minutes > 0 && Date.now() - this.lastCheckpoint >= minutes * 60_000;
  }

  private epochLoss = NaN;
  private trainEval: TrainEval | undefined;

  /** Runs the configured eval sets when `step` is due (eval mode; training state is untouched). */
  private async evalHook(step: number, log: RunLog): Promise<void> {
    if (!this.config.eval || !this.isMain) return;
    this.trainEval ??= new TrainEval(this.config.eval, (images, count) => this.embed(images, count), this.dataInfo, this.config.workers);
    await this.trainEval.maybeRun(step, log);
  }

  /** Checkpoints and logs the cancellation; false, for runEpoch. */
  private async cancel(log: RunLog): Promise<false> {
    await this.checkpoint();
    log.write({ event: 'cancelled', step: this.position.step, epoch: this.position.epoch });
    return false;
  }

  private async nativeStep(lr: number, stop: boolean): Promise<StepResult | null> {
    const head = resolveHeadConfig(this.headAt(this.position.step));
    try {
      if (this.onDeviceSource) return await this.syntheticStep(lr, head, stop);
      return await this.nativeTrainer.step(this.train.nativeHandle, lr, head, stop);
    } catch (e) {
      if (e instanceof NonFiniteError) {
        const saved = fs.existsSync(this.paths.checkpointMeta) ? readJson<CheckpointMeta>(this.paths.checkpointMeta).position.step : undefined;
        const last =
          saved === undefined
            ? 'no checkpoint was written yet'
            : `the last good checkpoint is ${this.paths.checkpoint} (step ${saved}); nothing after it was saved`;
        throw createError('E_NONFINITE', `${e.message}. Training stopped: ${last}.`, e.argument);
      }
      if (e instanceof MvfaceError && e.code === 'E_IO' && (this.config.onCorrupt ?? trainDefaults.onCorrupt) === 'fail') {
        throw createError(
          'E_IO',
          `${e.message}. Training stopped; to skip corrupt images and count them, set onCorrupt: 'skip' (--on-corrupt skip)`,
          e.argument,
        );
      }
      throw e;
    }
  }

  private deviceSource: boolean | undefined;

  /** syntheticOnDevice on a CUDA trainer: batches come from the GPU, not from the loader. */
  private get onDeviceSource(): boolean {
    this.deviceSource ??=
      this.config.syntheticOnDevice === true && pickDevice(this.config.device ?? trainDefaults.device, this.group?.localRank).startsWith('cuda');
    return this.deviceSource;
  }

  private async syntheticStep(lr: number, head: NativeLossConfig, stop: boolean): Promise<StepResult | null> {
    const p = this.position;
    if (p.index >= this.schedule.stepsPerEpoch) return null;
    const r = await this.nativeTrainer.stepSynthetic(this.config.batchSize, lr, head, stop);
    return { ...r, epoch: p.epoch, index: p.index };
  }

  /** SphereFace anneals lambda with the iteration; other heads are the same every step. */
  private headAt(step: number): HeadConfig {
    const h = this.config.head;
    return h.type === 'sphereface' && h.lambda === undefined ? { ...h, iteration: step + 1 } : h;
  }

  private async endEpoch(log: RunLog, options: FitOptions): Promise<number | undefined> {
    const p = this.position;
    // With a sharded head every rank takes part (the head is gathered); otherwise rank 0 alone.
    const evaluates = this.config.evalData && (this.isMain || this.config.shardHead);
    const accuracy = evaluates ? await this.closedSetAccuracy(this.config.evalData!) : undefined;
    const info: EpochInfo = {
      epoch: p.epoch,
      meanLoss: this.epochLoss,
      samplesPerSecond: p.samples / Math.max(p.stepSeconds, 1e-9),
      closedSetAccuracy: accuracy,
    };
    p.epoch += 1;
    p.index = 0;
    p.epochLossSum = 0;
    p.epochSteps = 0;
    await this.checkpoint();
    log.write({ event: 'epoch', ...info });
    options.onEpoch?.(info);
    return accuracy;
  }

  private async finish(cancelled: boolean, accuracy?: number): Promise<FitResult> {
    if (!cancelled && this.isMain) await this.exportModel(this.paths.model);
    return {
      cancelled,
      steps: this.position.step,
      epochs: this.position.epoch,
      samplesPerSecond: this.position.samples / Math.max(this.position.stepSeconds, 1e-9),
      closedSetAccuracy: accuracy,
      checkpoint: this.paths.checkpoint,
      runDir: this.paths.dir,
    };
  }

  /** Writes the checkpoint (model, head, optimizer, position, RNG) atomically; in a group, every rank calls it and rank 0 writes. */
  async checkpoint(): Promise<string> {
    const meta: CheckpointMeta = {
      format: 'mvface-run-1',
      configKey: configKey(this.config),
      position: { ...this.position },
      worldSize: this.group?.worldSize ?? 1,
    };
    await this.nativeTrainer.save(this.paths.checkpoint, JSON.stringify(meta)); // collective in a group; rank 0 writes
    if (this.isMain) writeJsonAtomic(this.paths.checkpointMeta, meta);
    this.lastCheckpoint = Date.now();
    return this.paths.checkpoint;
  }

  /** Closed-set accuracy on a labelled data set with the training classes. */
  async closedSetAccuracy(spec: DataSpec): Promise<number> {
    const loader = await DataLoader.open(spec, { batchSize: 512, shuffle: false, flip: false, workers: this.config.workers });
    try {
      if (loader.info.numClasses > this.dataInfo.numClasses) {
        throw createError('E_CONFIG', `evalData: has ${loader.info.numClasses} classes, the model ${this.dataInfo.numClasses}`, 'evalData');
      }
      const r = await this.nativeTrainer.closedSetAccuracy(loader.nativeHandle);
      return r.correct / r.total;
    } finally {
      loader.dispose();
    }
  }

  /** Embeddings of `count` images (count x C x H x W float32, normalised as the loader does). */
  async embed(images: Float32Array, count: number): Promise<Float32Array> {
    const { channels: c, height: h, width: w } = this.dataInfo;
    return this.nativeTrainer.embed({ data: images, rows: count, cols: c * h * w }, c, h, w);
  }

  /**
   * The backbone's weights for PyTorch: `torch.load(path)` gives a state dict whose keys match the
   * twins in the package's python/mvface_backbones.py; model.json beside it names the architecture
   * and the input.
   */
  async exportModel(file: string): Promise<string> {
    await this.nativeTrainer.exportBackbone(file);
    writeJsonAtomic(`${file.replace(/\.pt$/, '')}.json`, modelFile(resolveBackboneConfig(this.config.backbone), this.step));
    return file;
  }

  /**
   * The backbone as it is now, as a Model of its own (on the CPU unless `device` says otherwise):
   * it goes on working after the trainer is disposed and is unchanged by further training.
   */
  async model(options: { device?: string } = {}): Promise<Model> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-model-'));
    try {
      return await Model.load(await this.exportModel(path.join(dir, 'model.pt')), options);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }

  get parameters(): number {
    return this.nativeTrainer.info().parameters;
  }

  /**
   * The class weights W (numClasses x embedding size, row-major), as the next step would use them.
   * With a sharded head every rank must call it (the shards are gathered).
   */
  async classWeights(): Promise<Float32Array> {
    return this.exclusive(() => this.nativeTrainer.classWeights());
  }

  /** Every convolution weight (larger than 1 x 1) is stored NHWC: `channelsLast` took effect. */
  get channelsLastWeights(): boolean {
    return this.nativeTrainer.info().channelsLast;
  }

  /** The fused batch norms run in training steps: `fusedNorm` asked for them, with MobileFaceNet or IResNet. */
  get fusedNorm(): boolean {
    return this.nativeTrainer.info().fusedNorm;
  }

  /** The process-wide cuDNN benchmark setting now (the last Trainer created set it: `cudnnBenchmark`). */
  get cudnnBenchmark(): boolean {
    return this.nativeTrainer.info().cudnnBenchmark;
  }

  dispose(): void {
    this.train.dispose();
    this.nativeTrainer.dispose();
    this.unlock();
  }

  private unlock: () => void = () => undefined;

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy) throw createError('E_CONFIG', 'trainer: another fit() is running', 'trainer');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }
}

export { MvfaceError };
