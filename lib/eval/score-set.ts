/**
 * One evaluation set through one model: decode (once), embed with flip-averaging, score the pairs,
 * and for data sets also rank a gallery/probe split. Knows nothing of run folders or the Trainer.
 */
import { alignFaces, landmarksFor, readLandmarks } from '../data/align';
import { DataLoader } from '../data/loader';
import { concatRows, type EmbedFn, type Embeddings, flipAveragedEmbeddings, flipAveragedLoader, type ImageShape } from './flip-embeddings';
import { createError, MvfaceError } from '../errors';
import {
  type DecodedImages,
  decodeImages,
  drawPairs,
  sampleIndices,
  type EvalSetSpec,
  evalSetName,
  galleryProbeSplit,
  type PairList,
  readLfwPairs,
  readVerificationBin,
} from './sets';
import {
  allPairsVerification,
  type AllPairsVerification,
  identificationMetrics,
  type IdentificationMetrics,
  pairScores,
  rocCurve,
  tarFarCurve,
  verificationMetrics,
  type VerificationMetrics,
} from './metrics';

export interface EvalSetResult {
  name: string;
  kind: EvalSetSpec['kind'];
  /** The file, folder or data spec evaluated. */
  source: string;
  images: number;
  verification: VerificationMetrics & { roc: { far: number[]; tar: number[] } };
  /** Data sets only: one gallery image per class, the rest probes. */
  identification?: IdentificationMetrics;
  /** Data sets only: TAR at FAR over every pair of (at most allPairsImages) images. */
  allPairs?: AllPairsVerification;
  seconds: number;
}

/** A set ready to run: `.bin` and LFW images read (still encoded: decoded batch by batch), data sets on disk. */
export interface PreparedEvalSet {
  spec: EvalSetSpec;
  name: string;
  input: ImageShape;
  encoded?: PairList;
  /** LFW with landmarks: n x 10, one row per image of `encoded`. */
  landmarks?: Float32Array;
}

export interface RunOptions {
  /** Images per native call (each goes through with its mirror image). Default 256. */
  batchSize?: number;
  /** Native decoding threads for data sets. */
  workers?: number;
}

function sourceOf(spec: EvalSetSpec): string {
  if (spec.kind === 'bin') return spec.path;
  if (spec.kind === 'lfw') return `${spec.pairs} (${spec.images})`;
  return JSON.stringify(spec.data);
}

export async function prepareEvalSet(spec: EvalSetSpec, input: ImageShape): Promise<PreparedEvalSet> {
  const prepared: PreparedEvalSet = { spec, name: evalSetName(spec), input };
  if (spec.kind === 'data') return prepared;
  if (input.height !== input.width) throw createError('E_CONFIG', `model input: ${input.height} x ${input.width} is not square`, 'input');
  if (spec.kind === 'bin') return { ...prepared, encoded: readVerificationBin(spec.path) };
  const encoded = readLfwPairs(spec.pairs, spec.images);
  const landmarks = spec.landmarks === undefined ? undefined : landmarksFor(encoded.names ?? [], readLandmarks(spec.landmarks), spec.landmarks);
  return { ...prepared, encoded, landmarks };
}

/** The decoder names images by their place in the batch: name them by their place in the set. */
function inSet(e: unknown, start: number, set: string): unknown {
  const at = e instanceof MvfaceError ? /^image (\d+)$/.exec(e.argument ?? '') : null;
  if (!at) return e;
  const image = `image ${start + Number(at[1])}`;
  return createError((e as MvfaceError).code, `${set}: ${(e as MvfaceError).message.replace(at[0], image)}`, image);
}

function checkSize(d: DecodedImages, input: ImageShape, set: string, start: number): DecodedImages {
  if (d.height === input.height && d.width === input.width) return d;
  throw createError(
    'E_SHAPE',
    `${set}: images from ${start} are ${d.width} x ${d.height}, the model takes ${input.width} x ${input.height} aligned faces: align them (--landmarks, alignFaces) or resize the whole images (--resize)`,
    'images',
  );
}

