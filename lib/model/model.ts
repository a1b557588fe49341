/**
 * A trained backbone on its own: load it from a run folder or a model.pt + model.json pair, embed
 * images, save it. It needs no training data, class head or optimizer state, and writes nothing
 * unless asked to save.
 */
import type { NativeModel } from '../native/types';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type BackboneConfig, resolveBackboneConfig, type ResolvedBackboneConfig } from './backbones';
import { type Embeddings, embedWithMirror, type ImageShape, normalizeRows } from '../eval/flip-embeddings';
import { createError } from '../errors';
import { decodeImages } from '../eval/sets';
import { native } from '../native/addon';
import { readJson, runPaths, writeJsonAtomic } from '../train/run-files';

/** How images become the model's input; the same as in training. */
export interface Preprocessing {
  /** 'RGB' for 3 channels, 'gray' for 1. */
  channelOrder: 'RGB' | 'gray';
  /** input = (pixel - mean) / std, pixels in 0..255. */
  mean: number;
  std: number;
  /** Layout of the input tensor. */
  layout: 'NCHW';
  /** Faces: aligned crops (the 5-point 112 x 112 ArcFace template, see alignFaces). */
  alignment: string;
  /** Evaluation averages the embeddings of each image and its mirror image (flip: true). */
  flip: string;
}

export interface ModelInfo {
  backbone: ResolvedBackboneConfig;
  input: ImageShape;
  embeddingSize: number;
  preprocessing: Preprocessing;
  /** The training step the weights come from, when known. */
  step?: number;
}

/** model.json, beside model.pt. */
export interface ModelFile {
  format: 'mvface-backbone-1';
  backbone: ResolvedBackboneConfig;
  input: ImageShape & { normalisation: string };
  preprocessing: Preprocessing;
  step?: number;
  load: string;
}

export interface StateEntry {
  name: string;
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface EmbedOptions {
  /** Average each image's embedding with its mirror image's. Default true. */
  flip?: boolean;
  /** Scale each embedding to unit length. Default true. */
  normalize?: boolean;
  /** Images per native call. Default 64. */
  batchSize?: number;
}

export function preprocessingOf(channels: number): Preprocessing {
  return {
    channelOrder: channels === 1 ? 'gray' : 'RGB',
    mean: 127.5,
    std: 128,
    layout: 'NCHW',
    alignment: 'faces aligned to the 5-point 112 x 112 ArcFace template (alignFaces)',
    flip: 'average the embeddings of an image and its mirror image, then normalise',
  };
}

export function inputOf(backbone: ResolvedBackboneConfig): ImageShape {
  return { channels: backbone.inChannels, height: backbone.inputSize, width: backbone.inputSize };
}

/** model.json's content for a backbone (and the step its weights come from). */
export function modelFile(backbone: ResolvedBackboneConfig, step?: number): ModelFile {
  return {
    format: 'mvface-backbone-1',
    backbone,
    input: { ...inputOf(backbone), normalisation: '(x - 127.5) / 128' },
    preprocessing: preprocessingOf(backbone.inChannels),
    ...(step !== undefined && { step }),
    load: "model = mvface_backbones.build_config(config['backbone']); model.load_state_dict(torch.load('model.pt')); model.eval()  # python/mvface_backbones.py in the mvface package",
  };
}

interface Located {
  weights: string;
  backbone: ResolvedBackboneConfig;
  step?: number;
}

/** model.json for `x.pt` is `x.json`. */
function metaOf(weights: string): string {
  return `${weights.replace(/\.pt$/, '')}.json`;
}

function readModelFile(file: string): Located {
  const meta = readJson<ModelFile>(file);
  if (meta.format !== 'mvface-backbone-1' || typeof meta.backbone !== 'object') {
    throw createError('E_IO', `${file}: not an mvface model.json (format ${String(meta.format)})`, file);
  }
  return { weights: path.join(path.dirname(file), `${path.basename(file, '.json')}.pt`), backbone: resolveBackboneConfig(meta.backbone), step: meta.step };
}

/** A run folder: model.pt when training finished, else its last checkpoint. */
function locateRun(dir: string): Located {
  const paths = runPaths(dir);
  if (fs.existsSync(paths.modelMeta) && fs.existsSync(paths.model)) return readModelFile(paths.modelMeta);
  if (!fs.existsSync(paths.config) || !fs.existsSync(paths.checkpoint)) {
    throw createError('E_IO', `${dir}: no model.pt + model.json nor config.json + checkpoint.pt (not a run folder?)`, dir);
  }
  const config = readJson<{ backbone: BackboneConfig }>(paths.config);
  const step = fs.existsSync(paths.checkpointMeta) ? readJson<{ step?: number }>(paths.checkpointMeta).step : undefined;
  return { weights: paths.checkpoint, backbone: resolveBackboneConfig(config.backbone), step };
}

function locate(file: string): Located {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw createError('E_IO', `${file}: no such file or folder`, file);
  }
  if (stat.isDirectory()) return locateRun(file);
  const meta = file.endsWith('.json') ? file : metaOf(file);
  if (!fs.existsSync(meta)) throw createError('E_IO', `${meta}: missing (model.json describes the architecture of ${file})`, meta);
  return readModelFile(meta);
}

