/**
 * The backbones of native/core/backbones as ONNX nodes, block by block, as their forward passes run in
 * eval mode: batch norms use the running statistics, dropout is the identity.
 */
import type { ResolvedBackboneConfig } from '../backbones';
import type { StateDict } from './export';
import type { GraphBuilder } from './graph';

/** A value N x channels x size x size, or with size 0 an N x channels matrix. */
export interface Value {
  name: string;
  channels: number;
  size: number;
}

/** Emits the layers' nodes, taking their weights from a state dict keyed by module path. */
export class Emitter {
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  constructor(
    private readonly graph: GraphBuilder,
    private readonly state: StateDict,
  ) {}

  /** State entries that no layer took (num_batches_tracked aside). */
  unusedKeys(): string[] {
    return Object.keys(this.state).filter((key) => !this.used.has(key) && !key.endsWith('.num_batches_tracked'));
  }

  /** The state entry `key`, which must have shape `shape`, as an initializer of shape `dims`. */
  private param(key: string, shape: number[], dims = shape): string {
    const entry = this.state[key];
    if (!entry) throw new Error(`state dict: missing ${key} (shape [${shape}])`);
    if (entry.shape.join() !== shape.join()) throw new Error(`state dict: ${key} has shape [${entry.shape}], expected [${shape}]`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (entry.data.length !== size) throw new Error(`state dict: ${key} has ${entry.data.length} values, its shape [${shape}] ${size}`);
    this.used.add(key);
    return this.graph.addFloat(key, entry.data, dims);
  }

  private int64(values: number[]): string {
    const key = values.join('_');
    let name = this.constants.get(key);
    if (!name) {
      name = this.graph.addInt64(`const_${key}`, values);
      this.constants.set(key, name);
    }
    return name;
  }

  /** Conv2d without bias. */
  conv(x: Value, key: string, out: number, kernel: number, stride = 1, pad = 0, groups = 1): Value {
    const weight = this.param(`${key}.weight`, [out, x.channels / groups, kernel, kernel]);
    const attributes = { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad], group: groups };
    const name = this.graph.addNode('Conv', [x.name, weight], attributes, key);
    return { name, channels: out, size: Math.floor((x.size + 2 * pad - kernel) / stride) + 1 };
  }

