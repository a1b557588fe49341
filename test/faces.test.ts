import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { program } from '../lib/cli/main';
import { type Batch, DataLoader } from '../lib/data/loader';
import { ConfigError, IoError } from '../lib/errors';
import { drawIdentities, type FaceOptions, familyFeatures, generateFaces, type Variation, variationAtOne } from '../lib/data/faces';
import { visibleTraits } from '../lib/data/faces/facesjs';
import { tempDir } from './fixtures';

const tmp = tempDir();
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let counter = 0;
async function generate(options: Omit<FaceOptions, 'root'>): Promise<string> {
  const root = path.join(tmp, `set${counter++}`);
  await generateFaces({ root, concurrency: 2, ...options });
  return root;
}

/** Every file under root, as relative path -> bytes. */
function files(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (dir: string): void => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else out.set(path.relative(root, full), fs.readFileSync(full));
    }
  };
  walk(root);
  return out;
}

/** images[identity][k]: RGB pixels of root/<identity>/<k>.png, identities and images in name order. */
function readImages(root: string): Uint8Array[][] {
  const ids = fs
    .readdirSync(root)
    .filter((d) => fs.statSync(path.join(root, d)).isDirectory())
    .sort();
  return ids.map((id) =>
    fs
      .readdirSync(path.join(root, id))
      .sort()
      .map((f) => {
        const png = PNG.sync.read(fs.readFileSync(path.join(root, id, f)));
        expect([png.width, png.height]).toEqual([112, 112]);
        return Uint8Array.from({ length: 112 * 112 * 3 }, (_, i) => png.data[4 * Math.floor(i / 3) + (i % 3)]);
      }),
  );
}

/** Mean absolute difference per channel value, in grey levels. */
function distance(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)];
}

function withinIdentity(images: Uint8Array[][]): number[] {
  return images.flatMap((own) => own.flatMap((a, i) => own.slice(i + 1).map((b) => distance(a, b))));
}

function betweenIdentities(images: Uint8Array[][]): number[] {
  return images.flatMap((own, i) => images.slice(i + 1).map((other) => distance(own[0], other[0])));
}

/** The share of images whose nearest other image (in pixels) shows the same identity. */
function nearestNeighbourAccuracy(images: Uint8Array[][]): number {
  let hits = 0;
  let total = 0;
  images.forEach((own, i) => {
    own.forEach((x, k) => {
      let best = Infinity;
      let bestIdentity = -1;
      images.forEach((other, j) => {
        other.forEach((y, l) => {
          if (i === j && k === l) return;
          const d = distance(x, y);
          if (d < best) {
            best = d;
            bestIdentity = j;
          }
        });
      });
      hits += bestIdentity === i ? 1 : 0;
      total++;
    });
  });
  return hits / total;
}

