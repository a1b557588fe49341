import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { type TrainConfig, Trainer } from '../lib/train/trainer';
import { picture, writeImageFolder } from './fixtures';
import { fitRun, tinyRun, tinyTrainFlags } from './small-runs';

const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-runs-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const config = (name: string) => tinyRun(name, dir);
const train = fitRun;

describe('run folders', () => {
  it('refuse a second run on the same name unless told to resume or overwrite', async () => {
    await train(config('again'));
    const log = path.join(dir, 'again', 'log.jsonl');
    const before = fs.readFileSync(log, 'utf8');
    await expect(train(config('again'))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringMatching(/already holds a run.*--resume.*--overwrite/),
    });
    expect(fs.readFileSync(log, 'utf8')).toBe(before);
    await train(config('again'), { overwrite: true });
    const after = fs.readFileSync(log, 'utf8');
    expect(after.split('\n').filter((l) => l.includes('"event":"step"'))).toHaveLength(2);
    expect(after).not.toBe(before);
  });

  it("are locked while a process uses them; a dead holder's lock is taken over", async () => {
    const folder = path.join(dir, 'locked');
    fs.mkdirSync(folder);
    const holder = spawn('sleep', ['30']);
    fs.writeFileSync(path.join(folder, 'lock'), JSON.stringify({ pid: holder.pid, host: os.hostname() }));
    await expect(Trainer.create(config('locked'))).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining(`in use by process ${holder.pid}`),
    });
    holder.kill();
    await new Promise((resolve) => holder.on('exit', resolve));
    const trainer = await Trainer.create(config('locked'));
    expect(JSON.parse(fs.readFileSync(path.join(folder, 'lock'), 'utf8')).pid).toBe(process.pid);
    await expect(Trainer.create(config('locked'), { resume: true })).rejects.toMatchObject({
      code: 'E_CONFIG',
      message: expect.stringContaining(`in use by process ${process.pid}`),
    });
    trainer.dispose();
    expect(fs.existsSync(path.join(folder, 'lock'))).toBe(false);
  });

  it('store absolute paths: --config ... --resume works from another working folder', async () => {
    const cwd = fs.mkdtempSync(path.join(dir, 'cwd-'));
    const args = [
      'train',
      '--name',
      'moved',
      '--runs-dir',
      'relative-runs',
      ...tinyTrainFlags,
      '--mode',
      'fixed',
      '--data',
      'synthetic:classes=4,perClass=4,size=28,channels=1,seed=1',
      '--epochs',
      '1',
    ];
    await run(process.execPath, [cli, ...args], { cwd });
    const configFile = path.join(cwd, 'relative-runs', 'moved', 'config.json');
    expect(JSON.parse(fs.readFileSync(configFile, 'utf8')).runsDir).toBe(path.join(cwd, 'relative-runs'));
    const { stdout } = await run(process.execPath, [cli, 'train', '--config', configFile, '--resume', '--epochs', '1'], { cwd: os.tmpdir() });
    expect(JSON.parse(stdout)).toMatchObject({ cancelled: false, steps: 2 });
  });
});

describe('corrupt images', () => {
  it('stop training with the file named and the way to skip; skipped, they are counted in the log', async () => {
    const root = path.join(dir, 'faces');
    const files = writeImageFolder(
      root,
      Array.from({ length: 16 }, (_, i) => picture(28, 28, 1, i, i % 4)),
      ['a', 'b', 'c', 'd'],
      () => 'jpg',
    );
    fs.writeFileSync(files[5], fs.readFileSync(files[5]).subarray(0, 300));
    const faces = { ...config('corrupt'), data: { kind: 'imagefolder', root, channels: 1 } } as TrainConfig;
    await expect(train(faces)).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringMatching(new RegExp(`${path.basename(files[5])}.*--on-corrupt skip`)),
    });
    await train({ ...faces, onCorrupt: 'skip' }, { overwrite: true });
    const steps = fs
      .readFileSync(path.join(dir, 'corrupt', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === 'step');
    expect(steps.reduce((n, l) => n + l.skipped, 0)).toBe(1);
    const skipped = fs
      .readFileSync(path.join(dir, 'corrupt', 'log.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.event === 'skipped');
    expect(skipped.flatMap((l) => l.items)).toEqual([files[5]]);
  });
});

describe('the CLI', () => {
  const base = ['train', '--runs-dir', dir, ...tinyTrainFlags, '--mode', 'fixed', '--data', 'synthetic:classes=5,perClass=8,size=28,channels=1,seed=2'];

  it('has a flag for the optimizer, the schedule, warm-up and evaluation during training, and they reach config.json', async () => {
    await run(process.execPath, [
      cli,
      ...base,
      '--epochs',
      '1',
      '--name',
      'flags',
      '--momentum',
      '0.8',
      '--weight-decay',
      '0',
      '--schedule',
      'multistep',
      '--milestones',
      '1,2',
      '--gamma',
      '0.5',
      '--warmup-epochs',
      '0',
      '--checkpoint-every-minutes',
      '0',
      '--dropout',
      '0.1',
      '--norm',
      'none',
      '--num-classes',
      '5',
      '--no-flip',
      '--no-loss-scale',
      '--head-option',
      't=0.3',
      'scale=16',
    ]);
    const saved = JSON.parse(fs.readFileSync(path.join(dir, 'flags', 'config.json'), 'utf8'));
    expect(saved).toMatchObject({
      optimizer: { momentum: 0.8, weightDecay: 0 },
      schedule: { type: 'multistep', milestones: [1, 2], gamma: 0.5 },
      warmupEpochs: 0,
      checkpointEveryMinutes: 0,
      backbone: { dropout: 0.1, norm: 'none' },
      numClasses: 5,
      flip: false,
      lossScale: false,
      head: { type: 'mv-am', mode: 'fixed', t: 0.3, scale: 16 },
    });
    const typo = spawnSync(process.execPath, [cli, ...base, '--epochs', '1', '--name', 'flags3', '--head-option', 'margn=0.2'], { encoding: 'utf8' });
    expect([typo.status, typo.stderr]).toEqual([1, expect.stringContaining("head: unknown key 'margn'; did you mean 'margin'?")]);
    const r = spawnSync(process.execPath, [cli, ...base, '--epochs', '1', '--name', 'flags2', '--eval-every', '2'], { encoding: 'utf8' });
    expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('--eval-every and --eval-bin go together')]);
  });

  it('mvface embed into a folder that does not exist: a coded error, no stack', async () => {
    const r = spawnSync(
      process.execPath,
      [
        cli,
        'embed',
        '--run',
        path.join(dir, 'flags'),
        '--data',
        'synthetic:classes=5,perClass=8,size=28,channels=1,seed=2',
        '--out',
        path.join(dir, 'missing', 'dir', 'x'),
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the folder .*missing.dir does not exist \[E_IO\]/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('SIGTERM stops after the step, writes a checkpoint, exits 143 and names the resume command', async () => {
    const child = spawn(process.execPath, [cli, ...base, '--epochs', '60', '--name', 'term'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const log = path.join(dir, 'term', 'log.jsonl');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"event":"step"')) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(143);
    const position = JSON.parse(fs.readFileSync(path.join(dir, 'term', 'checkpoint.json'), 'utf8')).position;
    const steps = fs
      .readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((r) => r.event === 'step');
    // The checkpoint is at the step the signal interrupted: the last one logged.
    expect(position.step).toBeGreaterThan(0);
    expect(position.step).toBe(steps.at(-1).step);
    expect(stderr).toContain('--resume');
    expect(fs.existsSync(path.join(dir, 'term', 'lock'))).toBe(false);
  }, 60_000);
});