  /** BatchNorm2d, or BatchNorm1d on a matrix, with the running statistics. */
  batchNorm(x: Value, key: string): Value {
    const inputs = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => this.param(`${key}.${p}`, [x.channels]));
    return { ...x, name: this.graph.addNode('BatchNormalization', [x.name, ...inputs], { epsilon: { float: 1e-5 } }, key) };
  }

  /** PReLU with a slope per channel, on an N x C x H x W value. */
  prelu(x: Value, key: string): Value {
    const slope = this.param(`${key}.weight`, [x.channels], [x.channels, 1, 1]);
    return { ...x, name: this.graph.addNode('PRelu', [x.name, slope], {}, key) };
  }

  add(a: Value, b: Value, name = 'add'): Value {
    return { ...a, name: this.graph.addNode('Add', [a.name, b.name], {}, name) };
  }

  mul(a: Value, b: Value, name = 'mul'): Value {
    return { ...a, name: this.graph.addNode('Mul', [a.name, b.name], {}, name) };
  }

  /** 1 + x. */
  plusOne(x: Value, name = 'plus_one'): Value {
    const one = this.constants.get('one') ?? this.graph.addFloat('const_one', new Float32Array([1]), [1]);
    this.constants.set('one', one);
    return { ...x, name: this.graph.addNode('Add', [one, x.name], {}, name) };
  }

  relu(x: Value, name = 'relu'): Value {
    return { ...x, name: this.graph.addNode('Relu', [x.name], {}, name) };
  }

  sigmoid(x: Value, name = 'sigmoid'): Value {
    return { ...x, name: this.graph.addNode('Sigmoid', [x.name], {}, name) };
  }

  maxPool(x: Value, kernel: number, stride: number, pad: number, name = 'maxpool'): Value {
    const attributes = { kernel_shape: [kernel, kernel], strides: [stride, stride], pads: [pad, pad, pad, pad] };
    const size = Math.floor((x.size + 2 * pad - kernel) / stride) + 1;
    return { name: this.graph.addNode('MaxPool', [x.name], attributes, name), channels: x.channels, size };
  }

  /** FaceX-Zoo's SEModule: x * sigmoid(fc2(relu(fc1(avgpool(x))))). */
  se(x: Value, key: string): Value {
    const pooled = { ...x, name: this.graph.addNode('GlobalAveragePool', [x.name], {}, `${key}.pool`), size: 1 };
    const hidden = this.relu(this.conv(pooled, `${key}.fc1`, x.channels / 16, 1), `${key}.relu`);
    return this.mul(x, this.sigmoid(this.conv(hidden, `${key}.fc2`, x.channels, 1), `${key}.sigmoid`), key);
  }

  flatten(x: Value, name = 'flatten'): Value {
    return { name: this.graph.addNode('Flatten', [x.name], { axis: 1 }, name), channels: x.channels * x.size * x.size, size: 0 };
  }

  /** Linear on a matrix: x W^T (+ b). */
  linear(x: Value, key: string, out: number, bias: boolean): Value {
    const inputs = [x.name, this.param(`${key}.weight`, [out, x.channels])];
    if (bias) inputs.push(this.param(`${key}.bias`, [out]));
    return { name: this.graph.addNode('Gemm', inputs, { transB: 1 }, key), channels: out, size: 0 };
  }

  /** Bilinear upsampling to size x size with align_corners, the batch size read from x. */
  upsample(x: Value, size: number, name = 'upsample'): Value {
    const shape = this.graph.addNode('Shape', [x.name], {}, `${name}.shape`);
    const batchChannels = this.graph.addNode('Slice', [shape, this.int64([0]), this.int64([2]), this.int64([0])], {}, `${name}.nc`);
    const sizes = this.graph.addNode('Concat', [batchChannels, this.int64([size, size])], { axis: 0 }, `${name}.sizes`);
    const attributes = { mode: 'linear', coordinate_transformation_mode: 'align_corners' };
    return { ...x, name: this.graph.addNode('Resize', [x.name, '', '', sizes], attributes, name), size };
  }
}

/** Conv-BN-PReLU, or conv-BN when linear (ConvBlock). */
function convBlock(e: Emitter, x: Value, key: string, out: number, kernel = 1, stride = 1, pad = 0, groups = 1, linear = false): Value {
  const y = e.batchNorm(e.conv(x, `${key}.conv`, out, kernel, stride, pad, groups), `${key}.bn`);
  return linear ? y : e.prelu(y, `${key}.prelu`);
}

/** 1x1 expand to `groups` channels, depthwise 3x3, linear 1x1 projection (+ x). */
function depthWise(e: Emitter, x: Value, key: string, out: number, groups: number, stride: number, residual: boolean): Value {
  let y = convBlock(e, x, `${key}.conv`, groups);
  y = convBlock(e, y, `${key}.conv_dw`, groups, 3, stride, 1, groups);
  y = convBlock(e, y, `${key}.project`, out, 1, 1, 0, 1, true);
  return residual ? e.add(y, x, key) : y;
}

function residualStage(e: Emitter, x: Value, key: string, blocks: number, groups: number): Value {
  for (let i = 0; i < blocks; i++) x = depthWise(e, x, `${key}.model.${i}`, x.channels, groups, 1, true);
  return x;
}

function mobileFaceNet(e: Emitter, x: Value, config: ResolvedBackboneConfig): Value {
  x = convBlock(e, x, 'conv1', 64, 3, 2, 1);
  x = convBlock(e, x, 'conv2_dw', 64, 3, 1, 1, 64);
  x = depthWise(e, x, 'conv_23', 64, 128, 2, false);
  x = residualStage(e, x, 'conv_3', 4, 128);
  x = depthWise(e, x, 'conv_34', 128, 256, 2, false);
  x = residualStage(e, x, 'conv_4', 6, 256);
  x = depthWise(e, x, 'conv_45', 128, 512, 2, false);
  x = residualStage(e, x, 'conv_5', 2, 256);
  x = convBlock(e, x, 'conv_6_sep', 512);
  x = convBlock(e, x, 'conv_6_dw', 512, x.size, 1, 0, 512, true);
  return e.batchNorm(e.linear(e.flatten(x), 'linear', config.embeddingSize, false), 'bn');
}

