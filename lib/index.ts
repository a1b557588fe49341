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
export { marginLoss, marginLossAsync, resolveHeadConfig, headDefaults, type HeadConfig, type HeadType, type LossResult, type Mining, type MvMode } from './loss';
export { matrix, type Matrix } from './matrix';
export { DataLoader, fashionMnistRoot, type Batch, type DataInfo, type DataSpec, type LoaderOptions, type OnCorrupt } from './data';
