import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, IoError, ShapeError } from '../lib/errors';
import { decodeImages, drawPairs, galleryProbeSplit, readLfwPairs, sampleIndices, readVerificationBin } from '../lib/eval/sets';
import { python2Bin } from './eval-fixtures';
import { encodeJpeg, picture, type Picture, tempDir } from './fixtures';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const pictures = [0, 1, 2, 3].map((i) => picture(112, 112, 3, i + 1));
const jpegs = pictures.map((p) => encodeJpeg(p));

/** A .bin written by Python 3's pickle: bins as bytes, bytearray or numpy uint8 arrays. */
function python3Bin(file: string, kind: 'bytes' | 'bytearray' | 'numpy', protocol: number): void {
  const files = jpegs.map((j, i) => {
    const f = path.join(dir, `img${i}.jpg`);
    fs.writeFileSync(f, j);
    return f;
  });
  const script = [
    'import pickle, sys, numpy as np',
    'out, kind, protocol = sys.argv[1], sys.argv[2], int(sys.argv[3])',
    "bins = [open(f, 'rb').read() for f in sys.argv[4:]]",
    "if kind == 'bytearray': bins = [bytearray(b) for b in bins]",
    "if kind == 'numpy': bins = [np.frombuffer(b, dtype=np.uint8).copy() for b in bins]",
    "pickle.dump((bins, [True, False]), open(out, 'wb'), protocol=protocol)",
  ].join('\n');
  execFileSync('/usr/bin/python3', ['-c', script, file, kind, String(protocol), ...files]);
}

describe('InsightFace verification .bin', () => {
  it('reads a Python 2 pickle (str as bytes)', () => {
    const file = path.join(dir, 'py2.bin');
    fs.writeFileSync(file, python2Bin(jpegs, [true, false]));
    const bin = readVerificationBin(file);
    expect(bin.same).toEqual([true, false]);
    expect(Array.from(bin.pairs)).toEqual([0, 1, 2, 3]);
    bin.images.forEach((b, i) => {
      expect(Buffer.from(b).equals(jpegs[i])).toBe(true);
    });
  });

  for (const kind of ['bytes', 'bytearray', 'numpy'] as const) {
    for (const protocol of [2, 4, 5]) {
      it(`reads ${kind} written by Python 3 with protocol ${protocol}`, () => {
        const file = path.join(dir, `${kind}-${protocol}.bin`);
        python3Bin(file, kind, protocol);
        const bin = readVerificationBin(file);
        expect(bin.same).toEqual([true, false]);
        bin.images.forEach((b, i) => {
          expect(Buffer.from(b).equals(jpegs[i])).toBe(true);
        });
      });
    }
  }

  it('refuses anything else with an IoError naming the file', () => {
    const cases: Record<string, Buffer> = {
      // a dict: EMPTY_DICT is not in the reader's opcodes
      dict: execFileSync('/usr/bin/python3', ['-c', "import pickle, sys; sys.stdout.buffer.write(pickle.dumps({'a': 1}, protocol=2))"]),
      // a call to os.system: the reader knows no such global
      global: Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00lsq\x01\x85q\x02Rq\x03.', 'latin1'),
      truncated: python2Bin(jpegs, [true, false]).subarray(0, 500),
      'three images for two pairs': python2Bin(jpegs.slice(0, 3), [true, false]),
      'not a pickle': jpegs[0],
      empty: Buffer.alloc(0),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const file = path.join(dir, `bad-${name.replace(/ /g, '-')}.bin`);
      fs.writeFileSync(file, bytes);
      expect(() => readVerificationBin(file), name).toThrow(IoError);
      expect(() => readVerificationBin(file), name).toThrow(`${file}: not an InsightFace verification .bin`);
    }
    expect(() => readVerificationBin(path.join(dir, 'missing.bin'))).toThrow(IoError);
  });
});

/** Mean absolute difference between decoded images and the pictures, in pixel units. */
function meanError(images: Float32Array, originals: Picture[]): number {
  let sum = 0;
  const { width: w, height: h } = originals[0];
  originals.forEach((p, n) => {
    for (let c = 0; c < 3; c++) for (let i = 0; i < w * h; i++) sum += Math.abs(images[(n * 3 + c) * h * w + i] * 128 + 127.5 - p.pixels[i * 3 + c]);
  });
  return sum / (originals.length * 3 * w * h);
}

describe('decodeImages', () => {
  it('decodes JPEGs natively to N x C x H x W, normalised like the loader', async () => {
    const d = await decodeImages(jpegs, 3);
    expect(d).toMatchObject({ count: 4, channels: 3, height: 112, width: 112 });
    expect(d.images.length).toBe(4 * 3 * 112 * 112);
    expect(meanError(d.images, pictures)).toBeLessThan(2);
    // Against the wrong pictures the error is large: the comparison can fail.
    expect(meanError(d.images, [...pictures].reverse())).toBeGreaterThan(10);
  });

  it('resizes to size x size and converts to grey', async () => {
    const d = await decodeImages(jpegs, 1, 28);
    expect(d).toMatchObject({ count: 4, channels: 1, height: 28, width: 28 });
    const mean = d.images.reduce((a, b) => a + b, 0) / d.images.length;
    expect(Math.abs(mean)).toBeLessThan(0.5);
  });

  it('names the corrupt image, and the odd size without a resize', async () => {
    await expect(decodeImages([jpegs[0], Buffer.from('junk')], 3)).rejects.toThrow(IoError);
    await expect(decodeImages([jpegs[0], Buffer.from('junk')], 3)).rejects.toThrow(/image 1/);
    const small = encodeJpeg(picture(50, 40, 3, 9));
    await expect(decodeImages([jpegs[0], small], 3)).rejects.toThrow(ShapeError);
    await expect(decodeImages([jpegs[0], small], 3, 64)).resolves.toMatchObject({ count: 2, height: 64, width: 64 });
  });
});

