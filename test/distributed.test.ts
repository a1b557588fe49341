import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { classShard } from '../lib/train/distributed';
import { freePort } from '../lib/cli/launch';
import { type HeadConfig, marginLoss } from '../lib/loss/margin-loss';
import { Random } from './random';
import { checkpointValues, torchPython } from './torch-python';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');

interface Problem {
  x: Float32Array;
  w: Float32Array;
  labels: Int32Array;
  B: number;
  C: number;
  D: number;
}

function problem(seed: number, B = 16, C = 37, D = 24): Problem {
  const rng = new Random(seed);
  return {
    x: Float32Array.from({ length: B * D }, () => rng.normal()),
    w: Float32Array.from({ length: C * D }, () => rng.normal()),
    labels: Int32Array.from({ length: B }, () => rng.int(C)),
    B,
    C,
    D,
  };
}

// Each rank: its half of the batch, its shard of the classes; writes its result as JSON.
const worker = `
const fs = require('fs');
const { ProcessGroup, classShard } = require('./dist/lib/train/distributed.js');
const [file, out] = process.argv.slice(1);
const p = JSON.parse(fs.readFileSync(file, 'utf8'));
(async () => {
  const g = ProcessGroup.join();
  const r = g.rank, n = g.worldSize, b = p.B / n, s = classShard(p.C, r, n);
  const x = { data: Float32Array.from(p.x.slice(r * b * p.D, (r + 1) * b * p.D)), rows: b, cols: p.D };
  const w = { data: Float32Array.from(p.w.slice(s.first * p.D, (s.first + s.count) * p.D)), rows: s.count, cols: p.D };
  const res = await g.shardedLoss(p.head, x, w, p.C, p.labels.slice(r * b, (r + 1) * b));
  fs.writeFileSync(out + r, JSON.stringify({ loss: res.loss, hard: res.hardFraction, gx: Array.from(res.gradEmbeddings), gw: Array.from(res.gradWeight) }));
  g.dispose();
})().catch((e) => { console.error(e); process.exit(1); });
`;

async function shardedRun(p: Problem, head: HeadConfig, world: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-dist-'));
  const file = path.join(dir, 'problem.json');
  fs.writeFileSync(file, JSON.stringify({ ...p, x: Array.from(p.x), w: Array.from(p.w), labels: Array.from(p.labels), head }));
  const port = await freePort();
  const env = (rank: number) => ({
    ...process.env,
    RANK: `${rank}`,
    WORLD_SIZE: `${world}`,
    LOCAL_RANK: `${rank}`,
    MASTER_ADDR: '127.0.0.1',
    MASTER_PORT: `${port}`,
    MVFACE_NUM_THREADS: '1',
  });
  await Promise.all(
    Array.from({ length: world }, (_, r) => run(process.execPath, ['-e', worker, file, path.join(dir, 'out')], { cwd: root, env: env(r), timeout: 60_000 })),
  );
  const results = Array.from({ length: world }, (_, r) => JSON.parse(fs.readFileSync(path.join(dir, `out${r}`), 'utf8')));
  fs.rmSync(dir, { recursive: true, force: true });
  return results as Array<{ loss: number; hard: number; gx: number[]; gw: number[] }>;
}

function expectRelative(a: ArrayLike<number>, b: ArrayLike<number>, tol: number) {
  expect(a.length).toBe(b.length);
  let scale = 1e-12;
  for (let i = 0; i < b.length; i++) scale = Math.max(scale, Math.abs(b[i]));
  for (let i = 0; i < b.length; i++) expect(Math.abs(a[i] - b[i]) / scale).toBeLessThan(tol);
}

describe('model-parallel head on Gloo over loopback, 2 processes', () => {
  const heads: HeadConfig[] = [
    { type: 'mv-arc', mode: 'adaptive' },
    { type: 'mv-am', mode: 'fixed', easyMargin: true },
    { type: 'arc' },
    { type: 'sphereface', lambda: 5 },
    { type: 'mv-arc', mining: { type: 'hm', ratio: 0.75 } },
  ];
  it.each(heads)(
    'sharded loss and gradients equal the single-process head: %j',
    async (head) => {
      const p = problem(JSON.stringify(head).length * 31 + 7);
      const full = marginLoss(head, { data: p.x, rows: p.B, cols: p.D }, { data: p.w, rows: p.C, cols: p.D }, p.labels);
      const ranks = await shardedRun(p, head, 2);
      for (const r of ranks) expect(Math.abs(r.loss - full.loss) / full.loss).toBeLessThan(1e-5);
      expect(ranks[0].hard).toBeCloseTo(full.hardFraction, 12);
      expectRelative([...ranks[0].gx, ...ranks[1].gx], full.gradEmbeddings, 1e-5);
      expectRelative([...ranks[0].gw, ...ranks[1].gw], full.gradWeight, 1e-5);
    },
    90_000,
  );

  it('splits classes into contiguous shards that cover them once', () => {
    const shards = [0, 1, 2].map((r) => classShard(10, r, 3));
    expect(shards).toEqual([
      { first: 0, count: 4 },
      { first: 4, count: 3 },
      { first: 7, count: 3 },
    ]);
  });
});

