/**
 * Face-recognition backbones (native/core/backbones): their configs, defaults, and a description of each
 * built model. Module names follow the PyTorch reference code, so state dicts exchange with PyTorch.
 */
import { backboneDefaults } from '../config/defaults';
import { createError } from '../errors';
import { native } from '../native/addon';

export type BackboneName = 'mobilefacenet' | 'iresnet18' | 'iresnet34' | 'iresnet50' | 'iresnet100' | 'attention56' | 'small';

export const backboneNames: readonly BackboneName[] = ['mobilefacenet', 'iresnet18', 'iresnet34', 'iresnet50', 'iresnet100', 'attention56', 'small'];

export interface BackboneConfig {
  name: BackboneName;
  /** Default 512. */
  embeddingSize?: number;
  /** Side of the square input: face backbones a multiple of 16, default 112; small 8 to 64, default 28. */
  inputSize?: number;
  /** Default 3; small: 1 (Fashion-MNIST). */
  inChannels?: number;
  /** iresnet*: 'ir' (default) or 'ir_se' (squeeze-excitation in each block). */
  block?: 'ir' | 'ir_se';
  /** Dropout before the embedding layer, in [0, 1); default 0. */
  dropout?: number;
  /**
   * small only: 'none' replaces its batch norms by identities (no batch statistics, so data-parallel
   * training equals one process on the global batch). Default 'batch'.
   */
  norm?: 'batch' | 'none';
}

/** The config with every field present, as native code reads it. */
export type ResolvedBackboneConfig = Required<BackboneConfig>;

export interface BackboneInfo {
  /** Number of parameters, frozen ones included (PyTorch's sum of numel over model.parameters()). */
  parameters: number;
  /** Elements in the parameters SGD decays, and in those it does not (BN weights and biases, every bias). */
  decayParameters: number;
  noDecayParameters: number;
  /** Shape of the output for a batch of 2, e.g. [2, 512]; absent when built with `forward: false`. */
  outputShape?: number[];
  /** Shape of every state dict entry (parameters and buffers), keyed as in PyTorch. */
  stateShapes: Record<string, number[]>;
}

/** Fills in the defaults. Range checks happen natively (E_CONFIG). */
export function resolveBackboneConfig(config: BackboneConfig): ResolvedBackboneConfig {
  if (config === null || typeof config !== 'object') throw createError('E_CONFIG', 'backbone: must be an object', 'backbone');
  const d = backboneDefaults;
  const sized = config.name === 'small' ? d.small : d;
  return {
    name: config.name,
    embeddingSize: config.embeddingSize ?? d.embeddingSize,
    inputSize: config.inputSize ?? sized.inputSize,
    inChannels: config.inChannels ?? sized.inChannels,
    block: config.block ?? d.block,
    dropout: config.dropout ?? d.dropout,
    norm: config.norm ?? d.norm,
  };
}

/**
 * Builds the model and reports its parameter count, state dict shapes and (unless `forward: false`) the
 * output shape of a forward pass on a zero batch of 2. Runs on a worker thread.
 */
export async function backboneInfo(config: BackboneConfig, options: { forward?: boolean } = {}): Promise<BackboneInfo> {
  return native().backboneInfo(resolveBackboneConfig(config), options.forward ?? true);
}

/**
 * Embeddings (n x embeddingSize, row-major) of `images` (n x inChannels x inputSize x inputSize) by a model
 * freshly initialised from `seed`, in eval mode. For tests.
 */
export async function backboneForward(config: BackboneConfig, seed: number, images: Float32Array, n: number): Promise<Float32Array> {
  return native().backboneForward(resolveBackboneConfig(config), seed, images, n);
}
