/** The benchmarks' generated JPEG sets (RecordIO or ImageFolder) and the input pipeline's own speed on them. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as jpeg from 'jpeg-js';
import { DataLoader, type DataSpec } from '../data/loader';
import { packRecord, writeRecordIoFiles } from '../data/recordio-writer';
import { native } from '../native/addon';

export type PipelineKind = 'recordio' | 'imagefolder' | 'none';

/** A structured picture with noise, so that JPEG sizes are like a face crop's. */
function benchPicture(size: number, seed: number): Buffer {
  const rgba = Buffer.alloc(size * size * 4, 255);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      const noise = ((state >>> 0) % 24) - 12;
      for (let c = 0; c < 3; c++) {
        const wave = Math.sin((x + 1.7 * seed) / (5 + c)) * Math.cos((y - 0.9 * seed) / (7 + c));
        rgba[(y * size + x) * 4 + c] = Math.max(0, Math.min(255, Math.round(128 + 80 * wave + noise)));
      }
    }
  }
  return jpeg.encode({ data: rgba, width: size, height: size }, 90).data;
}

/**
 * Writes (once, then reuses) a JPEG set of `images` records in `classes` identities. The pictures
 * repeat after 512 (each record is still decoded in full), so that large sets are quick to make.
 */
export function benchDataSet(kind: Exclude<PipelineKind, 'none'>, images: number, size: number, dir: string, classes = 64): DataSpec {
  const root = path.join(dir, `${kind}-${images}-${size}${classes === 64 ? '' : `-${classes}`}`);
  const done = path.join(root, '.complete');
  if (!fs.existsSync(done)) {
    const pictures = Array.from({ length: Math.min(images, 512) }, (_, i) => benchPicture(size, i));
    fs.rmSync(root, { recursive: true, force: true });
    fs.mkdirSync(root, { recursive: true });
    if (kind === 'recordio') {
      const records = Array.from({ length: images }, (_, i) => packRecord(i % classes, i, pictures[i % pictures.length]));
      writeRecordIoFiles(root, records, { classes, height: size, width: size });
    } else {
      for (let i = 0; i < images; i++) {
        const folder = path.join(root, `id${String(i % classes).padStart(3, '0')}`);
        fs.mkdirSync(folder, { recursive: true });
        fs.writeFileSync(path.join(folder, `${String(i).padStart(6, '0')}.jpg`), pictures[i % pictures.length]);
      }
    }
    fs.writeFileSync(done, '');
  }
  return kind === 'recordio' ? { kind: 'recordio', path: root, channels: 3 } : { kind: 'imagefolder', root, channels: 3 };
}

/** samples/s of the loader alone over a whole epoch (the second: the file cache is warm). */
export async function pipelineSamplesPerSecond(spec: DataSpec, batch: number, workers: number): Promise<number> {
  const loader = await DataLoader.open(spec, { batchSize: batch, shuffle: true, flip: true, workers, dropLast: true });
  try {
    const drain = native().drainLoader;
    let rate = 0;
    for (const epoch of [0, 1]) {
      loader.startEpoch(epoch);
      const d = await drain(loader.nativeHandle, loader.info.batchesPerEpoch);
      rate = d.samples / Math.max(d.seconds, 1e-9);
    }
    return rate;
  } finally {
    loader.dispose();
  }
}
