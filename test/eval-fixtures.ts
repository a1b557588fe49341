/** Evaluation fixtures: InsightFace .bin pickles written byte by byte, and tiny trained runs. */
import * as path from 'node:path';
import type { TrainConfig } from '../lib/train/trainer';
import { encodeJpeg, picture } from './fixtures';

/** A Python 2 style pickle (protocol 2, str as SHORT_BINSTRING / BINSTRING) of (bins, issame_list). */
export function python2Bin(images: Buffer[], same: boolean[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x80, 2, 0x5d, 0x71, 0, 0x28])]; // PROTO 2, EMPTY_LIST, BINPUT 0, MARK
  for (const image of images) {
    const length = Buffer.alloc(4);
    length.writeUInt32LE(image.length);
    parts.push(image.length < 256 ? Buffer.from([0x55, image.length]) : Buffer.concat([Buffer.from([0x54]), length]), image);
  }
  parts.push(Buffer.from([0x65, 0x5d, 0x71, 1, 0x28])); // APPENDS, EMPTY_LIST, BINPUT 1, MARK
  parts.push(Buffer.from(same.map((s) => (s ? 0x88 : 0x89)))); // NEWTRUE / NEWFALSE
  parts.push(Buffer.from([0x65, 0x86, 0x71, 2, 0x2e])); // APPENDS, TUPLE2, BINPUT 2, STOP
  return Buffer.concat(parts);
}

/** `pairs` pairs of 112 x 112 JPEGs, alternately the same picture (nearly) and two different ones. */
export function verificationBin(pairs: number): Buffer {
  const images: Buffer[] = [];
  const same: boolean[] = [];
  for (let k = 0; k < pairs; k++) {
    same.push(k % 2 === 0);
    images.push(encodeJpeg(picture(112, 112, 3, 2 * k + 1)), encodeJpeg(picture(112, 112, 3, k % 2 === 0 ? 2 * k + 1 : 2 * k + 2), 80));
  }
  return python2Bin(images, same);
}

export const syntheticData = { kind: 'synthetic', classes: 6, perClass: 8, height: 28, width: 28, channels: 1, seed: 5 } as const;
export const syntheticDataArg = 'synthetic:classes=6,perClass=8,size=28,channels=1,seed=5';

/** The small net on `syntheticData`: 3 steps per epoch. */
export function tinyRun(runsDir: string, name: string, over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    name,
    runsDir: path.resolve(runsDir),
    backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 32 },
    head: { type: 'mv-arc', mode: 'adaptive' },
    data: syntheticData,
    epochs: 4,
    batchSize: 16,
    optimizer: { lr: 0.05 },
    seed: 11,
    workers: 2,
    ...over,
  };
}
