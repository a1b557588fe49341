/**
 * Data sets and the native batch loader. Images are decoded, normalised ((x - 127.5) / 128) and
 * batched by native threads ahead of the consumer; batches depend only on the spec, the options and
 * the epoch, never on the number of workers.
 */
import type { NativeLoader } from '../native/types';
import * as os from 'node:os';
import * as path from 'node:path';
import { createError, MvfaceError } from '../errors';
import { native } from '../native/addon';

export const fashionMnistRoot = '/usr/share/datasets/fashion-mnist';

export type DataSpec =
  /** MNIST-style IDX files, gzipped or not. */
  | { kind: 'idx'; images: string; labels: string }
  /** Debian's dataset-fashion-mnist (or the same files under `root`). */
  | { kind: 'fashion-mnist'; split: 'train' | 'test'; root?: string }
  /** root/<identity>/<image>.{jpg,jpeg,png}; all images the same size. channels: 3 (default) or 1. */
  | { kind: 'imagefolder'; root: string; channels?: 1 | 3 }
  /** An InsightFace folder holding train.rec, train.idx and optionally property. */
  | { kind: 'recordio'; path: string; channels?: 1 | 3 }
  /** `classes` identities x `perClass` images, generated from `seed`; 112 x 112 x 3 by default. */
  | { kind: 'synthetic'; classes: number; perClass: number; height?: number; width?: number; channels?: 1 | 3; seed?: number };

export type DataKind = DataSpec['kind'];
export type OnCorrupt = 'skip' | 'fail';

export interface LoaderOptions {
  /** Default 128. */
  batchSize?: number;
  /** A permutation per epoch from (seed, epoch). Default true; false reads in order (evaluation). */
  shuffle?: boolean;
  /** Random horizontal flip, decided per (seed, epoch, sample). Default false. */
  flip?: boolean;
  /** Default 0. */
  seed?: number;
  /** Native decoding threads. Default: the machine's cores. */
  workers?: number;
  /** Batches decoded ahead of the consumer. Default 4. */
  prefetch?: number;
  /** Drop the last, smaller batch. Default false. */
  dropLast?: boolean;
  /** 'skip' drops corrupt samples and counts them in `skipped`; 'fail' (default) throws an IoError naming the file. */
  onCorrupt?: OnCorrupt;
  /**
   * Data parallel: global batches of worldSize x batchSize samples, of which this loader yields the
   * slice of `rank`; the last incomplete global batch is dropped. Default rank 0 of 1.
   */
  rank?: number;
  worldSize?: number;
  /**
   * Batches in page-locked memory, so that their upload to a GPU needs no copy into a pinned buffer
   * first (the Trainer turns it on when it trains on CUDA). Needs a CUDA build and device
   * (ConfigError otherwise). Default false.
   */
  pinned?: boolean;
}

export interface Batch {
  /** count x channels x height x width, row-major, (x - 127.5) / 128. */
  images: Float32Array;
  labels: Int32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
  /** Corrupt samples dropped from this batch (onCorrupt: 'skip'), and what each was (its file or record). */
  skipped: number;
  skippedItems: string[];
  epoch: number;
  /** The batch's position in its epoch. */
  index: number;
}

export interface DataInfo {
  size: number;
  numClasses: number;
  /** Classes below numClasses that no image carries (gaps in the labels; IDX: one stray label adds classes). */
  classesWithoutImages: number;
  channels: number;
  height: number;
  width: number;
  batchesPerEpoch: number;
}

/** The addon's loader object; DataLoader.nativeHandle hands it to other native code. */
function configError(option: string, message: string): MvfaceError {
  return createError('E_CONFIG', `${option}: ${message}`, option);
}

function checkKeys(object: object, allowed: string[], what: string): void {
  for (const key of Object.keys(object)) {
    if (!allowed.includes(key)) throw configError(key, `unknown ${what} option (expected one of ${allowed.join(', ')})`);
  }
}