describe('generateFaces', () => {
  const base = { identities: 6, imagesPerIdentity: 4, seed: 7, difficulty: 0.5 } as const;
  let first: string;
  let again: string;

  beforeAll(async () => {
    first = await generate(base);
    again = await generate({ ...base, concurrency: 1 });
  });

  it('writes root/<identity>/<k>.png and a manifest', () => {
    const names = [...files(first).keys()];
    expect(names).toHaveLength(6 * 4 + 1);
    expect(names).toContain('faces.json');
    expect(names).toContain(path.join('id00000', '0000.png'));
    expect(names).toContain(path.join('id00005', '0003.png'));
    const manifest = JSON.parse(fs.readFileSync(path.join(first, 'faces.json'), 'utf8'));
    expect(manifest).toMatchObject({ complete: true, seed: 7, identities: 6, imagesPerIdentity: 4, size: 112, format: 'png' });
  });

  it('gives byte-identical files for the same seed, whatever the concurrency', () => {
    const a = files(first);
    const b = files(again);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [name, bytes] of a) expect(bytes.equals(b.get(name)!), name).toBe(true);
  });

  it('gives other faces for another seed', async () => {
    const other = files(await generate({ ...base, seed: 8 }));
    const a = files(first);
    const differing = [...a.keys()].filter((name) => name.endsWith('.png') && !a.get(name)!.equals(other.get(name)!));
    expect(differing).toHaveLength(6 * 4);
  });

  it('reads back through the ImageFolder loader: 6 classes of 4 images, 112 x 112 x 3', async () => {
    const loader = await DataLoader.open({ kind: 'imagefolder', root: first }, { batchSize: 8, shuffle: false, workers: 2 });
    try {
      expect(loader.info).toMatchObject({ size: 24, numClasses: 6, channels: 3, height: 112, width: 112 });
      const batches: Batch[] = [];
      for await (const b of loader.epoch(0)) batches.push(b);
      const labels = batches.flatMap((b) => [...b.labels]);
      expect(labels).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5]);
      // The loader's first sample is the PNG's pixels (lossless), normalised (x - 127.5) / 128.
      const png = readImages(first)[0][0];
      const b = batches[0];
      let worst = 0;
      for (let c = 0; c < 3; c++) {
        for (let i = 0; i < 112 * 112; i++) worst = Math.max(worst, Math.abs(b.images[c * 112 * 112 + i] * 128 + 127.5 - png[3 * i + c]));
      }
      expect(worst).toBeLessThan(1e-3);
    } finally {
      loader.dispose();
    }
  });
});

describe('identities', () => {
  it('differ in at least 3 visible traits, pair by pair, and a larger count keeps the smaller one', async () => {
    const many = await drawIdentities(11, 300);
    const traits = many.map(visibleTraits);
    let closest = Infinity;
    for (let i = 0; i < traits.length; i++) {
      for (let j = i + 1; j < traits.length; j++) closest = Math.min(closest, traits[i].filter((t, k) => t !== traits[j][k]).length);
    }
    expect(closest).toBeGreaterThanOrEqual(3);
    expect(await drawIdentities(11, 40)).toEqual(many.slice(0, 40));
  });

  it('are told apart in pixels at low difficulty: between-identity distance well above within-identity', async () => {
    const images = readImages(await generate({ identities: 8, imagesPerIdentity: 4, seed: 3, difficulty: 0.2 }));
    const within = median(withinIdentity(images));
    const between = median(betweenIdentities(images));
    const nearest = nearestNeighbourAccuracy(images);
    console.log(
      `difficulty 0.2: median distance within ${within.toFixed(1)}, between ${between.toFixed(1)} grey levels; nearest neighbour of the same identity ${nearest}`,
    );
    expect(between).toBeGreaterThan(1.5 * within);
    expect(nearest).toBeGreaterThanOrEqual(0.9);
  });
});