// Each rank trains 20 steps on its half of every global batch (with \`abort\`, that rank's signal
// aborts after its step abort.step); each writes its step losses and the embeddings of fixed images.
const dpWorker = `
const fs = require('fs');
const { ProcessGroup } = require('./dist/lib/train/distributed.js');
const { Trainer } = require('./dist/lib/train/trainer.js');
const [file, out] = process.argv.slice(1);
const { config, probe, abort } = JSON.parse(fs.readFileSync(file, 'utf8'));
(async () => {
  const group = ProcessGroup.join();
  const trainer = await Trainer.create(config, { processGroup: group });
  const losses = [];
  const controller = new AbortController();
  const onStep = (s) => {
    losses.push(s.loss);
    if (abort && abort.rank === group.rank && abort.step === s.step) controller.abort();
  };
  const fit = await trainer.fit({ signal: controller.signal, onStep });
  const embeddings = await trainer.embed(Float32Array.from(probe), probe.length / 784);
  fs.writeFileSync(out + group.rank, JSON.stringify({ losses, embeddings: Array.from(embeddings), steps: fit.steps, cancelled: fit.cancelled, files: fs.readdirSync(fit.runDir) }));
  trainer.dispose();
  group.dispose();
})().catch((e) => { console.error(e); process.exit(1); });
`;

/** The class weights ('head') saved in a checkpoint, through torch.load. */
const checkpointHead = (file: string) => checkpointValues(file, 'c["head"]');

describe('data-parallel training on Gloo over loopback, 2 processes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-dp-'));
  const config = {
    runsDir: dir,
    backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 32, norm: 'none' },
    head: { type: 'mv-am', mode: 'adaptive' },
    // 10 x 16 = 160 samples, global batch 16: 10 steps per epoch, 2 epochs; 10 classes over 2 ranks
    // and 7 over 2 (shards of 4 and 3, for the sharded head).
    data: { kind: 'synthetic', classes: 10, perClass: 16, height: 28, width: 28, channels: 1, seed: 5 },
    epochs: 2,
    batchSize: 8,
    optimizer: { lr: 0.01 },
    schedule: { type: 'constant' },
    seed: 3,
    workers: 1,
    device: 'cpu',
  } as const;
  const rng = new Random(11);
  const probe = Array.from({ length: 3 * 784 }, () => rng.normal());
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

  async function twoRanks(name: string, overrides: Record<string, unknown>, abort?: { rank: number; step: number }) {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ config: { ...config, ...overrides, name }, probe, abort }));
    const port = await freePort();
    const env = (rank: number) => ({
      ...process.env,
      RANK: `${rank}`,
      WORLD_SIZE: '2',
      LOCAL_RANK: `${rank}`,
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: `${port}`,
      MVFACE_NUM_THREADS: '1',
    });
    await Promise.all(
      [0, 1].map((r) => run(process.execPath, ['-e', dpWorker, file, path.join(dir, `${name}-out`)], { cwd: root, env: env(r), timeout: 120_000 })),
    );
    return [0, 1].map((r) => JSON.parse(fs.readFileSync(path.join(dir, `${name}-out${r}`), 'utf8'))) as Array<{
      losses: number[];
      embeddings: number[];
      steps: number;
      cancelled: boolean;
    }>;
  }

  async function oneProcess(name: string, overrides: Record<string, unknown>) {
    const { Trainer } = await import('../lib/train/trainer');
    const single = await Trainer.create({ ...config, ...overrides, name, batchSize: 16 } as never);
    const losses: number[] = [];
    await single.fit({ onStep: (s) => losses.push(s.loss) });
    const embeddings = Array.from(await single.embed(Float32Array.from(probe), 3));
    single.dispose();
    return { losses, embeddings };
  }

  it.each([
    ['replicated head', {}],
    ['sharded head', { shardHead: true }],
    ['sharded head, uneven shards', { shardHead: true, data: { ...config.data, classes: 7, perClass: 16 }, epochs: 3 }],
  ] as const)(
    'equals one process with the double batch (%s)',
    async (label, overrides) => {
      const name = label.replace(/[^a-z]+/g, '-');
      const ranks = await twoRanks(name, overrides);
      const single = await oneProcess(`${name}-single`, overrides);
      expect(single.losses.length).toBeGreaterThanOrEqual(20);
      for (const r of ranks) {
        expect(r.steps).toBe(single.losses.length);
        expectRelative(r.losses, single.losses, 1e-5);
        expectRelative(r.embeddings, single.embeddings, 1e-4);
      }
      // Training moved the model (the comparison is not between two untrained models).
      expect(mean(single.losses.slice(-5))).toBeLessThan(0.8 * mean(single.losses.slice(0, 5)));
      // Rank 0 alone writes the run folder; the checkpoint holds the whole head, gathered from the shards.
      expect(fs.readdirSync(path.join(dir, name))).toEqual(expect.arrayContaining(['checkpoint.pt', 'config.json', 'log.jsonl', 'model.pt']));
      if (torchPython) {
        expectRelative(checkpointHead(path.join(dir, name, 'checkpoint.pt')), checkpointHead(path.join(dir, `${name}-single`, 'checkpoint.pt')), 1e-4);
      }
    },
    180_000,
  );

  it('stops every rank after the same step when one rank is aborted (the flag travels with the step)', async () => {
    const ranks = await twoRanks('abort-one', {}, { rank: 1, step: 4 });
    // Rank 1's signal, set after step 4, goes with step 5; both ranks stop after it.
    for (const r of ranks) expect(r).toMatchObject({ cancelled: true, steps: 5 });
    expect(ranks.map((r) => r.losses.length)).toEqual([5, 5]);
    const meta = JSON.parse(fs.readFileSync(path.join(dir, 'abort-one', 'checkpoint.json'), 'utf8'));
    expect(meta.position.step).toBe(5);
  }, 120_000);
});