function integer(value: unknown, fallback: number | undefined, option: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(option, `must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function boolean(value: unknown, fallback: boolean, option: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw configError(option, `must be true or false, got ${String(value)}`);
  return value;
}

function text(value: unknown, option: string): string {
  if (typeof value !== 'string' || value === '') throw configError(option, 'must be a non-empty string');
  return value;
}

function channels(value: unknown): number {
  if (value === undefined) return 3;
  if (value !== 1 && value !== 3) throw configError('channels', `must be 1 or 3, got ${String(value)}`);
  return value;
}

const specKeys: Record<DataKind, string[]> = {
  idx: ['images', 'labels'],
  'fashion-mnist': ['split', 'root'],
  imagefolder: ['root', 'channels'],
  recordio: ['path', 'channels'],
  synthetic: ['classes', 'perClass', 'height', 'width', 'channels', 'seed'],
};

function fashionMnistFiles(split: unknown, root: string): { images: string; labels: string } {
  if (split !== 'train' && split !== 'test') throw configError('split', `must be 'train' or 'test', got ${String(split)}`);
  const prefix = split === 'train' ? 'train' : 't10k';
  return { images: path.join(root, `${prefix}-images-idx3-ubyte.gz`), labels: path.join(root, `${prefix}-labels-idx1-ubyte.gz`) };
}

/** The spec with every field checked and filled in, as the addon reads it. */
export function resolveDataSpec(spec: DataSpec): Record<string, unknown> {
  if (spec === null || typeof spec !== 'object') throw configError('spec', 'must be an object');
  const kind = (spec as { kind?: unknown }).kind as DataKind;
  if (!(kind in specKeys)) throw configError('kind', `unknown data kind '${String(kind)}' (expected ${Object.keys(specKeys).join(', ')})`);
  checkKeys(spec, ['kind', ...specKeys[kind]], `'${kind}' data`);
  switch (spec.kind) {
    case 'idx':
      return { kind: 'idx', images: text(spec.images, 'images'), labels: text(spec.labels, 'labels') };
    case 'fashion-mnist':
      return { kind: 'idx', ...fashionMnistFiles(spec.split, spec.root === undefined ? fashionMnistRoot : text(spec.root, 'root')) };
    case 'imagefolder':
      return { kind: 'imagefolder', root: text(spec.root, 'root'), channels: channels(spec.channels) };
    case 'recordio':
      return { kind: 'recordio', path: text(spec.path, 'path'), channels: channels(spec.channels) };
    case 'synthetic':
      return {
        kind: 'synthetic',
        classes: integer(spec.classes, undefined, 'classes', 1),
        perClass: integer(spec.perClass, undefined, 'perClass', 1),
        height: integer(spec.height, 112, 'height', 1, 4096),
        width: integer(spec.width, 112, 'width', 1, 4096),
        channels: channels(spec.channels),
        seed: integer(spec.seed, 0, 'seed', 0),
      };
  }
}

const optionKeys = ['batchSize', 'shuffle', 'flip', 'seed', 'workers', 'prefetch', 'dropLast', 'onCorrupt', 'rank', 'worldSize', 'pinned'];

/** The options with every field checked and filled in. */
export function resolveLoaderOptions(options: LoaderOptions = {}): Required<LoaderOptions> {
  if (options === null || typeof options !== 'object') throw configError('options', 'must be an object');
  checkKeys(options, optionKeys, 'loader');
  const onCorrupt = options.onCorrupt ?? 'fail';
  if (onCorrupt !== 'skip' && onCorrupt !== 'fail') throw configError('onCorrupt', `must be 'skip' or 'fail', got ${String(onCorrupt)}`);
  const worldSize = integer(options.worldSize, 1, 'worldSize', 1, 65536);
  return {
    batchSize: integer(options.batchSize, 128, 'batchSize', 1, 2 ** 31 - 1),
    shuffle: boolean(options.shuffle, true, 'shuffle'),
    flip: boolean(options.flip, false, 'flip'),
    seed: integer(options.seed, 0, 'seed', 0),
    workers: integer(options.workers, Math.min(256, os.availableParallelism()), 'workers', 1, 256),
    prefetch: integer(options.prefetch, 4, 'prefetch', 1, 1024),
    dropLast: boolean(options.dropLast, false, 'dropLast'),
    onCorrupt,
    worldSize,
    rank: integer(options.rank, 0, 'rank', 0, worldSize - 1),
    pinned: boolean(options.pinned, false, 'pinned'),
  };
}

function withInstallHint(error: unknown, spec: DataSpec): unknown {
  if (spec.kind !== 'fashion-mnist' || spec.root !== undefined || !(error instanceof MvfaceError) || error.code !== 'E_IO') return error;
  return createError(
    'E_IO',
    `${error.message}. Fashion-MNIST is not installed: run \`apt-get install dataset-fashion-mnist\` as root, or pass { root }`,
    error.argument,
  );
}

export class DataLoader {
  readonly info: DataInfo;
  private handle: NativeLoader | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(handle: NativeLoader) {
    this.handle = handle;
    this.info = handle.info();
  }

  /** Opens the data set (off the event loop) and starts the decoding threads. */
  static async open(spec: DataSpec, options: LoaderOptions = {}): Promise<DataLoader> {
    const resolved = [resolveDataSpec(spec), resolveLoaderOptions(options)] as const;
    try {
      return new DataLoader(await native().createLoader(...resolved));
    } catch (e) {
      throw withInstallHint(e, spec);
    }
  }

  /** Starts (or restarts) epoch `epoch`; `skipBatches` continues a resumed run at that batch. */
  startEpoch(epoch: number, skipBatches = 0): void {
    const handle = this.live();
    integer(epoch, undefined, 'epoch', 0);
    integer(skipBatches, undefined, 'skipBatches', 0, this.info.batchesPerEpoch);
    handle.startEpoch(epoch, skipBatches);
  }

  /** The next batch of the epoch, or null at its end. Calls are served in order. */
  next(): Promise<Batch | null> {
    this.live();
    const result = this.queue.then(() => (this.handle ? this.handle.next() : null));
    this.queue = result.catch(() => undefined);
    return result;
  }

  /** Every batch of epoch `epoch` (from batch `skipBatches`). */
  async *epoch(epoch: number, skipBatches = 0): AsyncGenerator<Batch, void, undefined> {
    this.startEpoch(epoch, skipBatches);
    for (let batch = await this.next(); batch; batch = await this.next()) yield batch;
  }

  /** Stops the decoding threads; a pending next() resolves null, later calls throw. Idempotent. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  /** The native loader object, for native code (the trainer) that pulls batches without JS. */
  get nativeHandle(): NativeLoader {
    return this.live();
  }

  private live(): NativeLoader {
    if (!this.handle) throw configError('loader', 'disposed');
    return this.handle;
  }
}