/** conv1x1(stride)-BN, the residual blocks' projection shortcut. */
function projection(e: Emitter, x: Value, key: string, out: number, stride: number): Value {
  return e.batchNorm(e.conv(x, `${key}.0`, out, 1, stride), `${key}.1`);
}

/** IBasicBlock: BN-conv3x3-BN-PReLU-conv3x3(stride)-BN [-SE] + the identity or a projection. */
function basicBlock(e: Emitter, x: Value, key: string, planes: number, stride: number, se: boolean): Value {
  let y = e.conv(e.batchNorm(x, `${key}.bn1`), `${key}.conv1`, planes, 3, 1, 1);
  y = e.prelu(e.batchNorm(y, `${key}.bn2`), `${key}.prelu`);
  y = e.batchNorm(e.conv(y, `${key}.conv2`, planes, 3, stride, 1), `${key}.bn3`);
  if (se) y = e.se(y, `${key}.se`);
  const shortcut = stride !== 1 || x.channels !== planes ? projection(e, x, `${key}.downsample`, planes, stride) : x;
  return e.add(y, shortcut, key);
}

const iresnetLayers: Record<string, number[]> = {
  iresnet18: [2, 2, 2, 2],
  iresnet34: [3, 4, 6, 3],
  iresnet50: [3, 4, 14, 3],
  iresnet100: [3, 13, 30, 3],
};

function iresnet(e: Emitter, x: Value, config: ResolvedBackboneConfig): Value {
  x = e.prelu(e.batchNorm(e.conv(x, 'conv1', 64, 3, 1, 1), 'bn1'), 'prelu');
  iresnetLayers[config.name].forEach((blocks, i) => {
    for (let b = 0; b < blocks; b++) x = basicBlock(e, x, `layer${i + 1}.${b}`, 64 << i, b === 0 ? 2 : 1, config.block === 'ir_se');
  });
  x = e.flatten(e.batchNorm(x, 'bn2'));
  return e.batchNorm(e.linear(x, 'fc', config.embeddingSize, true), 'features');
}

/** BN-conv1x1-BN-PReLU-conv3x3(stride)-BN-PReLU-conv1x1-BN-SE + the identity or a projection. */
function residualUnit(e: Emitter, x: Value, key: string, out: number, stride = 1): Value {
  const mid = out / 4;
  let y = e.conv(e.batchNorm(x, `${key}.bn1`), `${key}.conv1`, mid, 1);
  y = e.prelu(e.batchNorm(y, `${key}.bn2`), `${key}.prelu1`);
  y = e.prelu(e.batchNorm(e.conv(y, `${key}.conv2`, mid, 3, stride, 1), `${key}.bn3`), `${key}.prelu2`);
  y = e.se(e.batchNorm(e.conv(y, `${key}.conv3`, out, 1), `${key}.bn4`), `${key}.se`);
  const shortcut = stride !== 1 || x.channels !== out ? projection(e, x, `${key}.shortcut`, out, stride) : x;
  return e.add(y, shortcut, key);
}

/**
 * The attention module with `levels` max-pooling levels: a trunk of two units, and a soft mask that goes
 * down by max-pooling, comes back up by bilinear upsampling with skip connections, and ends in
 * BN-ReLU-conv-BN-ReLU-conv-sigmoid. Output: last_blocks((1 + mask) * trunk).
 */
