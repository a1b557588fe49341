/** ONNX export of a backbone with given weights, pure TypeScript (no native code). */
import * as fs from 'node:fs';
import type { ResolvedBackboneConfig } from '../backbones';
import { createError } from '../../errors';
import { Model } from '../model';
import { Emitter, emitBackbone } from './backbones';
import { GraphBuilder } from './graph';

/** Tensors keyed by their PyTorch module path (e.g. `layer1.0.bn1.running_mean`), row-major float32. */
export type StateDict = Record<string, { shape: number[]; data: Float32Array }>;

/**
 * The ONNX model (IR 8, opset 17) of the backbone in eval mode with the weights of `state`: input `input`
 * (float32 N x inChannels x inputSize x inputSize, N dynamic), output `embedding` (float32 N x embeddingSize,
 * raw, not normalised). `metadata` goes to the model's metadata_props. Throws when a state entry is
 * missing, has another shape, or belongs to no layer (num_batches_tracked entries are ignored).
 */
export function onnxModelBytes(config: ResolvedBackboneConfig, state: StateDict, metadata: Record<string, string>): Uint8Array {
  const size = config.inputSize;
  const supported = config.name === 'small' ? size >= 8 && size <= 64 : size >= 16 && size % 16 === 0;
  if (!supported) throw new Error(`ONNX export: inputSize ${size} is not supported by ${config.name}`);
  const graph = new GraphBuilder(`mvface_${config.name}`);
  const input = graph.addInput('input', ['batch', config.inChannels, size, size]);
  const emitter = new Emitter(graph, state);
  const output = emitBackbone(emitter, { name: input, channels: config.inChannels, size }, config);
  const unused = emitter.unusedKeys();
  if (unused.length > 0) {
    const listed = unused.length > 5 ? `${unused.slice(0, 5).join(', ')} and ${unused.length - 5} more` : unused.join(', ');
    throw new Error(`state dict: ${listed} belong to no layer of ${config.name} (block ${config.block}, norm ${config.norm})`);
  }
  graph.addOutput('embedding', output.name, ['batch', config.embeddingSize]);
  return graph.encode({ irVersion: 8, opsetVersion: 17, producerName: 'mvface', metadata });
}

/** The model's preprocessing and architecture as ONNX metadata_props (values are strings). */
export function onnxMetadata(model: Model): Record<string, string> {
  const { backbone, input, preprocessing, step } = model.info;
  return {
    'mvface:format': 'mvface-onnx-1',
    'mvface:backbone': JSON.stringify(backbone),
    input_shape: JSON.stringify(['N', input.channels, input.height, input.width]),
    channel_order: preprocessing.channelOrder,
    input_mean: String(preprocessing.mean),
    input_std: String(preprocessing.std),
    normalization: `(pixel - ${preprocessing.mean}) / ${preprocessing.std}`,
    alignment: preprocessing.alignment,
    flip: preprocessing.flip,
    output: 'embedding: raw (not normalised); compare faces by the cosine of L2-normalised embeddings',
    ...(step !== undefined && { step: String(step) }),
  };
}

/**
 * Writes the model as ONNX (IR 8, opset 17, batch norms kept, dynamic batch axis) to `file`, through
 * a temporary file renamed into place; `model` is a Model or anything Model.load takes.
 */
export async function exportOnnx(model: Model | string, file: string): Promise<string> {
  const loaded = typeof model === 'string' ? await Model.load(model) : model;
  try {
    const state: StateDict = {};
    for (const e of await loaded.state()) if (e.data instanceof Float32Array) state[e.name] = { shape: e.shape, data: e.data };
    const bytes = onnxModelBytes(loaded.info.backbone, state, onnxMetadata(loaded));
    const tmp = `${file}.tmp`;
    try {
      fs.writeFileSync(tmp, bytes);
      fs.renameSync(tmp, file);
    } catch (e) {
      throw createError('E_IO', `${file}: cannot write (${(e as Error).message})`, file);
    }
    return file;
  } finally {
    if (loaded !== model) loaded.dispose();
  }
}
