export { backendInfo, setThreads, type BackendInfo } from './backend';
export { backboneInfo, backboneNames, resolveBackboneConfig, type BackboneConfig, type BackboneInfo, type BackboneName } from './backbones';
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
export { marginLoss, marginLossAsync, resolveHeadConfig, headDefaults, type HeadConfig, type HeadType, type LossOptions, type LossResult, type Mining, type MvMode } from './loss';
export { matrix, type Matrix } from './matrix';
export { DataLoader, fashionMnistRoot, type Batch, type DataInfo, type DataSpec, type LoaderOptions, type OnCorrupt } from './data';
export { generateFaces, drawIdentities, variationFor, variationAtOne, type FaceOptions, type FaceResult, type FaceSet, type Variation } from './faces';
export { evaluate, evaluateModel, formatEvalTable, readEvalReport, type EvalReport, type EvaluateOptions } from './evaluate';
export { decodeImages, readVerificationBin, readLfwPairs, drawPairs, galleryProbeSplit, type EvalSetSpec } from './eval-sets';
export * from './metrics';
export { Embedder } from './embedder';
export { writeReport } from './report';
export { Trainer, type TrainConfig, type FitOptions, type FitResult, type StepInfo, type StepMode, type EpochInfo } from './trainer';
export { learningRate, type Schedule } from './schedule';
export { ProcessGroup, classShard } from './distributed';
export { compareHeads, defaultHeads, formatCompareTable, type CompareCell, type CompareConfig } from './compare';
