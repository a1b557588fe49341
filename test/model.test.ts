import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { backboneForward } from '../lib/model/backbones';
import { evaluate } from '../lib/eval/evaluate';
import { Model } from '../lib/model/model';
import { Trainer } from '../lib/train/trainer';
import { encodeJpeg, picture, tempDir, writeImageFolder } from './fixtures';
import { trainRun } from './train-run';

const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const run = promisify(execFile);
const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const small = { name: 'small', inputSize: 28, inChannels: 3, embeddingSize: 16 } as const;
const images = (n: number, seed: number) => Float32Array.from({ length: n * 3 * 28 * 28 }, (_, i) => Math.sin(i * 0.37 + seed));
const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('Model', () => {
  it('embeds as the seeded backbone does; save and load give the same model; setState changes it', async () => {
    const model = await Model.create(small, { seed: 5 });
    const x = images(4, 1);
    const raw = (await model.embed(x, { flip: false, normalize: false })).data;
    expect(maxAbs(raw, await backboneForward(small, 5, x, 4))).toBe(0);
    expect(model.info).toMatchObject({
      input: { channels: 3, height: 28, width: 28 },
      embeddingSize: 16,
      preprocessing: { channelOrder: 'RGB', mean: 127.5, std: 128 },
    });

    const file = path.join(dir, 'saved', 'model.pt');
    fs.mkdirSync(path.dirname(file));
    await model.save(file);
    const loaded = await Model.load(file);
    expect(maxAbs((await loaded.embed(x, { flip: false, normalize: false })).data, raw)).toBe(0);

    const unit = await loaded.embed(x);
    for (let r = 0; r < 4; r++) expect(Math.hypot(...unit.data.subarray(r * 16, (r + 1) * 16))).toBeCloseTo(1, 5);
    const state = await loaded.state();
    const bias = state.find((e) => e.name === 'output_layer.4.bias');
    expect(bias?.shape).toEqual([16]);
    bias?.data.fill(3);
    await loaded.setState(state);
    expect(maxAbs((await loaded.embed(x, { flip: false, normalize: false })).data, raw)).toBeGreaterThan(1);
    model.dispose();
    loaded.dispose();
    await expect(loaded.embed(x)).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  it('refuses weights of another architecture and a missing model.json', async () => {
    const other = await Model.create({ ...small, embeddingSize: 8 });
    const file = path.join(dir, 'other.pt');
    await other.save(file);
    other.dispose();
    fs.writeFileSync(path.join(dir, 'other.json'), fs.readFileSync(path.join(dir, 'other.json'), 'utf8').replace('"embeddingSize": 8', '"embeddingSize": 16'));
    await expect(Model.load(file)).rejects.toMatchObject({ code: 'E_CONFIG', message: expect.stringMatching(/shape .*another config/) });
    fs.copyFileSync(file, path.join(dir, 'lonely.pt'));
    await expect(Model.load(path.join(dir, 'lonely.pt'))).rejects.toMatchObject({ code: 'E_IO', message: expect.stringContaining('lonely.json') });
  });
});

function snapshot(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of fs.readdirSync(folder))
    out[f] = createHash('sha256')
      .update(fs.readFileSync(path.join(folder, f)))
      .digest('hex');
  return out;
}

describe('a run folder on its own', () => {
  it('copied elsewhere, its training data deleted: Model.load, mvface embed (.npy, unit rows) and mvface eval work and change none of its files', async () => {
    const pictures = Array.from({ length: 16 }, (_, i) => picture(28, 28, 3, i, i % 4));
    const trainData = path.join(dir, 'train-faces');
    writeImageFolder(trainData, pictures, ['a', 'b', 'c', 'd'], () => 'png');
    const testData = path.join(dir, 'test-faces');
    writeImageFolder(testData, pictures, ['a', 'b', 'c', 'd'], () => 'jpg');
    const runsDir = path.join(dir, 'runs');
    await trainRun({
      name: 'r',
      runsDir,
      backbone: small,
      head: { type: 'mv-am', mode: 'fixed' },
      data: { kind: 'imagefolder', root: trainData },
      epochs: 1,
      batchSize: 8,
      workers: 1,
    });
    const moved = path.join(dir, 'elsewhere', 'r');
    fs.cpSync(path.join(runsDir, 'r'), moved, { recursive: true });
    fs.rmSync(runsDir, { recursive: true });
    fs.rmSync(trainData, { recursive: true });
    const before = snapshot(moved);

    const model = await Model.load(moved);
    expect(model.step).toBe(2);
    const e = await model.embed(images(3, 2));
    expect(e.count).toBe(3);
    model.dispose();

    const out = path.join(dir, 'emb');
    await run(process.execPath, [cli, 'embed', '--run', moved, '--data', `imagefolder:${testData}`, '--out', out]);
    const meta = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    const order = [0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15];
    expect(meta).toMatchObject({ count: 16, dim: 16, normalized: true, labels: order.map((i) => i % 4) });
    expect(meta.images).toEqual(order.map((i) => path.join('abcd'[i % 4], `${String(i).padStart(4, '0')}.jpg`)));
    const python = spawnSync(
      'python3',
      ['-c', `import numpy; a = numpy.load(${JSON.stringify(`${out}.npy`)}); print(a.dtype, a.shape, float(abs(numpy.linalg.norm(a, axis=1) - 1).max()))`],
      { encoding: 'utf8' },
    );
    if (python.status === 0) {
      const [dtype, rows, cols, err] = python.stdout.replace(/[(),]/g, ' ').trim().split(/\s+/);
      expect([dtype, rows, cols]).toEqual(['float32', '16', '16']);
      expect(Number(err)).toBeLessThan(1e-6);
    } else {
      console.log(`numpy is not installed here: the .npy file was not opened with numpy.load (${python.stderr.trim().split('\n').pop()})`);
    }

    await run(process.execPath, [cli, 'eval', '--run', moved, '--data', `imagefolder:${testData}`, '--pairs-count', '10']);
    const onnx = path.join(dir, 'r.onnx');
    await run(process.execPath, [cli, 'export', '--run', moved, '--onnx', onnx]);
    const session = await ort.InferenceSession.create(onnx);
    const x = images(2, 3);
    const got = (await session.run({ input: new ort.Tensor('float32', x, [2, 3, 28, 28]) })).embedding.data as Float32Array;
    const loaded = await Model.load(moved);
    expect(maxAbs(got, (await loaded.embed(x, { flip: false, normalize: false })).data)).toBeLessThan(1e-4);
    loaded.dispose();
    await session.release();
    const after = snapshot(moved);
    expect(Object.keys(after).sort()).toEqual([...Object.keys(before), 'eval.json'].sort());
    for (const [f, hash] of Object.entries(before)) expect(after[f], f).toBe(hash);
  }, 60_000);
});

describe('Trainer.model()', () => {
  it('hands over the backbone as it is: the same embeddings as the trainer, unchanged by later training', async () => {
    const trainer = await Trainer.create({
      name: 'handover',
      runsDir: path.join(dir, 'handover'),
      backbone: { ...small, inChannels: 1 },
      head: { type: 'mv-am', mode: 'fixed' },
      data: { kind: 'synthetic', classes: 4, perClass: 4, height: 28, width: 28, channels: 1, seed: 1 },
      epochs: 2,
      batchSize: 8,
      workers: 1,
    });
    const x = Float32Array.from({ length: 3 * 28 * 28 }, (_, i) => Math.cos(i * 0.1));
    try {
      const stop = new AbortController();
      await trainer.fit({ signal: stop.signal, onStep: (s) => s.step === 2 && stop.abort() });
      const model = await trainer.model();
      const before = (await model.embed(x, { flip: false, normalize: false })).data;
      // Raw embeddings of about 1e3 after two steps: the same forward pass, bit for bit.
      const scale = Math.max(...before.map(Math.abs));
      expect(maxAbs(before, await trainer.embed(x, 3))).toBe(0);
      await trainer.fit();
      expect(maxAbs((await model.embed(x, { flip: false, normalize: false })).data, before)).toBe(0);
      expect(maxAbs(before, await trainer.embed(x, 3))).toBeGreaterThan(1e-3 * scale);
      model.dispose();
    } finally {
      trainer.dispose();
    }
  });
});

describe('eval on whole images', () => {
  it('refuses images of another size than the model input (E_SHAPE) unless asked to resize', async () => {
    const model = await Model.create(small);
    const lfw = path.join(dir, 'lfw');
    for (const [name, i, seed] of [
      ['Ann', 1, 1],
      ['Ann', 2, 2],
      ['Bo', 1, 3],
    ] as const) {
      fs.mkdirSync(path.join(lfw, name), { recursive: true });
      fs.writeFileSync(path.join(lfw, name, `${name}_000${i}.jpg`), encodeJpeg(picture(60, 60, 3, seed)));
    }
    const pairs = path.join(dir, 'pairs.txt');
    fs.writeFileSync(pairs, 'Ann\t1\t2\nAnn\t1\tBo\t1\n'.repeat(5));
    const runDir = path.join(dir, 'model-run');
    fs.mkdirSync(runDir);
    await model.save(path.join(runDir, 'model.pt'));
    model.dispose();
    const sets = [{ kind: 'lfw', pairs, images: lfw } as const];
    await expect(evaluate({ run: runDir, sets, write: false })).rejects.toMatchObject({
      code: 'E_SHAPE',
      message: expect.stringMatching(/60 x 60, the model takes 28 x 28 .*--landmarks.*--resize/),
    });
    await expect(evaluate({ run: runDir, sets: [{ ...sets[0], resize: true }], write: false })).resolves.toMatchObject({ sets: [{ images: 3 }] });
    const landmarks = path.join(dir, 'landmarks.txt');
    const face = '20 25 40 25 30 35 22 45 38 45';
    fs.writeFileSync(landmarks, `# path x1 y1 ... x5 y5\nAnn/Ann_0001.jpg ${face}\nAnn/Ann_0002.jpg ${face}\n`);
    await expect(evaluate({ run: runDir, sets: [{ ...sets[0], landmarks }], write: false })).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringContaining('no landmarks for Bo/Bo_0001.jpg'),
    });
    fs.appendFileSync(landmarks, `Bo/Bo_0001.jpg ${face}\n`);
    await expect(evaluate({ run: runDir, sets: [{ ...sets[0], landmarks }], write: false })).resolves.toMatchObject({ sets: [{ images: 3 }] });
    await expect(Model.load(runDir).then((m) => m.embed([encodeJpeg(picture(60, 60, 3, 1))]))).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});
