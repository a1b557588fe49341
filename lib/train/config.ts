/** The training config and what training reports: the types of the Trainer's API. */
import type { DataSpec } from '../data/loader';
import type { HeadConfig } from '../loss/margin-loss';
import type { BackboneConfig } from '../model/backbones';
import type { ProcessGroup } from './distributed';
import type { TrainEvalConfig } from './periodic-eval';
import type { PrecisionConfig } from './precision';
import type { Schedule } from './schedule';

/** 'cuda' is the first GPU, or with a process group the rank's own (LOCAL_RANK); 'cuda:N' the N-th. */
export type Device = 'cpu' | 'cuda' | 'auto' | `cuda:${number}`;

export interface TrainConfig extends PrecisionConfig {
  /** Run name: the run folder is <runsDir>/<name>. */
  name: string;
  /** Default 'runs'. */
  runsDir?: string;
  backbone: BackboneConfig;
  head: HeadConfig;
  data: DataSpec;
  /** The class count the data must have (checked); by default whatever the data has. */
  numClasses?: number;
  /** Closed-set accuracy (argmax cosine against the class weights) after each epoch. */
  evalData?: DataSpec;
  epochs: number;
  /** Default 256. */
  batchSize?: number;
  /** SGD; defaults lr 0.1, momentum 0.9, weightDecay 5e-4 (none on BN weights and biases). */
  optimizer?: { lr?: number; momentum?: number; weightDecay?: number };
  /** Default cosine. */
  schedule?: Schedule;
  /** Linear warm-up, in epochs (fractions allowed). Default 0. */
  warmupEpochs?: number;
  /** Default 0. */
  seed?: number;
  /**
   * Default 'auto': CUDA where available, else CPU. With a process group, 'cuda' and 'auto' take the
   * GPU of the rank's LOCAL_RANK (one process per GPU, as torchrun); 'cuda:N' names one.
   */
  device?: Device;
  /**
   * Benchmarks: on CUDA, batches of random images and labels generated on the GPU replace the
   * data's (which then only gives the shapes, classes and steps per epoch); no loader, no copy.
   * On the CPU the data is read as usual. Default false.
   */
  syntheticOnDevice?: boolean;
  /** Random horizontal flip. Default true. */
  flip?: boolean;
  /** Native decoding threads. Default: the machine's cores. */
  workers?: number;
  /** Corrupt images: 'fail' (default) or 'skip' and count. */
  onCorrupt?: 'skip' | 'fail';
  /** Checkpoint every N steps as well as after each epoch. Default: none. */
  checkpointEverySteps?: number;
  /**
   * Checkpoint when this many minutes passed since the last one, as well as after each epoch. Default
   * 10; 0 turns it off. One process only (ranks of a group would disagree on the time: use steps).
   */
  checkpointEveryMinutes?: number;
  /**
   * Data parallel (Trainer.create with a processGroup) only: each rank holds its shard of the class
   * weights (model-parallel head, exact MV-Softmax over all classes) instead of all of them. Default false.
   */
  shardHead?: boolean;
  /**
   * The head's loss over chunks of this many classes: a batch x chunkClasses buffer instead of
   * batch x classes, the same result. Default 0: all classes at once. Not with shardHead.
   */
  chunkClasses?: number;
  /**
   * Partial FC (InsightFace): each step's loss uses the batch's classes and this share of the
   * others, drawn anew every step; only those rows of the head (and their momentum) are updated.
   * Default 1: the whole head. Not with a process group, cudaGraph or staticStep.
   */
  sampleRate?: number;
  /** Verification sets evaluated every `every` steps, each logged as an {event: 'eval'} record. */
  eval?: TrainEvalConfig;
}

export interface StepInfo {
  step: number;
  epoch: number;
  /** Batch index within the epoch. */
  index: number;
  stepsPerEpoch: number;
  totalSteps: number;
  loss: number;
  lr: number;
  hardFraction: number;
  meanTargetCos: number;
  samples: number;
  skipped: number;
  /** Throughput over the run so far (steps only). */
  samplesPerSecond: number;
  /** The loss scale this step used (1 without a scaler). */
  lossScale: number;
  /** The scaled gradients overflowed: no update this step, and the scale backed off. */
  updateSkipped: boolean;
  /** Classes in this step's loss: all of them, or Partial FC's sample. */
  sampledClasses: number;
  /** 'graph': replayed CUDA graphs (cudaGraph); 'static': the graph's step run eagerly (its warm-up); else 'eager'. */
  stepMode: StepMode;
  /** Seconds waiting for the loader's batch (0 for batches generated on the device). */
  dataSeconds: number;
  /** Seconds in the native step: forward, loss, backward and update (on CUDA, until its loss was read). */
  nativeSeconds: number;
}

export type StepMode = 'eager' | 'static' | 'graph';

export interface EpochInfo {
  epoch: number;
  meanLoss: number;
  samplesPerSecond: number;
  closedSetAccuracy?: number;
}

export interface FitOptions {
  signal?: AbortSignal;
  onStep?: (s: StepInfo) => void;
  onEpoch?: (e: EpochInfo) => void;
}

export interface FitResult {
  cancelled: boolean;
  steps: number;
  epochs: number;
  samplesPerSecond: number;
  closedSetAccuracy?: number;
  checkpoint: string;
  runDir: string;
}

export interface StepResult {
  loss: number;
  hardFraction: number;
  meanTargetCos: number;
  samples: number;
  skipped: number;
  skippedItems: string[];
  epoch: number;
  index: number;
  step: number;
  lossScale: number;
  updateSkipped: boolean;
  stepMode: StepMode;
  dataSeconds: number;
  nativeSeconds: number;
  /** This step's stop flag, or in a process group whether any rank's was set. */
  stop: boolean;
  sampledClasses: number;
}

export interface CreateOptions {
  /** Continue from the run folder's checkpoint (every rank reads it: a shared folder). */
  resume?: boolean;
  /**
   * Start over in a folder that already holds a run, deleting what it wrote. Without it (or resume)
   * such a folder is refused, so that no run is lost by accident.
   */
  overwrite?: boolean;
  /**
   * Data parallel over this group (ProcessGroup.join()): `batchSize` is per rank, each rank trains on
   * its slice of every global batch and gradients are averaged. Rank 0 alone writes the run folder.
   */
  processGroup?: ProcessGroup;
}
