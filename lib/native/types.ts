/** The raw functions the addon exports. lib/ wraps each with typed checks; nothing else calls these. */
export interface NativeBackendInfo {
  libtorchVersion: string;
  libtorchSource: string;
  libtorchTag: string;
  builtWithCuda: boolean;
  cudaAvailable: boolean;
  cudaDevices: string[];
  blas: string;
  threads: number;
  onednn: boolean;
  tf32: { cudnn: boolean; cublas: boolean };
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

type LossFn<R> = (config: NativeLossConfig, x: NativeMatrix, w: NativeMatrix, labels: Int32Array, options?: NativeLossOptions) => R;

export interface NativeAddon {
  backendInfo(): NativeBackendInfo;
  setThreads(n: number): void;
  setErrorFactory(factory: (code: string, message: string, argument: string) => Error): void;
  nativeErrorProbe(): void;
  marginLoss: LossFn<NativeLossResult<any>>;
  marginLossAsync: LossFn<Promise<NativeLossResult<any>>>;
  lossReference: LossFn<NativeLossResult<any>>;
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
}

/** A layer of a backbone for cudaNormBench: N x C x H x W, what follows the batch norm. */
export interface NormBenchCase {
  N: number;
  C: number;
  H: number;
  W: number;
  /** Default 'bf16' (autocast, as in training). */
  dtype?: 'bf16' | 'fp32';
  channelsLast?: boolean;
  /** Default true. */
  prelu?: boolean;
  /** Default false. */
  residual?: boolean;
  /** Timed samples, each the mean of 10 steps. Default 20. */
  repeats?: number;
}

export interface NormTiming {
  name: 'modules' | 'fused';
  /** One forward + backward. */
  medianMs: number;
  /** What the forward keeps for the backward, beyond its output. */
  savedBytes: number;
}