export class Model {
  readonly info: ModelInfo;

  private constructor(
    private handle: NativeModel | undefined,
    backbone: ResolvedBackboneConfig,
    step: number | undefined,
  ) {
    const input = inputOf(backbone);
    this.info = { backbone, input, embeddingSize: backbone.embeddingSize, preprocessing: preprocessingOf(input.channels), ...(step !== undefined && { step }) };
  }

  /**
   * From a run folder (model.pt + model.json, or while training its checkpoint), a model.pt (with
   * model.json beside it) or a model.json. Reads only.
   */
  static async load(file: string, options: { device?: string } = {}): Promise<Model> {
    const found = locate(file);
    const handle = await native().loadModel(found.backbone, found.weights, options.device ?? 'cpu');
    return new Model(handle, found.backbone, found.step);
  }

  /** A freshly initialised model (the trainer's initialisation for `seed`). */
  static async create(config: BackboneConfig, options: { seed?: number; device?: string } = {}): Promise<Model> {
    const backbone = resolveBackboneConfig(config);
    return new Model(await native().createModel(backbone, options.seed ?? 0, options.device ?? 'cpu'), backbone, undefined);
  }

  get input(): ImageShape {
    return this.info.input;
  }

  /** The training step of the weights (0 when unknown). */
  get step(): number {
    return this.info.step ?? 0;
  }

  /** Raw embeddings of `count` preprocessed images, one native call (no flip, not normalised). */
  readonly embedRaw = (images: Float32Array, count: number): Promise<Float32Array> => this.live().embed(images, count);

  /**
   * Embeddings of preprocessed images (a count x C x H x W Float32Array) or of encoded JPEG/PNG
   * files (decoded natively; each must already be the model's input size).
   */
  async embed(images: Float32Array | Uint8Array[], options: EmbedOptions = {}): Promise<Embeddings> {
    const batch = Array.isArray(images) ? await this.decoded(images) : images;
    const size = this.input.channels * this.input.height * this.input.width;
    const count = batch.length / size;
    if (!Number.isInteger(count) || count < 1) {
      throw createError(
        'E_SHAPE',
        `images: ${batch.length} values is not a whole number (>= 1) of ${this.input.channels} x ${this.input.height} x ${this.input.width} images`,
        'images',
      );
    }
    const step = options.batchSize ?? 64;
    const dim = this.info.embeddingSize;
    const data = new Float32Array(count * dim);
    for (let start = 0; start < count; start += step) {
      const n = Math.min(step, count - start);
      data.set(await this.embedBatch(batch.subarray(start * size, (start + n) * size), n, options.flip ?? true), start * dim);
    }
    if (options.normalize ?? true) normalizeRows(data, dim);
    return { data, count, dim };
  }

  /** Every parameter and buffer, by its PyTorch name. */
  state(): Promise<StateEntry[]> {
    return this.live().state();
  }

  /** Replaces the weights (the names and shapes of state()). */
  setState(state: StateEntry[]): Promise<void> {
    return this.live().setState(state);
  }

  /** Writes `file` (model.pt, for torch.load too) and model.json beside it; returns `file`. */
  async save(file: string): Promise<string> {
    await this.live().save(file);
    writeJsonAtomic(metaOf(file), modelFile(this.info.backbone, this.info.step));
    return file;
  }

  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  private live(): NativeModel {
    if (!this.handle) throw createError('E_CONFIG', 'model: was disposed', 'model');
    return this.handle;
  }

  private async embedBatch(images: Float32Array, n: number, flip: boolean): Promise<Float32Array> {
    if (!flip) return this.embedRaw(images, n);
    return (await embedWithMirror(this.embedRaw, images, n, this.input)).map((v) => v / 2);
  }

  private async decoded(files: Uint8Array[]): Promise<Float32Array> {
    const { channels, height, width } = this.input;
    const d = await decodeImages(files, channels as 1 | 3);
    if (d.height !== height || d.width !== width) {
      throw createError(
        'E_SHAPE',
        `images: ${d.width} x ${d.height}, the model takes ${width} x ${height}: align the faces first (alignFaces) or resize them`,
        'images',
      );
    }
    return d.images;
  }
}
