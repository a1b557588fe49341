import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BackboneConfig } from '../lib/model/backbones';
import { ConfigError, IoError, NonFiniteError } from '../lib/errors';
import { type Device, resolveDevice, Trainer } from '../lib/train/trainer';
import { twinEmbeddings } from './torch-python';
import { configMaker, trainRun } from './train-run';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-trainer-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

const small: BackboneConfig = { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 32 };
const tiny = configMaker('run', {
  runsDir,
  backbone: small,
  head: { type: 'mv-arc', mode: 'adaptive' },
  data: { kind: 'synthetic', classes: 6, perClass: 8, height: 28, width: 28, channels: 1, seed: 5 },
  epochs: 3,
  batchSize: 16,
  optimizer: { lr: 0.05 },
  seed: 11,
  workers: 2,
});

const losses = trainRun;

describe('Trainer', () => {
  it('is deterministic for a seed, and another seed changes it', async () => {
    const a = await losses(tiny({ name: 'det-a' }));
    const b = await losses(tiny({ name: 'det-b' }));
    const c = await losses(tiny({ name: 'det-c', seed: 12 }));
    expect(a.steps.map((s) => s.loss)).toEqual(b.steps.map((s) => s.loss));
    expect(c.steps.map((s) => s.loss)).not.toEqual(a.steps.map((s) => s.loss));
    expect(a.steps.length).toBe(9);
  });

  it('cancels through the AbortSignal with a checkpoint, and resume continues exactly', async () => {
    const straight = await losses(tiny({ name: 'straight' }));
    const first = await losses(tiny({ name: 'resumed' }), { abortAt: 4 });
    expect(first.cancelled).toBe(true);
    expect(fs.existsSync(path.join(runsDir, 'resumed', 'checkpoint.pt'))).toBe(true);
    const rest = await losses(tiny({ name: 'resumed' }), { resume: true });
    expect(rest.cancelled).toBe(false);
    expect([...first.steps, ...rest.steps].map((s) => [s.step, s.loss])).toEqual(straight.steps.map((s) => [s.step, s.loss]));
  });

  it('after a kill past its checkpoint, resume logs a resumed record, no step twice, and whole-epoch means', async () => {
    const straight = await Trainer.create(tiny({ name: 'straight-log', checkpointEverySteps: 2 }));
    const means: number[] = [];
    await straight.fit({ onEpoch: (e) => means.push(e.meanLoss) });
    straight.dispose();
    // Killed after logging step 5, its last checkpoint at step 4: the checkpoint of step 4 put back.
    const dir = path.join(runsDir, 'killed');
    const stop = new AbortController();
    const trainer = await Trainer.create(tiny({ name: 'killed', checkpointEverySteps: 2 }));
    await trainer.fit({
      signal: stop.signal,
      onStep: (s) => {
        if (s.step !== 5) return;
        for (const f of ['checkpoint.pt', 'checkpoint.json']) fs.copyFileSync(path.join(dir, f), path.join(dir, `${f}.at4`));
        stop.abort();
      },
    });
    trainer.dispose();
    for (const f of ['checkpoint.pt', 'checkpoint.json']) fs.renameSync(path.join(dir, `${f}.at4`), path.join(dir, f));
    const resumed = await Trainer.create(tiny({ name: 'killed', checkpointEverySteps: 2 }), { resume: true });
    const resumedMeans: number[] = [];
    await resumed.fit({ onEpoch: (e) => resumedMeans.push(e.meanLoss) });
    resumed.dispose();
    const log = fs
      .readFileSync(path.join(dir, 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.filter((l) => l.event === 'step').map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(log.filter((l) => l.event === 'resumed')).toMatchObject([{ step: 4 }]);
    expect(log.filter((l) => l.event === 'epoch').map((l) => l.meanLoss)).toEqual(means);
    expect(resumedMeans).toEqual(means.slice(1));
  });

  it('lowers the loss and learns the synthetic identities (closed-set accuracy)', async () => {
    const data = { kind: 'synthetic', classes: 6, perClass: 16, height: 28, width: 28, channels: 1, seed: 5 } as const;
    const trainer = await Trainer.create(tiny({ name: 'learns', epochs: 6, data, evalData: data }));
    const seen: number[] = [];
    const r = await trainer.fit({ onEpoch: (e) => seen.push(e.meanLoss) });
    trainer.dispose();
    expect(seen[seen.length - 1]).toBeLessThan(seen[0] * 0.5);
    expect(r.closedSetAccuracy).toBeGreaterThan(0.8);
    const log = fs
      .readFileSync(path.join(runsDir, 'learns', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(log.filter((l) => l.event === 'step')).toHaveLength(36);
    expect(log.filter((l) => l.event === 'epoch')).toHaveLength(6);
    expect(fs.existsSync(path.join(runsDir, 'learns', 'model.pt'))).toBe(true);
  });

  it('refuses a checkpoint from another config', async () => {
    await losses(tiny({ name: 'other', epochs: 1 }));
    await expect(Trainer.create(tiny({ name: 'other', epochs: 1, head: { type: 'am' } }), { resume: true })).rejects.toBeInstanceOf(ConfigError);
    await expect(Trainer.create(tiny({ name: 'nothing-here' }), { resume: true })).rejects.toBeInstanceOf(IoError);
  });

  it('stops on a diverging loss and says where the last good checkpoint is', async () => {
    const trainer = await Trainer.create(tiny({ name: 'diverge', optimizer: { lr: 1e30 }, checkpointEverySteps: 1 }));
    const err = await trainer.fit().catch((e: unknown) => e);
    trainer.dispose();
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/last good checkpoint is .*checkpoint\.pt \(step \d+\)|no checkpoint was written yet/);
  });

  it('checks the config against the data', async () => {
    await expect(Trainer.create(tiny({ backbone: { ...small, inputSize: 32 } }))).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'backbone' });
    await expect(Trainer.create(tiny({ data: { kind: 'idx', images: '/nonexistent/images', labels: '/nonexistent/labels' } }))).rejects.toMatchObject({
      code: 'E_IO',
    });
    await expect(Trainer.create(tiny({ batchSize: 1000 }))).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(Trainer.create(tiny({ numClasses: 7 }))).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'numClasses' });
    await expect(Trainer.create(tiny({ device: 'cuda' }))).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'device' });
    await expect(Trainer.create(tiny({ device: 'cuda:0' }))).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'device' });
    await expect(Trainer.create(tiny({ device: 'gpu' as never }))).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'device' });
  });

  it("resolves the device: auto, each rank's own GPU, cuda:N, and refuses a GPU that is not there", () => {
    expect(resolveDevice('auto', 0)).toBe('cpu');
    expect(resolveDevice('cpu', 4, 3)).toBe('cpu');
    expect(resolveDevice('auto', 2)).toBe('cuda:0');
    expect(resolveDevice('auto', 2, 1)).toBe('cuda:1');
    expect(resolveDevice('cuda', 4, 3)).toBe('cuda:3');
    expect(resolveDevice('cuda:1', 2, 0)).toBe('cuda:1');
    expect(resolveDevice('cuda', 0)).toBe('cuda'); // no GPU at all: the native trainer says why
    for (const [device, count, localRank, message] of [
      ['cuda', 1, 1, /LOCAL_RANK 1 \(one process per GPU\).*1 CUDA device/],
      ['cuda:2', 2, undefined, /'cuda:2'.*2 CUDA device/],
      ['cuda:x', 2, undefined, /must be 'cpu', 'cuda', 'cuda:N' or 'auto'/],
    ] as const) {
      const e = (() => {
        try {
          resolveDevice(device as Device, count, localRank);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toMatchObject({ code: 'E_CONFIG', argument: 'device' });
      expect((e as Error).message).toMatch(message);
    }
  });
});

describe('one training step lowers the loss on a fixed batch, for every backbone', () => {
  const cases: Array<[string, BackboneConfig]> = [
    ['small 28x28x1', small],
    ['small 32x32x3', { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 32 }],
    ['mobilefacenet 112', { name: 'mobilefacenet', embeddingSize: 128 }],
    ['iresnet18 112', { name: 'iresnet18', embeddingSize: 128 }],
    ['iresnet34 ir_se 32', { name: 'iresnet34', inputSize: 32, block: 'ir_se', embeddingSize: 128 }],
    ['iresnet50 32', { name: 'iresnet50', inputSize: 32, embeddingSize: 128 }],
    ['iresnet100 32', { name: 'iresnet100', inputSize: 32, embeddingSize: 128 }],
    ['attention56 64', { name: 'attention56', inputSize: 64, embeddingSize: 128 }],
  ];
  it.each(cases)(
    '%s',
    async (_, backbone) => {
      const size = backbone.inputSize ?? (backbone.name === 'small' ? 28 : 112);
      const channels = backbone.inChannels ?? (backbone.name === 'small' ? 1 : 3);
      const trainer = await Trainer.create(
        tiny({
          name: `fixed-${backbone.name}-${size}`,
          backbone,
          head: { type: 'mv-am' },
          epochs: 2,
          batchSize: 6,
          flip: false,
          optimizer: { lr: 0.001 },
          schedule: { type: 'constant' },
          data: { kind: 'synthetic', classes: 3, perClass: 2, height: size, width: size, channels: channels as 1 | 3, seed: 9 },
        }),
      );
      const seen: number[] = [];
      await trainer.fit({ onStep: (s) => seen.push(s.loss) });
      trainer.dispose();
      expect(seen).toHaveLength(2);
      expect(seen[1]).toBeLessThan(seen[0]);
    },
    120_000,
  );
});

describe('exported model', () => {
  it('loads into the PyTorch twin and gives the same embeddings', async () => {
    const trainer = await Trainer.create(tiny({ name: 'export', epochs: 1 }));
    await trainer.fit();
    const n = 3;
    const images = Float32Array.from({ length: n * 28 * 28 }, (_, i) => Math.sin(i * 0.37));
    const ours = await trainer.embed(images, n);
    const file = await trainer.exportModel(path.join(runsDir, 'export', 'model.pt'));
    const theirs = twinEmbeddings(file, images, n);
    trainer.dispose();
    expect(theirs).toHaveLength(ours.length);
    const scale = Math.max(...Array.from(ours, Math.abs));
    for (let i = 0; i < ours.length; i++) expect(Math.abs(theirs[i] - ours[i])).toBeLessThan(1e-4 * scale);
  });
});
