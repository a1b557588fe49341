import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Batch, DataLoader, type DataSpec, fashionMnistRoot, type LoaderOptions } from '../lib/data/loader';
import { ConfigError, IoError, ShapeError } from '../lib/errors';
import { backendInfo } from '../lib/native/backend';
import { encodeJpeg, type Picture, picture, tempDir, writeIdx, writeImageFolder, writeRecordIo } from './fixtures';

const root = tempDir();
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

const inOrder: LoaderOptions = { shuffle: false, flip: false, workers: 2 };
const cuda = backendInfo().cudaAvailable;

async function readEpoch(spec: DataSpec, options: LoaderOptions, epoch = 0, skip = 0): Promise<Batch[]> {
  const loader = await DataLoader.open(spec, options);
  try {
    const batches: Batch[] = [];
    for await (const b of loader.epoch(epoch, skip)) batches.push(b);
    return batches;
  } finally {
    loader.dispose();
  }
}

/** Sample j of a batch back as HWC uint8. */
function samplePixels(b: Batch, j: number): Uint8Array {
  const { channels: C, height: H, width: W } = b;
  const out = new Uint8Array(H * W * C);
  for (let c = 0; c < C; c++) {
    for (let i = 0; i < H * W; i++) out[i * C + c] = Math.round(b.images[(j * C + c) * H * W + i] * 128 + 127.5);
  }
  return out;
}

function samples(batches: Batch[]): Array<{ pixels: Uint8Array; label: number }> {
  return batches.flatMap((b) => Array.from({ length: b.count }, (_, j) => ({ pixels: samplePixels(b, j), label: b.labels[j] })));
}

/** 'same', or where two runs first differ (cheaper to report than a diff of large arrays). */
function firstDifference(a: Batch[], b: Batch[]): string {
  if (a.length !== b.length) return `${a.length} vs ${b.length} batches`;
  for (let i = 0; i < a.length; i++) {
    const labels = a[i].labels.findIndex((l, j) => l !== b[i].labels[j]);
    if (labels >= 0 || a[i].count !== b[i].count) return `batch ${i}: labels differ`;
    const pixel = a[i].images.findIndex((v, j) => v !== b[i].images[j]);
    if (pixel >= 0) return `batch ${i}: images differ at ${pixel}`;
  }
  return 'same';
}