describe('families', () => {
  const traitsApart = (a: string[], b: string[]): number => a.filter((t, k) => t !== b[k]).length;

  it('share all but familyTraits features within a family; families stay at least 3 visible traits apart', async () => {
    const faces = await drawIdentities(11, 48, { size: 4, traits: 2 });
    const traits = faces.map(visibleTraits);
    for (let i = 0; i < traits.length; i++) {
      for (let j = i + 1; j < traits.length; j++) {
        const d = traitsApart(traits[i], traits[j]);
        if (Math.floor(i / 4) !== Math.floor(j / 4)) expect(d, `${i} and ${j}`).toBeGreaterThanOrEqual(3);
        // Two features, each one trait but hair (style and colour): 1 to 3 traits from the founder, at least 1 between members.
        else if (i % 4 === 0) expect([1, 2, 3], `founder ${i}, member ${j}`).toContain(d);
        else expect(d, `${i} and ${j}`).toBeGreaterThanOrEqual(1);
      }
    }
    for (const [i, face] of faces.entries()) {
      if (i % 4 === 0) continue;
      const founder = faces[i - (i % 4)];
      const changed = familyFeatures.filter((f) => JSON.stringify(face[f]) !== JSON.stringify(founder[f]));
      expect(changed, `member ${i}`).toHaveLength(2);
      const others = Object.keys(face).filter((k) => !(familyFeatures as readonly string[]).includes(k));
      for (const k of others) expect(face[k], `member ${i}: ${k}`).toEqual(founder[k]);
    }
    expect(await drawIdentities(11, 10, { size: 4, traits: 2 })).toEqual(faces.slice(0, 10));
    expect(await drawIdentities(11, 12, { size: 1, traits: 2 })).toEqual(await drawIdentities(11, 12));
  });

  it('put family members closer in pixels than strangers', async () => {
    const images = readImages(await generate({ identities: 12, imagesPerIdentity: 1, seed: 4, difficulty: 0, familySize: 3, familyTraits: 1 }));
    const kin: number[] = [];
    const strangers: number[] = [];
    for (let i = 0; i < images.length; i++) {
      for (let j = i + 1; j < images.length; j++) (Math.floor(i / 3) === Math.floor(j / 3) ? kin : strangers).push(distance(images[i][0], images[j][0]));
    }
    console.log(`still images: median distance ${median(kin).toFixed(1)} within families, ${median(strangers).toFixed(1)} between`);
    expect(median(kin)).toBeLessThan(0.6 * median(strangers));
    expect(Math.min(...kin)).toBeGreaterThan(0);
  });
});

describe('variation', () => {
  it('is absent at difficulty 0, present at 0.2, and larger at 1', async () => {
    const still = readImages(await generate({ identities: 3, imagesPerIdentity: 3, seed: 5, difficulty: 0 }));
    expect(Math.max(...withinIdentity(still))).toBe(0);
    expect(Math.min(...betweenIdentities(still))).toBeGreaterThan(10);

    const low = withinIdentity(readImages(await generate({ identities: 3, imagesPerIdentity: 4, seed: 5, difficulty: 0.2 })));
    const high = withinIdentity(readImages(await generate({ identities: 3, imagesPerIdentity: 4, seed: 5, difficulty: 1 })));
    console.log(`median within-identity distance: ${median(low).toFixed(1)} at difficulty 0.2, ${median(high).toFixed(1)} at 1`);
    // No two images of an identity are alike.
    expect(Math.min(...low)).toBeGreaterThan(5);
    expect(median(high)).toBeGreaterThan(1.5 * median(low));
  });

  it('moves an image by each knob alone, and by none when every range is 0', async () => {
    const none = Object.fromEntries(Object.keys(variationAtOne).map((k) => [k, 0])) as unknown as Variation;
    const still = readImages(await generate({ identities: 1, imagesPerIdentity: 2, seed: 8, variation: none }))[0];
    expect(distance(still[0], still[1])).toBe(0);
    const probabilities = ['expression', 'grayscale', 'occlusion', 'background'];
    for (const key of Object.keys(variationAtOne) as Array<keyof Variation>) {
      const value = probabilities.includes(key) ? 1 : variationAtOne[key];
      const moved = readImages(await generate({ identities: 1, imagesPerIdentity: 2, seed: 8, variation: { ...none, [key]: value } }))[0];
      for (const [k, image] of moved.entries()) expect(distance(image, still[k]), `${key}, image ${k}`).toBeGreaterThan(0.05);
    }
  });

  it('blurs: neighbouring pixels differ less with blur than without', async () => {
    const none = Object.fromEntries(Object.keys(variationAtOne).map((k) => [k, 0])) as unknown as Variation;
    const roughness = (rgb: Uint8Array): number => {
      let sum = 0;
      for (let i = 3; i < rgb.length; i++) sum += Math.abs(rgb[i] - rgb[i - 3]);
      return sum;
    };
    const sharp = readImages(await generate({ identities: 2, imagesPerIdentity: 1, seed: 8, variation: none }));
    const soft = readImages(await generate({ identities: 2, imagesPerIdentity: 1, seed: 8, variation: { ...none, blur: 3 } }));
    for (let i = 0; i < 2; i++) expect(roughness(soft[i][0])).toBeLessThan(0.8 * roughness(sharp[i][0]));
  });

  it('follows explicit ranges: only noise leaves the face where it is', async () => {
    const variation = {
      rotation: 0,
      scale: 0,
      shift: 0,
      yaw: 0,
      expression: 0,
      background: 0,
      brightness: 0,
      contrast: 0,
      colorCast: 0,
      light: 0,
      grayscale: 0,
      blur: 0,
      occlusion: 0,
      noise: 8,
    };
    const images = readImages(await generate({ identities: 2, imagesPerIdentity: 3, seed: 5, variation }));
    const within = withinIdentity(images);
    // Two draws of noise with sigma <= 8 differ by |N(0, s1^2 + s2^2)|, whose mean is at most
    // sqrt(2 / pi) * 8 * sqrt(2) = 9.03 grey levels (less where clipped); the mean over 37632 values is within 0.1 of it.
    for (const d of within) expect(d).toBeLessThan(9.13);
    expect(Math.max(...within)).toBeGreaterThan(0.5);
  });
});

