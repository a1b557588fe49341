/**
 * Bad inputs a new user tried, replayed: each one must give a coded error that says what to do, or
 * the right outcome, and never train silently on something else. (Detaching or writing the inputs of
 * a pending asynchronous call is the table in native-buffers.test.ts, where each case runs in a child
 * process so that a crash fails the case rather than ending the runner.)
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { program } from '../lib/cli/main';
import { demoTrainer } from '../lib/experiments/demo';
import { marginLoss, resolveHeadConfig } from '../lib/loss/margin-loss';
import { type TrainConfig, Trainer } from '../lib/train/trainer';
import { picture, writeIdx, writeImageFolder } from './fixtures';
import { fitRun, tinyRun, tinyTrainFlags } from './small-runs';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bad-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const tiny = (name: string) => tinyRun(name, dir);
const train = fitRun;

/** The CLI, in this process: what it throws is what `mvface` prints as "mvface: <message> [<code>]". */
const cli = (...args: string[]) =>
  program()
    .exitOverride()
    .parseAsync(['node', 'mvface', ...args]);
const trainFlags = (name: string) => [
  'train',
  '--name',
  name,
  '--runs-dir',
  dir,
  ...tinyTrainFlags,
  '--data',
  'synthetic:classes=4,perClass=4,size=28,channels=1,seed=1',
];
const withConfig = (name: string, edit: (c: Record<string, unknown>) => void) => {
  const c = JSON.parse(JSON.stringify(tiny(name))) as Record<string, unknown>;
  edit(c);
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(c));
  return cli('train', '--config', file);
};

const x = { data: new Float32Array(4 * 8).fill(0.5), rows: 4, cols: 8 };
const w = { data: Float32Array.from({ length: 10 * 8 }, (_, i) => Math.sin(i)), rows: 10, cols: 8 };
const labels = Int32Array.from([0, 1, 2, 3]);

const errors: Array<[string, () => Promise<unknown>, string, RegExp]> = [
  ['--batch-size 0', () => cli(...trainFlags('b0'), '--epochs', '1', '--batch-size', '0'), 'E_CONFIG', /batchSize: must be an integer in \[1/],
  ['--lr 0', () => cli(...trainFlags('lr0'), '--epochs', '1', '--lr', '0'), 'E_CONFIG', /lr: must be a finite number > 0/],
  ['--workers 0', () => cli(...trainFlags('w0'), '--epochs', '1', '--workers', '0'), 'E_CONFIG', /workers: must be an integer in \[1/],
  ['--epochs 0', () => cli(...trainFlags('e0'), '--epochs', '0'), 'E_CONFIG', /epochs: must be an integer >= 1/],
  ['config key batch_size', () => withConfig('k1', (c) => (c.batch_size = 64)), 'E_CONFIG', /unknown key 'batch_size'; did you mean 'batchSize'/],
  ['config key learningRate', () => withConfig('k2', (c) => (c.learningRate = 0.01)), 'E_CONFIG', /config: unknown key 'learningRate'/],
  [
    'config key backbone.embedingSize',
    () => withConfig('k3', (c) => ((c.backbone as Record<string, unknown>).embedingSize = 64)),
    'E_CONFIG',
    /backbone: unknown key 'embedingSize'; did you mean 'embeddingSize'/,
  ],
  [
    'config key head.margn',
    () => withConfig('k4', (c) => ((c.head as Record<string, unknown>).margn = 0.2)),
    'E_CONFIG',
    /head: unknown key 'margn'; did you mean 'margin'/,
  ],
  [
    'marginLoss head key margn',
    async () => marginLoss({ type: 'am', margn: 0.2 } as never, x, w, labels),
    'E_CONFIG',
    /unknown key 'margn'; did you mean 'margin'/,
  ],
  [
    'marginLoss option key chunkClases',
    async () => marginLoss({ type: 'am' }, x, w, labels, { chunkClases: 4 } as never),
    'E_CONFIG',
    /unknown key 'chunkClases'; did you mean 'chunkClasses'/,
  ],
  [
    'embed --out into a missing folder',
    () =>
      cli(
        'embed',
        '--run',
        path.join(dir, 'done'),
        '--data',
        'synthetic:classes=4,perClass=4,size=28,channels=1,seed=1',
        '--out',
        path.join(dir, 'missing', 'x'),
      ),
    'E_IO',
    /missing does not exist/,
  ],
  ['train again on a run name without --resume', () => train(tiny('done')), 'E_CONFIG', /already holds a run.*--resume.*--overwrite/],
];

describe('bad inputs', () => {
  it.each(errors)('%s: a coded error', async (_input, act, code, message) => {
    if (!fs.existsSync(path.join(dir, 'done', 'model.pt'))) await train(tiny('done'));
    await expect(act()).rejects.toMatchObject({ code, message: expect.stringMatching(message) });
  });

  it('a second process on a run folder: refused while its holder lives', async () => {
    const holder = spawn('sleep', ['30']);
    fs.mkdirSync(path.join(dir, 'held'));
    fs.writeFileSync(path.join(dir, 'held', 'lock'), JSON.stringify({ pid: holder.pid, host: os.hostname() }));
    try {
      await expect(Trainer.create(tiny('held'))).rejects.toMatchObject({
        code: 'E_CONFIG',
        message: expect.stringContaining(`in use by process ${holder.pid}`),
      });
    } finally {
      holder.kill();
    }
  });

  it('a corrupt JPEG: stops naming the file and --on-corrupt skip', async () => {
    const files = writeImageFolder(
      path.join(dir, 'faces'),
      Array.from({ length: 16 }, (_, i) => picture(28, 28, 1, i, i % 4)),
      ['a', 'b', 'c', 'd'],
      () => 'jpg',
    );
    fs.writeFileSync(files[3], fs.readFileSync(files[3]).subarray(0, 200));
    const faces = { ...tiny('corrupt'), data: { kind: 'imagefolder', root: path.join(dir, 'faces'), channels: 1 } } as TrainConfig;
    await expect(train(faces)).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringMatching(new RegExp(`${path.basename(files[3])}.*--on-corrupt skip`)),
    });
  });
});

