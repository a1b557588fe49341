/**
 * The native addon's surface, every function and class it exports, typed in one place: what
 * native() returns. The types of plain data it passes are the library's own (imported as types).
 */
import type { Batch, DataInfo, LoaderOptions } from '../data/loader';
import type { DecodedImages } from '../eval/sets';
import type { BackboneInfo, ResolvedBackboneConfig } from '../model/backbones';
import type { StateEntry } from '../model/model';
import type { NativePrecisionOptions } from '../train/precision';
import type { StepResult } from '../train/trainer';

export interface NativeBackendInfo {
  libtorchVersion: string;
  /** Where the build found libtorch: 'LIBTORCH' (a folder), 'pytorch' (LIBTORCH_USE_PYTORCH=1) or 'system'. */
  libtorchSource: string;
  /** The tag that pins the binary to its libtorch, e.g. torch1_13_0_system_cpu. */
  libtorchTag: string;
  builtWithCuda: boolean;
  cudaAvailable: boolean;
  cudaDevices: string[];
  /** The BLAS library loaded in this process. */
  blas: string;
  /** Intra-op threads (defaults to the machine's cores or MVFACE_NUM_THREADS). */
  threads: number;
  /** Whether libtorch's oneDNN kernels (convolutions, bfloat16 matrix products) run on the CPU; MVFACE_ONEDNN=0 turns them off. */
  onednn: boolean;
  /**
   * TensorFloat-32 allowed in cuDNN's convolutions and cuBLAS's float32 matrix products: libtorch's
   * defaults, MVFACE_TF32=0 or 1 at load, or the last Trainer's `tf32` option.
   */
  tf32: { cudnn: boolean; cublas: boolean };
  /** The addon's own version (the package's, when it was built). */
  addonVersion: string;
}