describe('held-out identities', () => {
  it('writes disjoint train and test sets, each an ImageFolder, with the same images as one set', async () => {
    const whole = await generate({ identities: 5, imagesPerIdentity: 2, seed: 9 });
    const root = await generate({ identities: 5, imagesPerIdentity: 2, seed: 9, heldOut: 2 });
    const train = fs.readdirSync(path.join(root, 'train')).sort();
    const test = fs.readdirSync(path.join(root, 'test')).sort();
    expect(train).toEqual(['id00000', 'id00001', 'id00002']);
    expect(test).toEqual(['id00003', 'id00004']);
    const a = files(whole);
    for (const [name, bytes] of files(root)) {
      if (name === 'faces.json') continue;
      expect(bytes.equals(a.get(name.split(path.sep).slice(1).join(path.sep))!), name).toBe(true);
    }
    for (const [set, classes] of [
      ['train', 3],
      ['test', 2],
    ] as const) {
      const loader = await DataLoader.open({ kind: 'imagefolder', root: path.join(root, set) }, { workers: 1 });
      expect(loader.info).toMatchObject({ numClasses: classes, size: classes * 2, height: 112, width: 112, channels: 3 });
      loader.dispose();
    }
  });
});

describe('options', () => {
  it('writes JPEGs the loader reads', async () => {
    const root = await generate({ identities: 2, imagesPerIdentity: 2, format: 'jpg', size: 64 });
    expect(fs.readdirSync(path.join(root, 'id00001'))).toEqual(['0000.jpg', '0001.jpg']);
    const loader = await DataLoader.open({ kind: 'imagefolder', root }, { workers: 1 });
    expect(loader.info).toMatchObject({ numClasses: 2, size: 4, height: 64, width: 64 });
    loader.dispose();
  });

  it('rejects bad options with a ConfigError naming the option', async () => {
    const root = path.join(tmp, 'bad');
    await expect(generateFaces({ root, identities: 0, imagesPerIdentity: 1 })).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'identities' });
    await expect(generateFaces({ root, identities: 2, imagesPerIdentity: 1, heldOut: 2 })).rejects.toBeInstanceOf(ConfigError);
    await expect(generateFaces({ root, identities: 2, imagesPerIdentity: 1, variation: { tilt: 3 } as never })).rejects.toMatchObject({
      argument: 'variation.tilt',
    });
    await expect(generateFaces({ root, identities: 2, imagesPerIdentity: 1, colour: 1 } as never)).rejects.toMatchObject({ argument: 'colour' });
    await expect(generateFaces({ root, identities: 4, imagesPerIdentity: 1, familySize: 0 })).rejects.toMatchObject({ argument: 'familySize' });
    await expect(generateFaces({ root, identities: 4, imagesPerIdentity: 1, familySize: 2, familyTraits: 0 })).rejects.toMatchObject({
      argument: 'familyTraits',
    });
    await expect(generateFaces({ root, identities: 4, imagesPerIdentity: 1, familyTraits: familyFeatures.length + 1 })).rejects.toMatchObject({
      argument: 'familyTraits',
    });
    expect(fs.existsSync(root)).toBe(false);
  });

  it('leaves a foreign folder alone, and replaces its own output only with overwrite', async () => {
    const foreign = path.join(tmp, 'foreign');
    fs.mkdirSync(foreign);
    fs.writeFileSync(path.join(foreign, 'keep.txt'), 'x');
    await expect(generateFaces({ root: foreign, identities: 1, imagesPerIdentity: 1 })).rejects.toBeInstanceOf(IoError);
    expect(fs.readdirSync(foreign)).toEqual(['keep.txt']);

    const root = await generate({ identities: 4, imagesPerIdentity: 1, heldOut: 1 });
    await expect(generateFaces({ root, identities: 2, imagesPerIdentity: 1 })).rejects.toBeInstanceOf(IoError);
    await generateFaces({ root, identities: 2, imagesPerIdentity: 1, overwrite: true });
    expect(fs.readdirSync(root).sort()).toEqual(['faces.json', 'id00000', 'id00001']);
  });

  it('reports progress and stops on abort, leaving the manifest marked incomplete', async () => {
    const root = path.join(tmp, 'aborted');
    const controller = new AbortController();
    const seen: number[] = [];
    const run = generateFaces({
      root,
      identities: 4,
      imagesPerIdentity: 5,
      concurrency: 1,
      signal: controller.signal,
      onProgress: (done, total) => {
        seen.push(done);
        expect(total).toBe(20);
        if (done === 3) controller.abort();
      },
    });
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    expect(seen).toEqual([1, 2, 3]);
    expect(JSON.parse(fs.readFileSync(path.join(root, 'faces.json'), 'utf8')).complete).toBe(false);

    const progress: number[] = [];
    await generateFaces({ root, identities: 2, imagesPerIdentity: 2, overwrite: true, onProgress: (done) => progress.push(done) });
    expect(progress).toEqual([1, 2, 3, 4]);
  });
});