function attentionModule(e: Emitter, input: Value, key: string, levels: number): Value {
  const unit = (x: Value, name: string) => residualUnit(e, x, `${key}.${name}`, x.channels);
  const blocks = (i: number) => `softmax${i}_blocks`;
  const x = unit(input, 'first_residual_blocks');
  const trunk = unit(unit(x, 'trunk_branches.0'), 'trunk_branches.1');
  const level: Value[] = [];
  const skip: Value[] = [];
  for (let i = 0; i < levels; i++) {
    const pooled = e.maxPool(i === 0 ? x : level[i - 1], 3, 2, 1, `${key}.pool${i + 1}`);
    if (i + 1 < levels) {
      level.push(unit(pooled, blocks(i + 1)));
      skip.push(unit(level[i], `skip${i + 1}_connection_residual_block`));
    } else {
      level.push(unit(unit(pooled, `${blocks(i + 1)}.0`), `${blocks(i + 1)}.1`));
    }
  }
  let out = level[levels - 1];
  for (let i = levels - 2, up = levels + 1; i >= 0; i--, up++) {
    const sum = e.add(e.add(e.upsample(out, level[i].size, `${key}.up${up}`), level[i]), skip[i]);
    out = unit(sum, blocks(up));
  }
  const mask = `${key}.${blocks(2 * levels)}`;
  let m = e.add(e.upsample(out, trunk.size, `${mask}.up`), trunk);
  m = e.conv(e.relu(e.batchNorm(m, `${mask}.0`)), `${mask}.2`, m.channels, 1);
  m = e.conv(e.relu(e.batchNorm(m, `${mask}.3`)), `${mask}.5`, m.channels, 1);
  return unit(e.mul(e.plusOne(e.sigmoid(m, `${mask}.6`)), trunk), 'last_blocks');
}

/** output_layer: BN2d - Dropout - Flatten - Linear - BN1d (identities for the BNs with norm 'none'). */
function embeddingLayer(e: Emitter, x: Value, config: ResolvedBackboneConfig): Value {
  const norm = config.norm === 'batch';
  if (norm) x = e.batchNorm(x, 'output_layer.0');
  const y = e.linear(e.flatten(x), 'output_layer.3', config.embeddingSize, true);
  return norm ? e.batchNorm(y, 'output_layer.4') : y;
}

function attention56(e: Emitter, x: Value, config: ResolvedBackboneConfig): Value {
  x = e.prelu(e.batchNorm(e.conv(x, 'conv1.0', 64, 7, 2, 3), 'conv1.1'), 'conv1.2');
  x = residualUnit(e, x, 'attention_body.0', 256);
  x = attentionModule(e, x, 'attention_body.1', 3);
  x = residualUnit(e, x, 'attention_body.2', 512, 2);
  x = attentionModule(e, x, 'attention_body.3', 2);
  x = residualUnit(e, x, 'attention_body.4', 1024, 2);
  x = attentionModule(e, x, 'attention_body.5', 1);
  x = residualUnit(e, x, 'attention_body.6', 2048, 2);
  x = residualUnit(e, x, 'attention_body.7', 2048);
  x = residualUnit(e, x, 'attention_body.8', 2048);
  return embeddingLayer(e, x, config);
}

/** Three conv3x3-BN-PReLU-maxpool2 stages (32, 64, 128 channels), then the embedding layer. */
function small(e: Emitter, x: Value, config: ResolvedBackboneConfig): Value {
  [32, 64, 128].forEach((width, i) => {
    const key = `stage${i + 1}`;
    x = e.conv(x, `${key}.0`, width, 3, 1, 1);
    if (config.norm === 'batch') x = e.batchNorm(x, `${key}.1`);
    x = e.maxPool(e.prelu(x, `${key}.2`), 2, 2, 0, `${key}.3`);
  });
  return embeddingLayer(e, x, config);
}

/** The backbone's nodes from the input value to the N x embeddingSize embeddings. */
export function emitBackbone(e: Emitter, input: Value, config: ResolvedBackboneConfig): Value {
  if (config.name === 'mobilefacenet') return mobileFaceNet(e, input, config);
  if (config.name === 'attention56') return attention56(e, input, config);
  if (config.name === 'small') return small(e, input, config);
  if (Object.hasOwn(iresnetLayers, config.name)) return iresnet(e, input, config);
  throw new Error(`ONNX export: unknown backbone '${config.name}'`);
}