describe('inputs that were accepted silently: the right outcome', () => {
  it('one stray label of 200 in a 10-class IDX set: a warning naming the empty classes', async () => {
    const pictures = Array.from({ length: 20 }, (_, i) => picture(28, 28, 1, i, i === 7 ? 200 : i % 10));
    const files = writeIdx(fs.mkdtempSync(path.join(dir, 'idx-')), pictures, false);
    const warnings: Error[] = [];
    const listen = (e: Error) => warnings.push(e);
    process.on('warning', listen);
    try {
      (await Trainer.create({ ...tiny('stray'), data: { kind: 'idx', ...files } })).dispose();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings).toContainEqual(expect.objectContaining({ code: 'MVFACE_LABEL_GAPS', message: expect.stringContaining('190 of its 201 classes') }));
  });

  it("the combined margin's defaults are the documented m1 1, m2 0.3, m3 0.2 (the native side has none of its own)", () => {
    expect(resolveHeadConfig({ type: 'combined' })).toMatchObject({ m1: 1, m2: 0.3, m3: 0.2 });
  });

  it('a relative runsDir is stored absolute in config.json', async () => {
    const relative = path.relative(process.cwd(), path.join(dir, 'relative'));
    (await Trainer.create({ ...tiny('rel'), runsDir: relative })).dispose();
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'relative', 'rel', 'config.json'), 'utf8'));
    expect(saved.runsDir).toBe(path.join(dir, 'relative'));
  });

  it('the demo keeps an earlier run: resumes it with the same config, else takes a fresh name', async () => {
    const demo = { ...tiny('demo'), runsDir: path.join(dir, 'demos') };
    const first = await demoTrainer(demo);
    await first.fit();
    first.dispose();
    const again = await demoTrainer(demo);
    expect([again.paths.dir, again.step]).toEqual([path.join(dir, 'demos', 'demo'), 2]);
    again.dispose();
    const other = await demoTrainer({ ...demo, seed: 5 });
    expect(other.paths.dir).toBe(path.join(dir, 'demos', 'demo-2'));
    other.dispose();
    expect(fs.existsSync(path.join(dir, 'demos', 'demo', 'model.pt'))).toBe(true);
  });
});