describe('joining a process group', () => {
  const join = (env: Record<string, string>) =>
    run(
      process.execPath,
      [
        '-e',
        `
      const { ProcessGroup } = require('./dist/lib/train/distributed.js');
      try {
        const g = ProcessGroup.join();
        console.log(JSON.stringify({ joined: true, rank: g.rank, worldSize: g.worldSize, localRank: g.localRank }));
        g.dispose();
      } catch (e) { console.log(JSON.stringify({ name: e.constructor.name, argument: e.argument, message: e.message })); }
    `,
      ],
      { cwd: root, env: { ...process.env, ...env }, timeout: 30_000 },
    );

  it('each rank knows its LOCAL_RANK (its GPU), which need not be its RANK', async () => {
    const port = await freePort();
    const base = { WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: `${port}` };
    const joined = await Promise.all([0, 1].map((r) => join({ ...base, RANK: `${r}`, LOCAL_RANK: `${1 - r}` })));
    expect(joined.map((j) => JSON.parse(j.stdout))).toEqual([
      { joined: true, rank: 0, worldSize: 2, localRank: 1 },
      { joined: true, rank: 1, worldSize: 2, localRank: 0 },
    ]);
  }, 40_000);

  it('a lone rank gives up after MVFACE_DIST_TIMEOUT with an IoError; a bad timeout is a ConfigError', async () => {
    const port = await freePort();
    const base = { WORLD_SIZE: '2', RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: `${port}` };
    const started = Date.now();
    const lone = JSON.parse((await join({ ...base, MVFACE_DIST_TIMEOUT: '2' })).stdout);
    expect(lone).toMatchObject({ name: 'IoError', argument: 'rendezvous' });
    expect(lone.message).toMatch(/rank 0 of 2 could not join/);
    expect(Date.now() - started).toBeLessThan(20_000);
    const bad = JSON.parse((await join({ ...base, MVFACE_DIST_TIMEOUT: '0' })).stdout);
    expect(bad).toMatchObject({ name: 'ConfigError', argument: 'MVFACE_DIST_TIMEOUT' });
  }, 40_000);

  it('refuses head options a process group cannot take: Partial FC, chunkClasses with shardHead', async () => {
    const script = `
      const { ProcessGroup } = require('./dist/lib/train/distributed.js');
      const { Trainer } = require('./dist/lib/train/trainer.js');
      const config = JSON.parse(process.argv[1]);
      (async () => {
        const group = ProcessGroup.join();
        const e = await Trainer.create(config, { processGroup: group }).then(() => ({ name: 'none' }), (x) => x);
        console.log(JSON.stringify({ name: e.constructor.name, argument: e.argument, message: e.message }));
        group.dispose();
      })();`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-dp-refuse-'));
    const base = {
      runsDir: dir,
      backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 16 },
      head: { type: 'mv-am' },
      data: { kind: 'synthetic', classes: 10, perClass: 4, height: 28, width: 28, channels: 1 },
      epochs: 1,
      batchSize: 8,
      device: 'cpu',
      workers: 1,
    };
    for (const [name, over, argument] of [
      ['pfc', { sampleRate: 0.5 }, 'sampleRate'],
      ['chunk', { shardHead: true, chunkClasses: 4 }, 'chunkClasses'],
    ] as const) {
      const env = { ...process.env, WORLD_SIZE: '1', RANK: '0', LOCAL_RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: `${await freePort()}` };
      const { stdout } = await run(process.execPath, ['-e', script, JSON.stringify({ ...base, ...over, name })], { cwd: root, env, timeout: 30_000 });
      expect(JSON.parse(stdout)).toMatchObject({ name: 'ConfigError', argument });
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