/** Flip-averaged embeddings of encoded images; the next batch decodes while this one is embedded. */
async function embedEncoded(
  embed: EmbedFn,
  images: Uint8Array[],
  input: ImageShape,
  options: { batchSize: number; resize: boolean; landmarks?: Float32Array },
  set: string,
): Promise<Embeddings> {
  const { batchSize, landmarks } = options;
  const channels = input.channels as 1 | 3;
  const decodeBatch = (start: number): Promise<DecodedImages> => {
    const batch = images.slice(start, start + batchSize);
    if (landmarks) return alignFaces(batch, landmarks.subarray(start * 10, (start + batch.length) * 10), { channels, size: input.height });
    return decodeImages(batch, channels, options.resize ? input.height : undefined).then((d) => checkSize(d, input, set, start));
  };
  const decode = (start: number): Promise<DecodedImages> => {
    const p = decodeBatch(start).catch((e: unknown) => {
      throw inSet(e, start, set);
    });
    p.catch(() => undefined); // handled when awaited; no unhandled rejection while the previous batch embeds
    return p;
  };
  const parts: Float32Array[] = [];
  let next = decode(0);
  for (let start = 0; start < images.length; start += batchSize) {
    const batch = await next;
    if (start + batchSize < images.length) next = decode(start + batchSize);
    parts.push((await flipAveragedEmbeddings(embed, batch.images, batch.count, batch, batchSize)).data);
  }
  return concatRows(parts, images.length);
}

function verification(e: Embeddings, pairs: Int32Array, same: boolean[]): EvalSetResult['verification'] {
  const scores = pairScores(e.data, e.dim, pairs);
  const metrics = verificationMetrics(scores, same);
  return { ...metrics, roc: tarFarCurve(rocCurve(scores, same), metrics.negatives) };
}

function rows(e: Embeddings, indices: Int32Array): Float32Array {
  const out = new Float32Array(indices.length * e.dim);
  indices.forEach((r, k) => {
    out.set(e.data.subarray(r * e.dim, (r + 1) * e.dim), k * e.dim);
  });
  return out;
}

async function runDataSet(embed: EmbedFn, set: PreparedEvalSet, options: RunOptions): Promise<Omit<EvalSetResult, 'seconds'>> {
  const spec = set.spec as Extract<EvalSetSpec, { kind: 'data' }>;
  const loader = await DataLoader.open(spec.data, { batchSize: options.batchSize ?? 256, shuffle: false, flip: false, workers: options.workers });
  try {
    const { channels, height, width } = loader.info;
    if (channels !== set.input.channels || height !== set.input.height || width !== set.input.width) {
      throw createError(
        'E_SHAPE',
        `${set.name}: images are ${channels} x ${height} x ${width}, the model takes ${set.input.channels} x ${set.input.height} x ${set.input.width}`,
        'data',
      );
    }
    const e = await flipAveragedLoader(embed, loader);
    const { pairs, same } = drawPairs(e.labels, spec.pairs ?? 6000, spec.seed ?? 0);
    const { gallery, probes } = galleryProbeSplit(e.labels, spec.seed ?? 0);
    const identification = identificationMetrics(
      rows(e, gallery),
      gallery.map((i) => e.labels[i]),
      rows(e, probes),
      probes.map((i) => e.labels[i]),
      e.dim,
    );
    const sample = sampleIndices(e.count, spec.allPairsImages ?? 3000, spec.seed ?? 0);
    const allPairs = allPairsVerification(
      rows(e, sample),
      sample.map((i) => e.labels[i]),
      e.dim,
    );
    return { name: set.name, kind: 'data', source: sourceOf(spec), images: e.count, verification: verification(e, pairs, same), identification, allPairs };
  } finally {
    loader.dispose();
  }
}

/** Embeds the set with `embed` (flip-averaged) and computes its metrics. */
export async function runEvalSet(embed: EmbedFn, set: PreparedEvalSet, options: RunOptions = {}): Promise<EvalSetResult> {
  const started = Date.now();
  let result: Omit<EvalSetResult, 'seconds'>;
  if (set.encoded) {
    const { images, pairs, same } = set.encoded;
    const e = await embedEncoded(
      embed,
      images,
      set.input,
      { batchSize: options.batchSize ?? 256, resize: (set.spec.kind !== 'data' && set.spec.resize) ?? false, landmarks: set.landmarks },
      set.name,
    );
    result = { name: set.name, kind: set.spec.kind, source: sourceOf(set.spec), images: images.length, verification: verification(e, pairs, same) };
  } else {
    result = await runDataSet(embed, set, options);
  }
  return { ...result, seconds: (Date.now() - started) / 1000 };
}
