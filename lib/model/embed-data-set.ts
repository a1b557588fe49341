/** A whole data set through a Model, written as <out>.npy (count x dim float32) and <out>.json. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DataSpec, DataLoader } from '../data/loader';
import { concatRows } from '../eval/flip-embeddings';
import { createError } from '../errors';
import type { Model } from './model';
import { writeNpy } from '../data/npy';
import { writeJsonAtomic } from '../train/run-files';

export interface EmbedDataOptions {
  batchSize?: number;
  /** Unit-length rows. Default true. */
  normalize?: boolean;
  /** Average each image with its mirror image. Default false. */
  flip?: boolean;
  workers?: number;
}

export interface EmbeddedDataSet {
  npy: string;
  json: string;
  count: number;
  dim: number;
}

const imageFile = /\.(jpe?g|png)$/i;
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

function entries(dir: string, directories: boolean): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => (directories ? e.isDirectory() : e.isFile() && imageFile.test(e.name)))
    .map((e) => e.name)
    .sort(byteOrder);
}

/** An image folder's files in the loader's order: identities, then files, each sorted by name. */
export function imageFolderFiles(root: string): string[] {
  return entries(root, true).flatMap((identity) => entries(path.join(root, identity), false).map((f) => path.join(identity, f)));
}

function checkOutput(out: string): void {
  const dir = path.dirname(path.resolve(out));
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw createError('E_IO', `--out ${out}: the folder ${dir} does not exist`, 'out');
}

export async function embedDataSet(model: Model, spec: DataSpec, out: string, options: EmbedDataOptions = {}): Promise<EmbeddedDataSet> {
  checkOutput(out);
  const normalize = options.normalize ?? true;
  const flip = options.flip ?? false;
  const loader = await DataLoader.open(spec, { batchSize: options.batchSize ?? 256, shuffle: false, flip: false, workers: options.workers });
  try {
    const parts: Float32Array[] = [];
    const labels: number[] = [];
    loader.startEpoch(0, 0);
    for (let b = await loader.next(); b; b = await loader.next()) {
      parts.push((await model.embed(b.images, { normalize, flip, batchSize: b.count })).data);
      labels.push(...b.labels);
    }
    const e = concatRows(parts, labels.length);
    const files = { npy: `${out}.npy`, json: `${out}.json` };
    writeNpy(files.npy, e.data, e.count, e.dim);
    writeJsonAtomic(files.json, {
      count: e.count,
      dim: e.dim,
      normalized: normalize,
      flip,
      data: spec,
      labels,
      ...(spec.kind === 'imagefolder' && { images: imageFolderFiles(spec.root) }),
    });
    return { ...files, count: e.count, dim: e.dim };
  } finally {
    loader.dispose();
  }
}