describe('LFW pairs.txt', () => {
  const root = path.join(dir, 'lfw');
  for (const [name, i, seed] of [
    ['Alice_Smith', 1, 1],
    ['Alice_Smith', 2, 2],
    ['Bob', 1, 3],
  ] as const) {
    fs.mkdirSync(path.join(root, name), { recursive: true });
    fs.writeFileSync(path.join(root, name, `${name}_000${i}.jpg`), encodeJpeg(picture(60, 60, 3, seed)));
  }

  it('reads same (3 fields) and different (4 fields) pairs after the header', () => {
    const pairs = path.join(dir, 'pairs.txt');
    fs.writeFileSync(pairs, '1\t2\nAlice_Smith\t1\t2\nAlice_Smith\t1\tBob\t1\n\n');
    const list = readLfwPairs(pairs, root);
    expect(list.same).toEqual([true, false]);
    expect(Array.from(list.pairs)).toEqual([0, 1, 0, 2]);
    expect(list.images).toHaveLength(3);
    expect(Buffer.from(list.images[2]).equals(fs.readFileSync(path.join(root, 'Bob', 'Bob_0001.jpg')))).toBe(true);
  });

  it('names a missing image and a malformed line', () => {
    const pairs = path.join(dir, 'pairs-missing.txt');
    fs.writeFileSync(pairs, 'Alice_Smith 1 2\nCarol 1 2\n');
    expect(() => readLfwPairs(pairs, root)).toThrow(IoError);
    expect(() => readLfwPairs(pairs, root)).toThrow(
      `${path.join(root, 'Carol', 'Carol_0001.jpg')}: image named by ${pairs} is missing (and 1 more missing images)`,
    );
    fs.writeFileSync(pairs, 'Alice_Smith 1 2\nAlice_Smith one 2\n');
    expect(() => readLfwPairs(pairs, root)).toThrow(`${pairs}:2: expected`);
  });
});

describe('pairs and gallery/probe split drawn from labels', () => {
  const labels = Array.from({ length: 30 }, (_, i) => i % 5);

  it('draws distinct pairs, half same-class, the same for the same seed', () => {
    const a = drawPairs(labels, 40, 7);
    expect(a.same.filter(Boolean)).toHaveLength(20);
    const keys = new Set<string>();
    a.same.forEach((s, k) => {
      const [i, j] = [a.pairs[2 * k], a.pairs[2 * k + 1]];
      expect(i).not.toBe(j);
      expect(labels[i] === labels[j]).toBe(s);
      keys.add(`${Math.min(i, j)}-${Math.max(i, j)}`);
    });
    expect(keys.size).toBe(40);
    expect(drawPairs(labels, 40, 7)).toEqual(a);
    expect(drawPairs(labels, 40, 8).pairs).not.toEqual(a.pairs);
    // Same-class pairs are shuffled among the others, so every 10-fold block holds both kinds.
    expect(a.same.slice(0, 10).some(Boolean) && !a.same.slice(0, 10).every(Boolean)).toBe(true);
  });

  it('refuses more pairs than the labels allow, and odd counts', () => {
    // 5 classes of 6: 5 x (6 x 5 / 2) = 75 same-class pairs at most.
    expect(() => drawPairs(labels, 150)).not.toThrow();
    expect(() => drawPairs(labels, 152)).toThrow(ShapeError);
    expect(() => drawPairs(labels, 41)).toThrow(ConfigError);
  });

  it('takes one gallery image per class; the rest are probes', () => {
    const { gallery, probes } = galleryProbeSplit(labels, 3);
    expect(Array.from(gallery, (i) => labels[i])).toEqual([0, 1, 2, 3, 4]);
    expect(probes).toHaveLength(25);
    expect(new Set([...gallery, ...probes]).size).toBe(30);
  });
});

describe('sampleIndices', () => {
  it('draws k distinct indices, ascending, the same for the same seed; all of them when k >= n', () => {
    const a = Array.from(sampleIndices(1000, 100, 7));
    expect(new Set(a).size).toBe(100);
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(a.every((i) => i >= 0 && i < 1000)).toBe(true);
    expect(Array.from(sampleIndices(1000, 100, 7))).toEqual(a);
    expect(Array.from(sampleIndices(1000, 100, 8))).not.toEqual(a);
    expect(Array.from(sampleIndices(5, 9, 1))).toEqual([0, 1, 2, 3, 4]);
  });
});
