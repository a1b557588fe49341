/**
 * A face-like synthetic identity data set, generated offline from a seed: each identity is a facesjs
 * cartoon face, each of its images the face in a new pose, light, colour, background, blur, noise
 * and occlusion, written as an ImageFolder (root/<identity>/<k>.png) that `DataLoader` reads as
 * { kind: 'imagefolder', root }. The same options give byte-identical files.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { createError, type MvfaceError } from '../../errors';
import { faceBody, type FaceConfig, facesjsVersion, loadFacesjs } from './facesjs';
import { drawIdentities, familyFeatures } from './identities';
import { Rng } from './random';
import { composeSvg, drawParams, finishPixels, type Variation, variationAtOne, variationFor } from './render';

export { variationAtOne, variationFor, type Variation } from './render';
export { drawIdentities, familyFeatures, type Families } from './identities';

export interface FaceOptions {
  /** The output folder; created if missing. It must be empty, or an earlier output with `overwrite`. */
  root: string;
  /** Identities in all (train and held-out together). */
  identities: number;
  imagesPerIdentity: number;
  /** Default 0. The identities and every image are fixed by the seed. */
  seed?: number;
  /** Image side in pixels. Default 112. */
  size?: number;
  /** Scales every nuisance range (see `variationAtOne`); 0 gives one image per identity repeated. Default 0.5. */
  difficulty?: number;
  /** Ranges that replace the difficulty's ones, key by key. */
  variation?: Partial<Variation>;
  /**
   * Identities per family (default 1: none). Family members share every feature but `familyTraits`
   * ones, the hard negatives of a large set; families are consecutive identities, so a `heldOut`
   * that is a multiple of familySize keeps each family on one side.
   */
  familySize?: number;
  /** Facial features (eyes, brows, nose, mouth, hair, head, ears, facial hair) each member has of its own. Default 2. */
  familyTraits?: number;
  /** Default 'png' (lossless). 'jpg' is written at `jpegQuality` (default 90). */
  format?: 'png' | 'jpg';
  jpegQuality?: number;
  /**
   * Identities held out for open-set evaluation: with heldOut > 0 the last `heldOut` identities go
   * to root/test and the others to root/train (disjoint identities). Default 0: root/<identity>.
   */
  heldOut?: number;
  /** Replace an earlier output of this generator in `root` (one with a faces.json). */
  overwrite?: boolean;
  /** Images rendered at once. Default: the machine's cores. */
  concurrency?: number;
  /** Stops between images: the promise rejects with the signal's reason, faces.json stays incomplete. */
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface FaceSet {
  /** An ImageFolder root: one folder per identity. */
  root: string;
  identities: number;
  images: number;
}

export interface FaceResult extends FaceSet {
  /** root/train and root/test when `heldOut` > 0. */
  train?: FaceSet;
  test?: FaceSet;
  /** The manifest: options, package versions and identity folders. */
  manifest: string;
}

const manifestName = 'faces.json';

/** The defaults of the optional FaceOptions (the CLI shows these). */
export const faceDefaults = { seed: 0, size: 112, difficulty: 0.5, familySize: 1, familyTraits: 2, format: 'png', jpegQuality: 90, heldOut: 0 } as const;

// The images' stream purpose in the Rng keys (identities.ts uses 1 and 3).
const imageStream = 2;

function configError(option: string, message: string): MvfaceError {
  return createError('E_CONFIG', `${option}: ${message}`, option);
}

