export { backendInfo, setThreads, type BackendInfo } from './native/backend';
export { backboneDefaults, headDefaults, lossScaleDefaults, optimizerDefaults, scheduleDefaults, trainDefaults } from './config/defaults';
export {
  backboneInfo,
  backboneNames,
  resolveBackboneConfig,
  type BackboneConfig,
  type BackboneInfo,
  type BackboneName,
  type ResolvedBackboneConfig,
} from './model/backbones';
export {
  MvfaceError,
  ShapeError,
  LabelError,
  NonFiniteError,
  ConfigError,
  IoError,
  LoadError,
  NativeError,
  type ErrorCode,
} from './errors';
export {
  marginLoss,
  marginLossAsync,
  resolveHeadConfig,
  type HeadConfig,
  type HeadType,
  type LossOptions,
  type LossResult,
  type Mining,
  type MvMode,
  type ScaledHeadConfig,
} from './loss/margin-loss';
export type { NativeLossConfig } from './native/types';
export { matrix, type Matrix } from './loss/matrix';
export { DataLoader, fashionMnistRoot, type Batch, type DataInfo, type DataSpec, type LoaderOptions, type OnCorrupt } from './data/loader';
export type { NativeBackendInfo, NativeComm, NativeLoader, NativeLossResult, NativeMatrix } from './native/types';
export {
  generateFaces,
  drawIdentities,
  variationFor,
  variationAtOne,
  type Families,
  type FaceOptions,
  type FaceResult,
  type FaceSet,
  type Variation,
} from './data/faces';
export type { FaceConfig } from './data/faces/facesjs';
export { evaluate, evaluateModel, formatEvalTable, readEvalReport, type EvalModel, type EvalReport, type EvaluateOptions } from './eval/evaluate';
export type { EvalSetResult } from './eval/score-set';
export {
  decodeImages,
  readVerificationBin,
  readLfwPairs,
  drawPairs,
  galleryProbeSplit,
  type DecodedImages,
  type EvalSetSpec,
  type PairList,
} from './eval/sets';
export * from './eval/metrics';
export { Embedder } from './eval/embedder';
export { exportOnnx, onnxMetadata, onnxModelBytes, type StateDict } from './model/onnx/export';
export { alignFaces, readLandmarks, type FaceLandmarks } from './data/align';
export { Model, type EmbedOptions, type ModelFile, type ModelInfo, type Preprocessing, type StateEntry } from './model/model';
export { embedDataSet, type EmbedDataOptions, type EmbeddedDataSet } from './model/embed-data-set';
export type { EmbedFn, Embeddings, ImageShape } from './eval/flip-embeddings';
export { writeReport, type ReportFiles } from './report/report';
export {
  Trainer,
  type CreateOptions,
  type Device,
  type TrainConfig,
  type FitOptions,
  type FitResult,
  type StepInfo,
  type StepMode,
  type EpochInfo,
} from './train/trainer';
export type { LossScaleConfig, Precision, PrecisionConfig } from './train/precision';
export type { TrainEvalConfig } from './train/periodic-eval';
export type { RunPaths } from './train/run-files';
export { learningRate, type Schedule, type ScheduleSettings } from './train/schedule';
export { ProcessGroup, classShard } from './train/distributed';
export {
  compareHeads,
  defaultHeads,
  formatCompareTable,
  formatPairedTable,
  type CompareCell,
  type CompareConfig,
  type CompareDataset,
  type CompareOptions,
  type FacesSetup,
  type HeadEntry,
} from './experiments/compare';
export { comparePreset, comparePresets, type ComparePreset } from './experiments/compare-presets';
export { pairedDifference, type PairedDifference, type PairedVerdict } from './experiments/paired';
