/**
 * Small data sets written by the tests: IDX pairs, ImageFolders of JPEGs and PNGs, and InsightFace
 * RecordIO sets, from pixel arrays (HWC uint8). Encoders: jpeg-js and pngjs.
 */
import { packRecord, writeRecordIoFiles } from '../lib/data/recordio-writer';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface Picture {
  width: number;
  height: number;
  channels: 1 | 3;
  /** height x width x channels */
  pixels: Uint8Array;
  label: number;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-data-'));
}

/** A smooth, distinct picture per `seed` (smooth so that JPEG keeps it close). */
export function picture(width: number, height: number, channels: 1 | 3, seed: number, label = 0): Picture {
  const pixels = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const wave = Math.sin((x + 1.7 * seed) / (3 + c)) * Math.cos((y - seed) / (4 + c));
        pixels[(y * width + x) * channels + c] = Math.round(128 + 90 * wave + ((seed * 37) % 30) - 15);
      }
    }
  }
  return { width, height, channels, pixels, label };
}

function rgba(p: Picture): Buffer {
  const out = Buffer.alloc(p.width * p.height * 4, 255);
  for (let i = 0; i < p.width * p.height; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = p.pixels[i * p.channels + (p.channels === 1 ? 0 : c)];
  }
  return out;
}

export function encodeJpeg(p: Picture, quality = 98): Buffer {
  return jpeg.encode({ data: rgba(p), width: p.width, height: p.height }, quality).data;
}

export function encodePng(p: Picture): Buffer {
  const colorType = p.channels === 1 ? 0 : 2;
  const png = new PNG({ width: p.width, height: p.height, colorType, inputColorType: colorType, inputHasAlpha: false });
  png.data = Buffer.from(p.pixels);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
}

function bigEndianHeader(type: 1 | 3, dims: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt32BE(0x800 + type, 0);
  dims.forEach((d, i) => {
    header.writeUInt32BE(d, 4 + 4 * i);
  });
  return header;
}

/** An idx3 images file and an idx1 labels file (grey pictures of one size), gzipped when asked. */
export function writeIdx(dir: string, pictures: Picture[], gzip: boolean): { images: string; labels: string } {
  const { width, height } = pictures[0];
  const images = Buffer.concat([bigEndianHeader(3, [pictures.length, height, width]), ...pictures.map((p) => Buffer.from(p.pixels))]);
  const labels = Buffer.concat([bigEndianHeader(1, [pictures.length]), Buffer.from(pictures.map((p) => p.label))]);
  const suffix = gzip ? '.gz' : '';
  const out = { images: path.join(dir, `images-idx3-ubyte${suffix}`), labels: path.join(dir, `labels-idx1-ubyte${suffix}`) };
  fs.writeFileSync(out.images, gzip ? zlib.gzipSync(images) : images);
  fs.writeFileSync(out.labels, gzip ? zlib.gzipSync(labels) : labels);
  return out;
}

/** root/<classNames[label]>/<name>.<format>; returns each picture's file. */
export function writeImageFolder(root: string, pictures: Picture[], classNames: string[], format: (i: number) => 'jpg' | 'png'): string[] {
  return pictures.map((p, i) => {
    const dir = path.join(root, classNames[p.label]);
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${String(i).padStart(4, '0')}.${format(i)}`);
    fs.writeFileSync(file, format(i) === 'png' ? encodePng(p) : encodeJpeg(p));
    return file;
  });
}

export interface RecordIoSet {
  dir: string;
  rec: string;
  /** The offset of each record in train.rec, by key. */
  offsets: number[];
}

/**
 * A set laid out as insightface's face2rec writes it: record 0 is the header (flag 2, labels
 * [first identity record, end]), records 1..N the JPEGs, then one record per identity holding its
 * [first, end) image range. Without `header`, records 0..N-1 are the JPEGs and nothing else.
 * Pictures with an odd index carry their label as a float array (flag 2); the first one does not,
 * since a flag > 0 in record 0 marks it as the header.
 */
export function writeRecordIo(dir: string, pictures: Picture[], numClasses: number, { property = true, header = true } = {}): RecordIoSet {
  const n = pictures.length;
  const first = header ? 1 : 0;
  const records = header ? [packRecord([n + 1, n + 1 + numClasses], 0, Buffer.alloc(0))] : [];
  pictures.forEach((p, i) => {
    const key = i + first;
    records.push(packRecord(i % 2 === 1 ? [p.label, 0] : p.label, key, encodeJpeg(p)));
  });
  for (let c = 0; header && c < numClasses; c++) {
    const keys = pictures.map((p, i) => (p.label === c ? i + 1 : -1)).filter((k) => k > 0);
    records.push(packRecord([keys[0] ?? 0, (keys[keys.length - 1] ?? -1) + 1], n + 1 + c, Buffer.alloc(0)));
  }
  const offsets = writeRecordIoFiles(dir, records, property ? { classes: numClasses, height: pictures[0].height, width: pictures[0].width } : undefined);
  const rec = path.join(dir, 'train.rec');
  return { dir, rec, offsets };
}
