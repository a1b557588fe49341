/**
 * Face alignment: each image warped (bilinear) to a size x size crop by the similarity transform that
 * takes its five landmarks closest to InsightFace's ArcFace template, in native code.
 */
import * as fs from 'node:fs';
import { createError } from '../errors';
import type { DecodedImages } from '../eval/sets';
import { native } from '../native/addon';

/** Five (x, y) points per image: left eye, right eye, nose tip, left and right mouth corner (as seen). */
export type FaceLandmarks = Float32Array | number[][];

function flatLandmarks(landmarks: FaceLandmarks, count: number): Float32Array {
  if (landmarks instanceof Float32Array) return landmarks;
  if (!Array.isArray(landmarks) || landmarks.length !== count || landmarks.some((l) => !Array.isArray(l) || l.length !== 10)) {
    throw createError('E_SHAPE', `landmarks: expected ${count} arrays of 10 numbers (x, y of five points)`, 'landmarks');
  }
  return Float32Array.from(landmarks.flat());
}

/**
 * Encoded JPEG/PNG faces -> aligned crops, count x channels x size x size, normalised as the model's
 * input ((x - 127.5) / 128): ready for Model.embed.
 */
export async function alignFaces(images: Uint8Array[], landmarks: FaceLandmarks, options: { channels?: 1 | 3; size?: number } = {}): Promise<DecodedImages> {
  return native().alignFaces(images, flatLandmarks(landmarks, images.length), options.channels ?? 3, options.size ?? 112);
}

/**
 * A landmarks file: one line per image, `<path> x1 y1 x2 y2 x3 y3 x4 y4 x5 y5`, the path relative to
 * the image folder (LFW: Name/Name_0001.jpg). Lines starting with # are comments.
 */
export function readLandmarks(file: string): Map<string, number[]> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw createError('E_IO', `${file}: cannot read (${(e as Error).message})`, file);
  }
  const out = new Map<string, number[]>();
  text.split(/\r?\n/).forEach((line, n) => {
    const f = line.trim().split(/\s+/).filter(Boolean);
    if (f.length === 0 || f[0].startsWith('#')) return;
    const values = f.slice(1).map(Number);
    if (f.length !== 11 || values.some((v) => !Number.isFinite(v))) {
      throw createError('E_IO', `${file}:${n + 1}: expected '<path> x1 y1 ... x5 y5' (11 fields), got '${line.trim()}'`, file);
    }
    out.set(f[0].replace(/\\/g, '/'), values);
  });
  return out;
}

/** The landmarks of each named image, n x 10; E_IO naming the first image the file lacks. */
export function landmarksFor(names: string[], table: Map<string, number[]>, file: string): Float32Array {
  const out = new Float32Array(names.length * 10);
  names.forEach((name, i) => {
    const l = table.get(name);
    if (!l) throw createError('E_IO', `${file}: no landmarks for ${name}`, file);
    out.set(l, i * 10);
  });
  return out;
}
