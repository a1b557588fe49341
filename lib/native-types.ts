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

type LossFn<R> = (config: NativeLossConfig, x: NativeMatrix, w: NativeMatrix, labels: Int32Array) => R;

export interface NativeAddon {
  backendInfo(): NativeBackendInfo;
  setThreads(n: number): void;
  setErrorFactory(factory: (code: string, message: string, argument: string) => Error): void;
  nativeErrorProbe(): void;
  marginLoss: LossFn<NativeLossResult<any>>;
  marginLossAsync: LossFn<Promise<NativeLossResult<any>>>;
  lossReference: LossFn<NativeLossResult<any>>;
  gemmFloor(xhat: NativeMatrix, what: NativeMatrix): void;
}