function integer(value: unknown, fallback: number | undefined, option: string, min: number, max: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw configError(option, `must be an integer in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

function real(value: unknown, fallback: number, option: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw configError(option, `must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

const optionKeys = [
  'root',
  'identities',
  'imagesPerIdentity',
  'seed',
  'size',
  'difficulty',
  'variation',
  'familySize',
  'familyTraits',
  'format',
  'jpegQuality',
  'heldOut',
  'overwrite',
  'concurrency',
  'signal',
  'onProgress',
];

interface Resolved {
  root: string;
  identities: number;
  imagesPerIdentity: number;
  seed: number;
  size: number;
  difficulty: number;
  variation: Variation;
  familySize: number;
  familyTraits: number;
  format: 'png' | 'jpg';
  jpegQuality: number;
  heldOut: number;
  overwrite: boolean;
  concurrency: number;
}

function resolve(o: FaceOptions): Resolved {
  if (o === null || typeof o !== 'object') throw configError('options', 'must be an object');
  for (const key of Object.keys(o)) {
    if (!optionKeys.includes(key)) throw configError(key, `unknown faces option (expected one of ${optionKeys.join(', ')})`);
  }
  if (typeof o.root !== 'string' || o.root === '') throw configError('root', 'must be a non-empty string');
  const identities = integer(o.identities, undefined, 'identities', 1, 1_000_000);
  const difficulty = real(o.difficulty, faceDefaults.difficulty, 'difficulty', 0, 4);
  const variation = variationFor(difficulty);
  if (o.variation !== undefined) {
    if (o.variation === null || typeof o.variation !== 'object') throw configError('variation', 'must be an object');
    for (const [key, value] of Object.entries(o.variation)) {
      if (!(key in variationAtOne)) throw configError(`variation.${key}`, `unknown (expected one of ${Object.keys(variationAtOne).join(', ')})`);
      if (value === undefined) continue;
      const isProbability = ['expression', 'grayscale', 'occlusion', 'background'].includes(key);
      variation[key as keyof Variation] = real(value, 0, `variation.${key}`, 0, isProbability ? 1 : 1000);
    }
  }
  const format = o.format ?? faceDefaults.format;
  if (format !== 'png' && format !== 'jpg') throw configError('format', `must be 'png' or 'jpg', got ${String(format)}`);
  if (o.overwrite !== undefined && typeof o.overwrite !== 'boolean') throw configError('overwrite', 'must be true or false');
  return {
    root: path.resolve(o.root),
    identities,
    imagesPerIdentity: integer(o.imagesPerIdentity, undefined, 'imagesPerIdentity', 1, 100_000),
    seed: integer(o.seed, faceDefaults.seed, 'seed', 0, Number.MAX_SAFE_INTEGER),
    size: integer(o.size, faceDefaults.size, 'size', 16, 1024),
    difficulty,
    variation,
    familySize: integer(o.familySize, faceDefaults.familySize, 'familySize', 1, identities),
    familyTraits: integer(o.familyTraits, faceDefaults.familyTraits, 'familyTraits', 1, familyFeatures.length),
    format,
    jpegQuality: integer(o.jpegQuality, faceDefaults.jpegQuality, 'jpegQuality', 1, 100),
    heldOut: integer(o.heldOut, faceDefaults.heldOut, 'heldOut', 0, identities - 1),
    overwrite: o.overwrite ?? false,
    concurrency: integer(o.concurrency, Math.min(64, os.availableParallelism()), 'concurrency', 1, 64),
  };
}

/** Identity folder names sort in index order, so ImageFolder labels follow the index. */
function identityName(index: number, total: number): string {
  return `id${String(index).padStart(Math.max(5, String(total - 1).length), '0')}`;
}

type Facesjs = Awaited<ReturnType<typeof loadFacesjs>>;

/** A new expression: eye and brow angles move, and sometimes the mouth changes. */
function withExpression(facesjs: Facesjs, face: FaceConfig, rng: Rng): FaceConfig {
  const copy = JSON.parse(JSON.stringify(face)) as FaceConfig;
  copy.eyebrow.angle = Math.round(face.eyebrow.angle + rng.symmetric(12));
  copy.eye.angle = Math.round(face.eye.angle + rng.symmetric(6));
  if (rng.chance(0.4)) copy.mouth.id = rng.pick(facesjs.svgsIndex.mouth.filter((m) => m !== face.mouth.id));
  return copy;
}

function encode(rgb: Uint8Array, size: number, format: 'png' | 'jpg', quality: number): Buffer {
  if (format === 'jpg') {
    const rgba = Buffer.alloc(size * size * 4, 255);
    for (let i = 0; i < size * size; i++) for (let c = 0; c < 3; c++) rgba[4 * i + c] = rgb[3 * i + c];
    return jpeg.encode({ data: rgba, width: size, height: size }, quality).data;
  }
  const png = new PNG({ width: size, height: size, colorType: 2, inputColorType: 2, inputHasAlpha: false });
  png.data = Buffer.from(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  return PNG.sync.write(png, { colorType: 2, inputColorType: 2, inputHasAlpha: false });
}

function prepareRoot(o: Resolved): void {
  const manifest = path.join(o.root, manifestName);
  if (fs.existsSync(o.root)) {
    if (!fs.statSync(o.root).isDirectory()) throw createError('E_IO', `${o.root}: not a folder`, 'root');
    const entries = fs.readdirSync(o.root);
    if (entries.length > 0) {
      if (!fs.existsSync(manifest))
        throw createError('E_IO', `${o.root}: not empty and not made by mvface faces (no ${manifestName}); give an empty or new folder`, 'root');
      if (!o.overwrite) throw createError('E_IO', `${o.root}: holds an earlier data set; pass overwrite (--overwrite) to replace it`, 'root');
      const old = JSON.parse(fs.readFileSync(manifest, 'utf8')) as { folders?: string[] };
      const parents = new Set<string>();
      for (const folder of old.folders ?? []) {
        if (folder.includes('..') || path.isAbsolute(folder)) continue;
        fs.rmSync(path.join(o.root, folder), { recursive: true, force: true });
        if (path.dirname(folder) !== '.') parents.add(path.join(o.root, path.dirname(folder)));
      }
      // root/train and root/test, once emptied (an empty folder would read as an identity).
      for (const parent of parents) if (fs.existsSync(parent) && fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
      fs.rmSync(manifest);
    }
  }
  fs.mkdirSync(o.root, { recursive: true });
}

function writeManifest(o: Resolved, folders: string[], complete: boolean): string {
  const file = path.join(o.root, manifestName);
  const body = {
    generator: 'mvface faces',
    complete,
    seed: o.seed,
    identities: o.identities,
    imagesPerIdentity: o.imagesPerIdentity,
    heldOut: o.heldOut,
    size: o.size,
    format: o.format,
    ...(o.format === 'jpg' && { jpegQuality: o.jpegQuality }),
    difficulty: o.difficulty,
    variation: o.variation,
    ...(o.familySize > 1 && { familySize: o.familySize, familyTraits: o.familyTraits }),
    versions: { facesjs: facesjsVersion(), resvg: resvgVersion() },
    sets: o.heldOut > 0 ? { train: 'train', test: 'test' } : { all: '.' },
    folders,
  };
  fs.writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  return file;
}

type Resvg = typeof import('@resvg/resvg-js');

/** resvg (a native binary) loads on first use, not when mvface is imported. */
function resvg(): Resvg {
  return require('@resvg/resvg-js') as Resvg;
}

function resvgVersion(): string {
  const file = path.join(path.dirname(require.resolve('@resvg/resvg-js')), 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

/** Writes the data set; resolves when every image and the manifest are on disk. */
export async function generateFaces(options: FaceOptions): Promise<FaceResult> {
  const o = resolve(options);
  const { signal, onProgress } = options;
  signal?.throwIfAborted();
  const facesjs = await loadFacesjs();
  const { renderAsync } = resvg();
  const faces = await drawIdentities(o.seed, o.identities, { size: o.familySize, traits: o.familyTraits });
  const trainCount = o.identities - o.heldOut;
  const folderOf = (i: number): string => {
    const name = identityName(i, o.identities);
    return o.heldOut === 0 ? name : path.join(i < trainCount ? 'train' : 'test', name);
  };
  const folders = faces.map((_, i) => folderOf(i));

  prepareRoot(o);
  writeManifest(o, folders, false);
  for (const folder of folders) fs.mkdirSync(path.join(o.root, folder), { recursive: true });

  const bodies = new Map<number, string>();
  const remaining = new Array<number>(o.identities).fill(o.imagesPerIdentity);
  const total = o.identities * o.imagesPerIdentity;
  const digits = Math.max(4, String(o.imagesPerIdentity - 1).length);
  let next = 0;
  let done = 0;
  let failed = false;

  const work = async (): Promise<void> => {
    while (next < total && !failed) {
      signal?.throwIfAborted();
      const job = next++;
      const i = Math.floor(job / o.imagesPerIdentity);
      const k = job % o.imagesPerIdentity;
      const rng = new Rng(o.seed, imageStream, i, k);
      let body: string;
      if (rng.chance(o.variation.expression)) {
        body = faceBody(facesjs, withExpression(facesjs, faces[i], rng));
      } else {
        body = bodies.get(i) ?? faceBody(facesjs, faces[i]);
        bodies.set(i, body);
      }
      if (--remaining[i] === 0) bodies.delete(i);
      const params = drawParams(rng, o.variation);
      const svg = composeSvg(body, params, o.size);
      // No signal for resvg: a render takes milliseconds, and resvg-js sets the signal's onabort, which
      // throws (InvalidArg) when it fires after the render finished.
      const rendered = await renderAsync(svg, { fitTo: { mode: 'original' }, font: { loadSystemFonts: false }, logLevel: 'off' });
      if (rendered.width !== o.size || rendered.height !== o.size)
        throw createError('E_NATIVE', `resvg rendered ${rendered.width}x${rendered.height}, expected ${o.size}x${o.size}`);
      const rgb = finishPixels(rendered.pixels, o.size, params, rng);
      const file = path.join(o.root, folders[i], `${String(k).padStart(digits, '0')}.${o.format}`);
      await fs.promises.writeFile(file, encode(rgb, o.size, o.format, o.jpegQuality));
      onProgress?.(++done, total);
    }
  };
  const worker = (): Promise<void> =>
    work().catch((e: unknown) => {
      failed = true;
      throw e;
    });
  await Promise.all(Array.from({ length: Math.min(o.concurrency, total) }, worker));

  const manifest = writeManifest(o, folders, true);
  const set = (root: string, identities: number): FaceSet => ({ root, identities, images: identities * o.imagesPerIdentity });
  return {
    ...set(o.root, o.identities),
    ...(o.heldOut > 0 && { train: set(path.join(o.root, 'train'), trainCount), test: set(path.join(o.root, 'test'), o.heldOut) }),
    manifest,
  };
}