describe('mvface faces', () => {
  it('writes the set from flags and prints the result', async () => {
    const out = path.join(tmp, 'cli');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const error = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await program().parseAsync(
        [
          'faces',
          '--out',
          out,
          '--identities',
          '3',
          '--images',
          '2',
          '--held-out',
          '1',
          '--seed',
          '9',
          '--format',
          'jpg',
          '--size',
          '48',
          '--family-size',
          '3',
          '--family-traits',
          '1',
          '--variation',
          'blur=0',
          'occlusion=0.25',
        ],
        { from: 'user' },
      );
      expect(JSON.parse(String(log.mock.calls[0][0]))).toMatchObject({ identities: 3, images: 6, train: { identities: 2 }, test: { identities: 1 } });
      expect(stderr.mock.calls.map((c) => String(c[0])).join('')).toContain('6/6 images (100%)');
    } finally {
      log.mockRestore();
      error.mockRestore();
      stderr.mockRestore();
    }
    expect(fs.readdirSync(path.join(out, 'test', 'id00002'))).toEqual(['0000.jpg', '0001.jpg']);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'faces.json'), 'utf8'))).toMatchObject({
      seed: 9,
      size: 48,
      format: 'jpg',
      heldOut: 1,
      complete: true,
      familySize: 3,
      familyTraits: 1,
      variation: { blur: 0, occlusion: 0.25, noise: variationAtOne.noise / 2 },
    });
  });
});
