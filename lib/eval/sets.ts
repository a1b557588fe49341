/**
 * Evaluation sets: InsightFace verification `.bin` files, LFW `pairs.txt` with its image folder, and
 * pairs or a gallery/probe split drawn (seeded) from any labelled DataSpec.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DataSpec } from '../data/loader';
import { createError } from '../errors';
import { native } from '../native/addon';
import { NdArray, PickleFormatError, PyTuple, unpickle } from './pickle';

export type EvalSetSpec =
  /**
   * InsightFace verification set (lfw.bin, cfp_fp.bin, agedb_30.bin): consecutive pairs of JPEGs.
   * `resize` (here and for LFW) scales whole images to the model input; without it, images of
   * another size are refused (E_SHAPE), as face models expect aligned crops.
   */
  | { kind: 'bin'; path: string; resize?: boolean; name?: string }
  /**
   * LFW pairs.txt; images at <images>/<name>/<name>_<4-digit index>.jpg. With `landmarks` (a file of
   * five points per image, see readLandmarks) each face is aligned to the model input first.
   */
  | { kind: 'lfw'; pairs: string; images: string; landmarks?: string; resize?: boolean; name?: string }
  /**
   * `pairs` pairs (default 6000, half same-class) and a gallery/probe split (one gallery image per
   * class, the others probes), drawn from `seed` (default 0). The whole data set is embedded once.
   * TAR at FAR is also measured over all pairs of `allPairsImages` (default 3000) seeded images.
   */
  | { kind: 'data'; data: DataSpec; pairs?: number; seed?: number; allPairsImages?: number; name?: string };

export function evalSetName(spec: EvalSetSpec): string {
  if (spec.name) return spec.name;
  if (spec.kind === 'bin') return path.basename(spec.path, '.bin');
  if (spec.kind === 'lfw') return 'lfw-pairs';
  return spec.data.kind === 'fashion-mnist' ? `fashion-mnist-${spec.data.split}` : `${spec.data.kind}-pairs`;
}

export interface DecodedImages {
  /** count x channels x height x width, (x - 127.5) / 128. */
  images: Float32Array;
  count: number;
  channels: number;
  height: number;
  width: number;
}

/** Decodes JPEG/PNG bytes natively, off the event loop; `size` resizes every image to size x size. */
export function decodeImages(buffers: Uint8Array[], channels: 1 | 3 = 3, size?: number): Promise<DecodedImages> {
  return native().decodeImages(buffers, channels, size);
}

/** A verification set: encoded images and, per consecutive pair of indices in `pairs`, same or not. */
export interface PairList {
  images: Uint8Array[];
  /** 2N indices into `images`. */
  pairs: Int32Array;
  same: boolean[];
  /** LFW: each image's path relative to the image folder (Name/Name_0001.jpg). */
  names?: string[];
}

function imageBytes(item: unknown): Uint8Array | undefined {
  if (item instanceof Uint8Array) return item;
  if (item instanceof NdArray && /^[|<>=]?u1$/.test(item.descr) && item.shape.length === 1) return item.data;
  return undefined;
}

/** Reads an InsightFace `.bin`: a pickle of (list of 2N JPEG byte strings, list of N bools). */
export function readVerificationBin(file: string): PairList {
  const bad = (why: string) => createError('E_IO', `${file}: not an InsightFace verification .bin (${why})`, file);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    throw createError('E_IO', `${file}: cannot read (${(e as Error).message})`, file);
  }
  let value: unknown;
  try {
    value = unpickle(bytes);
  } catch (e) {
    if (e instanceof PickleFormatError) throw bad(e.message);
    throw e;
  }
  if (!(value instanceof PyTuple) || value.items.length !== 2) throw bad('expected a tuple (bins, issame_list)');
  const [bins, flags] = value.items;
  if (!Array.isArray(bins) || !Array.isArray(flags)) throw bad('expected two lists');
  const images = bins.map(imageBytes);
  const at = images.indexOf(undefined);
  if (at >= 0) throw bad(`image ${at} is not bytes, a bytearray or a 1-D uint8 numpy array`);
  if (!flags.every((f) => typeof f === 'boolean')) throw bad('issame_list holds values that are not bools');
  if (images.length !== 2 * flags.length || flags.length === 0) throw bad(`${images.length} images for ${flags.length} pairs`);
  return { images: images as Uint8Array[], pairs: Int32Array.from(images, (_, i) => i), same: flags as boolean[] };
}