function maxAbsDiff(a: Uint8Array, b: Uint8Array): number {
  expect(a.length).toBe(b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

// JPEG at quality 98 of smooth pictures: libjpeg-turbo's decode stays within a few levels.
const jpegTolerance = 6;

function greyPictures(n: number, classes: number, size = 8): Picture[] {
  return Array.from({ length: n }, (_, i) => picture(size, size, 1, i, i % classes));
}

describe('IDX', () => {
  const pictures = greyPictures(10, 3);
  const plain = writeIdx(fs.mkdtempSync(path.join(root, 'idx-')), pictures, false);
  const gzipped = writeIdx(fs.mkdtempSync(path.join(root, 'idxgz-')), pictures, true);

  it('reads back pixels and labels exactly, normalised as (x - 127.5) / 128', async () => {
    const batches = await readEpoch({ kind: 'idx', ...plain }, { ...inOrder, batchSize: 4 });
    expect(batches.map((b) => b.count)).toEqual([4, 4, 2]);
    const b = batches[0];
    expect([b.channels, b.height, b.width]).toEqual([1, 8, 8]);
    expect(b.images[5]).toBe(Math.fround((pictures[0].pixels[5] - 127.5) / 128));
    const got = samples(batches);
    got.forEach((s, i) => {
      expect(s.label).toBe(pictures[i].label);
      expect(Array.from(s.pixels)).toEqual(Array.from(pictures[i].pixels));
    });
  });

  it('reads gzipped and plain files alike', async () => {
    const a = await readEpoch({ kind: 'idx', ...plain }, { ...inOrder, batchSize: 10 });
    const b = await readEpoch({ kind: 'idx', ...gzipped }, { ...inOrder, batchSize: 10 });
    expect(firstDifference(b, a)).toBe('same');
  });

  it('reports size, classes and shape', async () => {
    const loader = await DataLoader.open({ kind: 'idx', ...gzipped }, { batchSize: 4, dropLast: true });
    expect(loader.info).toEqual({ size: 10, numClasses: 3, classesWithoutImages: 0, channels: 1, height: 8, width: 8, batchesPerEpoch: 2 });
    loader.dispose();
  });
});

describe.skipIf(!fs.existsSync(fashionMnistRoot))('Fashion-MNIST', () => {
  it('test split: 10000 grey 28x28 images, 1000 of each of 10 classes', async () => {
    const batches = await readEpoch({ kind: 'fashion-mnist', split: 'test' }, { ...inOrder, batchSize: 2500 });
    expect(batches.map((b) => [b.count, b.channels, b.height, b.width])).toEqual(Array(4).fill([2500, 1, 28, 28]));
    const perClass = new Array(10).fill(0);
    for (const b of batches) for (const l of b.labels) perClass[l]++;
    expect(perClass).toEqual(new Array(10).fill(1000));
  });
});

describe('ImageFolder', () => {
  const classNames = ['carol', 'alice', 'bob'];
  const pictures = Array.from({ length: 9 }, (_, i) => picture(16, 12, 3, i, i % 3));
  const dir = path.join(root, 'folder');
  const files = writeImageFolder(dir, pictures, classNames, (i) => (i % 2 ? 'png' : 'jpg'));
  // Folders sorted by name: alice 0, bob 1, carol 2.
  const sortedLabel = (label: number) => ['alice', 'bob', 'carol'].indexOf(classNames[label]);
  const expected = pictures.map((p, i) => ({ p, file: files[i], label: sortedLabel(p.label) })).sort((a, b) => a.file.localeCompare(b.file));

  it('decodes JPEG and PNG, classes sorted by folder name', async () => {
    const loader = await DataLoader.open({ kind: 'imagefolder', root: dir }, { ...inOrder, batchSize: 4 });
    expect(loader.info).toMatchObject({ size: 9, numClasses: 3, channels: 3, height: 12, width: 16 });
    loader.dispose();
    const got = samples(await readEpoch({ kind: 'imagefolder', root: dir }, { ...inOrder, batchSize: 4 }));
    got.forEach((s, i) => {
      expect(s.label).toBe(expected[i].label);
      const diff = maxAbsDiff(s.pixels, expected[i].p.pixels);
      if (expected[i].file.endsWith('.png')) expect(diff).toBe(0);
      else expect(diff).toBeLessThanOrEqual(jpegTolerance);
    });
  });

  it('converts to one grey channel when asked', async () => {
    const greyDir = path.join(root, 'grey');
    const grey = greyPictures(4, 2, 10);
    writeImageFolder(greyDir, grey, ['a', 'b'], (i) => (i < 2 ? 'png' : 'jpg'));
    const got = samples(await readEpoch({ kind: 'imagefolder', root: greyDir, channels: 1 }, { ...inOrder, batchSize: 4 }));
    const order = [0, 2, 1, 3]; // a/0000.png a/0002.jpg b/0001.png b/0003.jpg
    got.forEach((s, i) => {
      expect(maxAbsDiff(s.pixels, grey[order[i]].pixels)).toBeLessThanOrEqual(i % 2 ? jpegTolerance : 0);
    });
  });

  it('refuses an image of another size, naming it', async () => {
    const mixed = path.join(root, 'mixed');
    writeImageFolder(mixed, [picture(8, 8, 3, 1), picture(9, 8, 3, 2)], ['x'], () => 'png');
    const loader = await DataLoader.open({ kind: 'imagefolder', root: mixed }, { ...inOrder, batchSize: 2, onCorrupt: 'skip' });
    loader.startEpoch(0);
    const error = await loader.next().catch((e) => e);
    expect(error).toBeInstanceOf(ShapeError);
    expect(error.message).toContain(path.join(mixed, 'x', '0001.png'));
    loader.dispose();
  });
});

describe('corrupt items', () => {
  const pictures = Array.from({ length: 6 }, (_, i) => picture(8, 8, 3, i, i % 2));
  const folder = path.join(root, 'corrupt-folder');
  const files = writeImageFolder(folder, pictures, ['a', 'b'], () => 'jpg');
  const broken = files[3]; // b/0003.jpg, 5th in sorted order
  fs.writeFileSync(broken, encodeJpeg(pictures[3]).subarray(0, 400));
  const records = writeRecordIo(path.join(root, 'corrupt-rec'), pictures, 2);
  fs.truncateSync(records.rec, records.offsets[6] + 40); // inside the last image record

  const cases: Array<[string, DataSpec, string]> = [
    ['a truncated JPEG', { kind: 'imagefolder', root: folder }, broken],
    ['a truncated record', { kind: 'recordio', path: records.dir }, `${records.rec} record 6`],
  ];
  for (const [what, spec, name] of cases) {
    it(`skips ${what} and counts it`, async () => {
      const batches = await readEpoch(spec, { ...inOrder, batchSize: 4, onCorrupt: 'skip' });
      expect(batches.map((b) => [b.count, b.skipped])).toEqual([
        [4, 0],
        [1, 1],
      ]);
    });

    it(`fails on ${what}, naming it`, async () => {
      const error = await readEpoch(spec, { ...inOrder, batchSize: 4, onCorrupt: 'fail' }).catch((e) => e);
      expect(error).toBeInstanceOf(IoError);
      expect(error.message).toContain(name);
    });
  }
});

describe('RecordIO', () => {
  const pictures = Array.from({ length: 7 }, (_, i) => picture(12, 10, 3, i + 20, (i * 2) % 3));

  it('reads the images after the header record, labels exact', async () => {
    const { dir } = writeRecordIo(path.join(root, 'rec'), pictures, 3);
    const loader = await DataLoader.open({ kind: 'recordio', path: dir }, inOrder);
    expect(loader.info).toMatchObject({ size: 7, numClasses: 3, channels: 3, height: 10, width: 12 });
    loader.dispose();
    const got = samples(await readEpoch({ kind: 'recordio', path: dir }, { ...inOrder, batchSize: 3 }));
    expect(got.map((s) => s.label)).toEqual(pictures.map((p) => p.label));
    got.forEach((s, i) => {
      expect(maxAbsDiff(s.pixels, pictures[i].pixels)).toBeLessThanOrEqual(jpegTolerance);
    });
  });

  it('without a property file takes classes from the header and the size from the images', async () => {
    const { dir } = writeRecordIo(path.join(root, 'rec-noprop'), pictures, 3, { property: false });
    const loader = await DataLoader.open({ kind: 'recordio', path: dir }, inOrder);
    expect(loader.info).toMatchObject({ size: 7, numClasses: 3, height: 10, width: 12 });
    loader.dispose();
  });

  it('without a header record reads every record, classes from the largest label', async () => {
    const { dir } = writeRecordIo(path.join(root, 'rec-plain'), pictures.slice(0, 5), 3, { property: false, header: false });
    const loader = await DataLoader.open({ kind: 'recordio', path: dir }, inOrder);
    expect(loader.info).toMatchObject({ size: 5, numClasses: 3, height: 10, width: 12 });
    loader.dispose();
    const got = samples(await readEpoch({ kind: 'recordio', path: dir }, { ...inOrder, batchSize: 5 }));
    expect(got.map((s) => s.label)).toEqual(pictures.slice(0, 5).map((p) => p.label));
  });
});

describe('bad paths and options', () => {
  it('names a missing path in an IoError', async () => {
    const missing = path.join(root, 'no-such-thing');
    const specs: DataSpec[] = [
      { kind: 'idx', images: missing, labels: missing },
      { kind: 'imagefolder', root: missing },
      { kind: 'recordio', path: missing },
      { kind: 'fashion-mnist', split: 'test', root: missing },
    ];
    for (const spec of specs) {
      const error = await DataLoader.open(spec).catch((e) => e);
      expect(error).toBeInstanceOf(IoError);
      expect(error.code).toBe('E_IO');
      expect(error.message).toContain(missing);
    }
  });

  it('checks options by name', async () => {
    const synthetic: DataSpec = { kind: 'synthetic', classes: 2, perClass: 2, height: 4, width: 4 };
    const bad: Array<[LoaderOptions, string]> = [
      [{ batchSize: 0 }, 'batchSize'],
      [{ workers: 1.5 }, 'workers'],
      [{ prefetch: 0 }, 'prefetch'],
      [{ onCorrupt: 'ignore' as 'skip' }, 'onCorrupt'],
      [{ shuffle: 'yes' as unknown as boolean }, 'shuffle'],
      [{ batchsize: 4 } as LoaderOptions, 'batchsize'],
      [{ worldSize: 0 }, 'worldSize'],
      [{ worldSize: 2, rank: 2 }, 'rank'],
      [{ pinned: 1 as unknown as boolean }, 'pinned'],
      ...(cuda ? [] : [[{ pinned: true }, 'pinned'] as [LoaderOptions, string]]),
    ];
    for (const [options, name] of bad) {
      const error = await DataLoader.open(synthetic, options).catch((e) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect(error.argument).toBe(name);
    }
    const error = await DataLoader.open({ ...synthetic, classes: 0 }).catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.argument).toBe('classes');
  });
});

describe.skipIf(!cuda)('page-locked batches (CUDA)', () => {
  it('gives the batches of the plain loader', async () => {
    const spec: DataSpec = { kind: 'synthetic', classes: 5, perClass: 7, height: 12, width: 12, channels: 3, seed: 4 };
    const plain = await readEpoch(spec, { ...inOrder, batchSize: 8, flip: true });
    const pinned = await readEpoch(spec, { ...inOrder, batchSize: 8, flip: true, pinned: true });
    expect(pinned.map((b) => [Array.from(b.labels), Array.from(b.images)])).toEqual(plain.map((b) => [Array.from(b.labels), Array.from(b.images)]));
  });
});

describe('shuffle, flip and resume', () => {
  const pictures = greyPictures(40, 4, 6);
  const files = writeIdx(fs.mkdtempSync(path.join(root, 'order-')), pictures, false);
  const spec: DataSpec = { kind: 'idx', ...files };
  const ids = (batches: Batch[]) => samples(batches).map((s) => pictures.findIndex((p) => maxAbsDiff(p.pixels, s.pixels) === 0));

  it('shuffles and flips the same whatever the worker count', async () => {
    // Enough work per sample that four workers really interleave.
    const synthetic: DataSpec = { kind: 'synthetic', classes: 10, perClass: 12, height: 20, width: 20 };
    const options = { batchSize: 16, shuffle: true, flip: true, prefetch: 4, seed: 7 };
    const one = await readEpoch(synthetic, { ...options, workers: 1 }, 3);
    const four = await readEpoch(synthetic, { ...options, workers: 4 }, 3);
    expect(firstDifference(four, one)).toBe('same');
  });

  it('gives each rank its slice of every global batch and drops the incomplete one', async () => {
    const options = { shuffle: true, flip: true, seed: 7, workers: 2 };
    // 40 samples, global batches of 3 x 4 = 12: three of them, the last 4 samples dropped.
    const whole = await readEpoch(spec, { ...options, batchSize: 12 }, 2);
    const ranks = await Promise.all([0, 1, 2].map((rank) => readEpoch(spec, { ...options, batchSize: 4, rank, worldSize: 3 }, 2)));
    for (const [rank, batches] of ranks.entries()) {
      expect(batches).toHaveLength(3);
      batches.forEach((b, i) => {
        const all = samples([whole[i]]).slice(4 * rank, 4 * rank + 4);
        expect(samples([b]).map((x) => x.label)).toEqual(all.map((x) => x.label));
        expect(samples([b]).every((x, j) => maxAbsDiff(x.pixels, all[j].pixels) === 0)).toBe(true);
      });
    }
  });

  it('shuffles by seed and epoch', async () => {
    const base = { batchSize: 8, shuffle: true, prefetch: 2 };
    const order = ids(await readEpoch(spec, { ...base, flip: false, seed: 7, workers: 2 }, 3));
    expect([...order].sort((a, b) => a - b)).toEqual(pictures.map((_, i) => i));
    expect(order).not.toEqual(pictures.map((_, i) => i));
    expect(ids(await readEpoch(spec, { ...base, flip: false, seed: 8 }, 3))).not.toEqual(order);
    expect(ids(await readEpoch(spec, { ...base, flip: false, seed: 7 }, 4))).not.toEqual(order);
  });

  it('flips some images left-right and leaves the others', async () => {
    const flipped = samples(await readEpoch(spec, { ...inOrder, batchSize: 40, flip: true, seed: 3 }));
    const mirror = (p: Uint8Array, w: number) => p.map((_, i) => p[i - (i % w) + (w - 1 - (i % w))]);
    const isFlipped = flipped.map((s, i) => {
      if (maxAbsDiff(s.pixels, pictures[i].pixels) === 0) return false;
      expect(Array.from(s.pixels)).toEqual(Array.from(mirror(pictures[i].pixels, 6)));
      return true;
    });
    expect(isFlipped.filter(Boolean).length).toBeGreaterThan(5);
    expect(isFlipped.filter((f) => !f).length).toBeGreaterThan(5);
  });

  it('resumes at a batch with the same batches as reading through', async () => {
    const options = { batchSize: 6, shuffle: true, flip: true, seed: 11 };
    const through = await readEpoch(spec, options, 2);
    const resumed = await readEpoch(spec, options, 2, 4);
    expect(resumed.map((b) => b.index)).toEqual([4, 5, 6]);
    expect(firstDifference(resumed, through.slice(4))).toBe('same');
  });
});

describe('synthetic identities', () => {
  const spec: DataSpec = { kind: 'synthetic', classes: 4, perClass: 5, height: 24, width: 20, seed: 5 };

  it('is deterministic given the seed, and another seed gives other images', async () => {
    const a = await readEpoch(spec, { ...inOrder, batchSize: 20, workers: 1 });
    const b = await readEpoch(spec, { ...inOrder, batchSize: 20, workers: 3 });
    const c = await readEpoch({ ...spec, seed: 6 }, { ...inOrder, batchSize: 20 });
    expect(firstDifference(a, b)).toBe('same');
    expect(Array.from(a[0].labels)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    expect([a[0].channels, a[0].height, a[0].width]).toEqual([3, 24, 20]);
    expect(firstDifference(c, a)).toMatch(/images differ/);
  });

  it('has images closer within a class than across classes, yet all different', async () => {
    const [batch] = await readEpoch(spec, { ...inOrder, batchSize: 20 });
    const size = batch.images.length / batch.count;
    const row = (i: number) => batch.images.subarray(i * size, (i + 1) * size);
    const distance = (i: number, j: number) => Math.sqrt(row(i).reduce((s, v, k) => s + (v - row(j)[k]) ** 2, 0));
    let within = 0,
      across = 0,
      nWithin = 0,
      nAcross = 0;
    for (let i = 0; i < 20; i++) {
      for (let j = i + 1; j < 20; j++) {
        const d = distance(i, j);
        expect(d).toBeGreaterThan(0);
        if (batch.labels[i] === batch.labels[j]) {
          within += d;
          nWithin++;
        } else {
          across += d;
          nAcross++;
        }
      }
    }
    expect(within / nWithin).toBeLessThan(0.75 * (across / nAcross));
  });
});

describe('lifecycle', () => {
  it('disposes mid-epoch without hanging; a pending next() resolves null, later calls throw', async () => {
    const loader = await DataLoader.open({ kind: 'synthetic', classes: 50, perClass: 40, height: 64, width: 64 }, { batchSize: 32, workers: 2, prefetch: 16 });
    loader.startEpoch(0);
    expect((await loader.next())?.count).toBe(32);
    const pending = loader.next();
    loader.dispose();
    const last = await pending;
    expect(last === null || last.count === 32).toBe(true);
    expect(() => loader.startEpoch(1)).toThrow(ConfigError);
    expect(() => loader.next()).toThrow(/disposed/);
    expect(() => loader.nativeHandle).toThrow(ConfigError);
    loader.dispose();
  });

  it('asks for startEpoch before next()', async () => {
    const loader = await DataLoader.open({ kind: 'synthetic', classes: 2, perClass: 2, height: 4, width: 4 });
    const error = await loader.next().catch((e) => e);
    expect(error).toBeInstanceOf(ConfigError);
    loader.dispose();
  });
});
