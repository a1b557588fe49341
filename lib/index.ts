export { backendInfo, setThreads, type BackendInfo } from './backend';
export { backboneDefaults, headDefaults, lossScaleDefaults, optimizerDefaults, scheduleDefaults, trainDefaults } from './defaults';
export {
  backboneInfo,
  backboneNames,
  resolveBackboneConfig,
  type BackboneConfig,
  type BackboneInfo,
  type BackboneName,
  type ResolvedBackboneConfig,
} from './backbones';
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
} from './loss';
export type { NativeLossConfig } from './native-types';
export { matrix, type Matrix } from './matrix';
export { DataLoader, fashionMnistRoot, type Batch, type DataInfo, type DataSpec, type LoaderOptions, type NativeLoader, type OnCorrupt } from './data';
export { generateFaces, drawIdentities, variationFor, variationAtOne, type FaceOptions, type FaceResult, type FaceSet, type Variation } from './faces';
export type { FaceConfig } from './faces/facesjs';
export { evaluate, evaluateModel, formatEvalTable, readEvalReport, type EvalModel, type EvalReport, type EvaluateOptions } from './evaluate';
export type { EvalSetResult } from './evaluate-set';
export {
  decodeImages,
  readVerificationBin,
  readLfwPairs,
  drawPairs,
  galleryProbeSplit,
  type DecodedImages,
  type EvalSetSpec,
  type PairList,
} from './eval-sets';
export * from './metrics';
export { Embedder } from './embedder';
export { exportOnnx, onnxMetadata, onnxModelBytes, type StateDict } from './onnx/export';
export { alignFaces, readLandmarks, type FaceLandmarks } from './align';
export { Model, type EmbedOptions, type ModelFile, type ModelInfo, type Preprocessing, type StateEntry } from './model';
export { embedDataSet, type EmbedDataOptions, type EmbeddedDataSet } from './embed-data';
export type { EmbedFn, Embeddings, ImageShape } from './embeddings';
export { writeReport, type ReportFiles } from './report';
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
} from './trainer';
export type { LossScaleConfig, Precision, PrecisionConfig } from './precision';
export type { TrainEvalConfig } from './train-eval';
export type { RunPaths } from './run-files';
export { learningRate, type Schedule, type ScheduleSettings } from './schedule';
export { ProcessGroup, classShard } from './distributed';
export { compareHeads, defaultHeads, formatCompareTable, type CompareCell, type CompareConfig, type CompareDataset, type HeadEntry } from './compare';