export interface NativeMatrix {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

/** The head config with every field resolved, as native code reads it. */
export interface NativeLossConfig {
  type: string;
  scale: number;
  margin: number;
  m1: number;
  m2: number;
  m3: number;
  mode: string;
  t: number;
  easyMargin: boolean;
  sphereM: number;
  sphereLambda: number;
  mining: string;
  focalGamma: number;
  hmRatio: number;
}

export interface NativeLossResult<F extends Float32Array | Float64Array = Float32Array> {
  loss: number;
  gradEmbeddings: F;
  gradWeight: F;
  hardFraction: number;
  meanTargetCos: number;
}

/** Where marginLoss runs; omitted: the CPU. */
export interface NativeLossOptions {
  device: 'cpu' | 'cuda';
  dtype: 'float32' | 'bfloat16';
  chunkClasses: number;
  sampleRate: number;
  sampleSeed: number;
}

/** libtorch's CUDA caching allocator on the current device. */
export interface NativeCudaMemoryStats {
  allocatedBytes: number;
  peakAllocatedBytes: number;
  reservedBytes: number;
  /** The device's free memory (the caching allocator's cache counts as used) and its size. */
  deviceFreeBytes: number;
  deviceTotalBytes: number;
}

export interface NativeCudaTiming {
  name: string;
  medianMs: number;
  peakExtraBytes: number;
}

type LossArgs = [config: NativeLossConfig, x: NativeMatrix, w: NativeMatrix, labels: Int32Array, options?: NativeLossOptions];
type FloatArray = Float32Array | Float64Array;

export interface NativeAddon {
  backendInfo(): NativeBackendInfo;
  setThreads(n: number): void;
  setErrorFactory(factory: (code: string, message: string, argument: string) => Error): void;
  nativeErrorProbe(): void;
  /** The gradients come back in the inputs' precision: F is Float32Array unless the caller passed float64 matrices. */
  marginLoss<F extends FloatArray = Float32Array>(...args: LossArgs): NativeLossResult<F>;
  marginLossAsync<F extends FloatArray = Float32Array>(...args: LossArgs): Promise<NativeLossResult<F>>;
  lossReference<F extends FloatArray = Float32Array>(...args: LossArgs): NativeLossResult<F>;
  gemmFloor(xhat: NativeMatrix, what: NativeMatrix): void;
  /** Reads the allocator's statistics, then resets the peak when `resetPeak`. E_CONFIG without CUDA. */
  cudaMemoryStats(resetPeak?: boolean): NativeCudaMemoryStats;
  /** Times variants on device-resident random data (bench/loss-worker.ts). */
  cudaLossBench(
    config: NativeLossConfig,
    sizes: { B: number; D: number; C: number; repeats: number; variants: Array<'fused' | 'chunked' | 'floor'> },
  ): NativeCudaTiming[];
  /** One batch norm (+ PReLU) (+ residual), forward and backward, as the modules and as the fused kernels run it. */
  cudaNormBench(c: NormBenchCase): NormTiming[];
  backboneInfo(config: ResolvedBackboneConfig, forward: boolean): Promise<BackboneInfo>;
  backboneForward(config: ResolvedBackboneConfig, seed: number, images: Float32Array, n: number): Promise<Float32Array>;
  loadModel(backbone: ResolvedBackboneConfig, file: string, device: string): Promise<NativeModel>;
  createModel(backbone: ResolvedBackboneConfig, seed: number, device: string): Promise<NativeModel>;
  createLoader(spec: Record<string, unknown>, options: Required<LoaderOptions>): Promise<NativeLoader>;
  /** Pulls `batches` batches and drops them: the input pipeline alone (benchmarks). */
  drainLoader(loader: NativeLoader, batches: number): Promise<{ batches: number; samples: number; seconds: number }>;
  decodeImages(buffers: Uint8Array[], channels: number, size?: number): Promise<DecodedImages>;
  alignFaces(buffers: Uint8Array[], landmarks: Float32Array, channels: number, size: number): Promise<DecodedImages>;
  /** Joins the process group of the environment's RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (blocks). */
  NativeComm: new () => NativeComm;
  /** Builds the model, head and optimizer (blocks while it builds). */
  NativeTrainer: new (
    options: NativeTrainerOptions,
  ) => NativeTrainer;
}

/** A backbone held natively, for inference. */
export interface NativeModel {
  embed(images: Float32Array, n: number): Promise<Float32Array>;
  state(): Promise<StateEntry[]>;
  setState(state: StateEntry[]): Promise<void>;
  save(file: string): Promise<void>;
  dispose(): void;
}

/** The decoding threads and batch queue behind a DataLoader. */
export interface NativeLoader {
  startEpoch(epoch: number, skip: number): void;
  next(): Promise<Batch | null>;
  info(): DataInfo;
  dispose(): void;
}

/** A Gloo process group. */
export interface NativeComm {
  info(): { rank: number; worldSize: number; localRank: number };
  shardedLoss(config: NativeLossConfig, x: NativeMatrix, w: NativeMatrix, classes: number, labels: Int32Array): Promise<NativeLossResult>;
  allReduceSum(t: NativeMatrix): Promise<Float32Array>;
  dispose(): void;
}

export type NativeTrainerOptions = NativePrecisionOptions & {
  backbone: ResolvedBackboneConfig;
  numClasses: number;
  seed: number;
  device: string;
  fusedNorm: boolean;
  momentum: number;
  weightDecay: number;
  shardHead: boolean;
  chunkClasses: number;
  sampleRate: number;
};

/** The backbone, head and SGD state of a training run. */
export interface NativeTrainer {
  step(loader: NativeLoader, lr: number, head: NativeLossConfig, stop: boolean): Promise<StepResult | null>;
  stepSynthetic(batchSize: number, lr: number, head: NativeLossConfig, stop: boolean): Promise<StepResult>;
  embed(images: NativeMatrix, c: number, h: number, w: number): Promise<Float32Array>;
  closedSetAccuracy(loader: NativeLoader): Promise<{ correct: number; total: number }>;
  save(path: string, meta: string): Promise<void>;
  load(path: string): Promise<string>;
  exportBackbone(path: string): Promise<void>;
  setProcessGroup(comm: NativeComm): Promise<void>;
  info(): { parameters: number; steps: number; channelsLast: boolean; cudnnBenchmark: boolean; fusedNorm: boolean };
  classWeights(): Promise<Float32Array>;
  dispose(): void;
}

/** A layer of a backbone for cudaNormBench: N x C x H x W, what follows the batch norm. */
export interface NormBenchCase {
  N: number;
  C: number;
  H: number;
  W: number;
  /** 'bf16' is autocast, as in training. */
  dtype: 'bf16' | 'fp32';
  channelsLast: boolean;
  /** A PReLU after the batch norm. */
  prelu: boolean;
  /** A residual add after the batch norm. */
  residual: boolean;
  /** Timed samples, each the mean of 10 steps. */
  repeats: number;
}

export interface NormTiming {
  name: 'modules' | 'fused';
  /** One forward + backward. */
  medianMs: number;
  /** What the forward keeps for the backward, beyond its output. */
  savedBytes: number;
}
