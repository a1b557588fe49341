/** Flip-averaged embeddings: normalize(e(x) + e(flip(x))), in batches, through any embedding function. */
import type { DataLoader } from '../data/loader';
import { createError } from '../errors';

/** Raw embeddings of `count` images (count x C x H x W float32, normalised as the loader does). */
export type EmbedFn = (images: Float32Array, count: number) => Promise<Float32Array>;

export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

export interface Embeddings {
  /** count x dim, each row of unit length (or zero). */
  data: Float32Array;
  count: number;
  dim: number;
}

/** The images mirrored left-right (along W). */
export function flipWidth(images: Float32Array, shape: ImageShape): Float32Array {
  const w = shape.width;
  const out = new Float32Array(images.length);
  for (let row = 0; row < images.length; row += w) {
    for (let x = 0; x < w; x++) out[row + x] = images[row + w - 1 - x];
  }
  return out;
}

/** Scales each row of the rows x dim matrix to unit length, in place; zero rows stay zero. */
export function normalizeRows(m: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < m.length; r += dim) {
    let n = 0;
    for (let j = 0; j < dim; j++) n += m[r + j] * m[r + j];
    const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
    for (let j = 0; j < dim; j++) m[r + j] *= inv;
  }
  return m;
}

/** e(x) + e(flip(x)) for one batch, raw; the image and its mirror go through one call. */
export async function embedWithMirror(embed: EmbedFn, images: Float32Array, count: number, shape: ImageShape): Promise<Float32Array> {
  const both = new Float32Array(images.length * 2);
  both.set(images);
  both.set(flipWidth(images, shape), images.length);
  const e = await embed(both, count * 2);
  const half = e.length / 2;
  const sum = new Float32Array(half);
  for (let i = 0; i < half; i++) sum[i] = e[i] + e[half + i];
  return sum;
}

/** normalize(e(x) + e(flip(x))) for one batch. */
async function flipAveragedBatch(embed: EmbedFn, images: Float32Array, count: number, shape: ImageShape): Promise<Float32Array> {
  const sum = await embedWithMirror(embed, images, count, shape);
  return normalizeRows(sum, sum.length / count);
}

function checkShape(images: Float32Array, count: number, shape: ImageShape): number {
  const size = shape.channels * shape.height * shape.width;
  if (!Number.isInteger(count) || count < 1 || images.length !== count * size) {
    throw createError('E_SHAPE', `images: expected ${count} x ${shape.channels} x ${shape.height} x ${shape.width} values, got ${images.length}`, 'images');
  }
  return size;
}

/** Flip-averaged unit embeddings of `count` images, `batchSize` images per native call. */
export async function flipAveragedEmbeddings(embed: EmbedFn, images: Float32Array, count: number, shape: ImageShape, batchSize = 256): Promise<Embeddings> {
  const size = checkShape(images, count, shape);
  const parts: Float32Array[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start);
    parts.push(await flipAveragedBatch(embed, images.subarray(start * size, (start + n) * size), n, shape));
  }
  return concatRows(parts, count);
}

/** Flip-averaged unit embeddings of a whole loader epoch (read in order), with the labels. */
export async function flipAveragedLoader(embed: EmbedFn, loader: DataLoader): Promise<Embeddings & { labels: Int32Array }> {
  const parts: Float32Array[] = [];
  const labels: number[] = [];
  for await (const batch of loader.epoch(0)) {
    parts.push(await flipAveragedBatch(embed, batch.images, batch.count, batch));
    labels.push(...batch.labels);
  }
  if (labels.length === 0) throw createError('E_SHAPE', 'data: no images', 'data');
  return { ...concatRows(parts, labels.length), labels: Int32Array.from(labels) };
}

/** Stacks row blocks into one count x dim matrix. */
export function concatRows(parts: Float32Array[], count: number): Embeddings {
  const data = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, count, dim: data.length / count };
}