/** Parses LFW's pairs.txt; every image the pairs name must exist under `imagesDir`. */
export function readLfwPairs(pairsFile: string, imagesDir: string): PairList {
  let text: string;
  try {
    text = fs.readFileSync(pairsFile, 'utf8');
  } catch (e) {
    throw createError('E_IO', `${pairsFile}: cannot read (${(e as Error).message})`, pairsFile);
  }
  const names: string[] = [];
  const index = new Map<string, number>();
  const fileIndex = (name: string, i: string): number => {
    const file = `${name}/${name}_${i.padStart(4, '0')}.jpg`;
    if (!index.has(file)) index.set(file, names.push(file) - 1);
    return index.get(file)!;
  };
  const pairs: number[] = [];
  const same: boolean[] = [];
  text.split(/\r?\n/).forEach((line, n) => {
    const f = line.trim().split(/\s+/).filter(Boolean);
    if (f.length === 0 || (n === 0 && f.every((x) => /^\d+$/.test(x)))) return;
    const ok = (f.length === 3 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[2])) || (f.length === 4 && /^\d+$/.test(f[1]) && /^\d+$/.test(f[3]));
    if (!ok) throw createError('E_IO', `${pairsFile}:${n + 1}: expected 'name i j' or 'name1 i name2 j', got '${line.trim()}'`, pairsFile);
    pairs.push(fileIndex(f[0], f[1]), f.length === 3 ? fileIndex(f[0], f[2]) : fileIndex(f[2], f[3]));
    same.push(f.length === 3);
  });
  if (same.length === 0) throw createError('E_IO', `${pairsFile}: no pairs`, pairsFile);
  const files = names.map((n) => path.join(imagesDir, n));
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more missing images)` : '';
    throw createError('E_IO', `${missing[0]}: image named by ${pairsFile} is missing${more}`, missing[0]);
  }
  return { images: files.map((f) => fs.readFileSync(f)), pairs: Int32Array.from(pairs), same, names };
}

/** mulberry32: a small seeded generator, so drawn pairs depend only on the seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function byClass(labels: ArrayLike<number>): Map<number, number[]> {
  const classes = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    if (!classes.has(labels[i])) classes.set(labels[i], []);
    classes.get(labels[i])!.push(i);
  }
  return new Map([...classes].sort((a, b) => a[0] - b[0]));
}

function shuffle<T>(items: T[], next: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/** `count` distinct pairs of images, half of the same class (count even), in a seeded random order. */
export function drawPairs(labels: ArrayLike<number>, count: number, seed = 0): { pairs: Int32Array; same: boolean[] } {
  if (!Number.isInteger(count) || count < 2 || count % 2 !== 0) throw createError('E_CONFIG', `pairs: must be an even integer >= 2, got ${count}`, 'pairs');
  const classes = byClass(labels);
  const n = labels.length;
  const maxSame = [...classes.values()].reduce((s, c) => s + (c.length * (c.length - 1)) / 2, 0);
  const maxDifferent = (n * (n - 1)) / 2 - maxSame;
  if (count / 2 > Math.min(maxSame, maxDifferent)) {
    throw createError(
      'E_SHAPE',
      `pairs: ${count} pairs need ${count / 2} same-class and ${count / 2} different-class pairs; these ${n} images have ${maxSame} and ${maxDifferent}`,
      'pairs',
    );
  }
  const next = random(seed);
  const pick = (list: number[]) => list[Math.floor(next() * list.length)];
  const withPartners = [...classes.values()].filter((c) => c.length > 1).flat();
  const seen = new Set<number>();
  const drawn: Array<[number, number, boolean]> = [];
  const draw = (same: boolean) => {
    for (let tries = 0, got = 0; got < count / 2; tries++) {
      if (tries > 100 * count + 100_000)
        throw createError('E_SHAPE', `pairs: could not draw ${count / 2} distinct ${same ? 'same' : 'different'}-class pairs; ask for fewer`, 'pairs');
      const a = same ? pick(withPartners) : Math.floor(next() * n);
      const b = same ? pick(classes.get(labels[a])!) : Math.floor(next() * n);
      const key = Math.min(a, b) * n + Math.max(a, b);
      if (a === b || (labels[a] === labels[b]) !== same || seen.has(key)) continue;
      seen.add(key);
      drawn.push([a, b, same]);
      got++;
    }
  };
  draw(true);
  draw(false);
  shuffle(drawn, next);
  return { pairs: Int32Array.from(drawn.flatMap((d) => [d[0], d[1]])), same: drawn.map((d) => d[2]) };
}

/** `k` of the indices 0 .. n-1 (all of them when k >= n), seeded, ascending. */
export function sampleIndices(n: number, k: number, seed = 0): Int32Array {
  const all = Array.from({ length: n }, (_, i) => i);
  if (k >= n) return Int32Array.from(all);
  return Int32Array.from(
    shuffle(all, random(seed ^ 0x5a3b1e))
      .slice(0, k)
      .sort((a, b) => a - b),
  );
}

/** One seeded gallery image per class; every other image is a probe. */
export function galleryProbeSplit(labels: ArrayLike<number>, seed = 0): { gallery: Int32Array; probes: Int32Array } {
  const next = random(seed ^ 0x9a11e7);
  const gallery: number[] = [];
  const probes: number[] = [];
  for (const members of byClass(labels).values()) {
    const chosen = members[Math.floor(next() * members.length)];
    gallery.push(chosen);
    probes.push(...members.filter((i) => i !== chosen));
  }
  if (probes.length === 0) throw createError('E_SHAPE', 'identification: every class has one image; no probes are left', 'data');
  return { gallery: Int32Array.from(gallery), probes: Int32Array.from(probes.sort((a, b) => a - b)) };
}
