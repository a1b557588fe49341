import { execFile, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

import { tinyTrainFlags } from './small-runs';
const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-cli-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));
const run = promisify(execFile);

const data = 'synthetic:classes=5,perClass=8,size=28,channels=1,seed=2';
const trainArgs = (name: string, epochs: number) => [
  cli,
  'train',
  '--name',
  name,
  '--runs-dir',
  runsDir,
  ...tinyTrainFlags,
  '--mode',
  'fixed',
  '--data',
  data,
  '--epochs',
  String(epochs),
  '--lr',
  '0.05',
];

describe('mvface CLI', () => {
  it('--help lists the commands', async () => {
    const { stdout } = await run(process.execPath, [cli, '--help']);
    for (const c of ['train', 'embed', 'info', 'demo']) expect(stdout).toContain(c);
  });

  it('info prints the backend', async () => {
    const { stdout } = await run(process.execPath, [cli, 'info']);
    expect(JSON.parse(stdout)).toMatchObject({ libtorchVersion: expect.stringMatching(/^\d+\.\d+/), threads: expect.any(Number) });
  });

  it('train writes a run folder and embed reads it back', async () => {
    const { stdout } = await run(process.execPath, trainArgs('r1', 2));
    expect(JSON.parse(stdout)).toMatchObject({ cancelled: false, steps: 10, epochs: 2 });
    for (const f of ['config.json', 'log.jsonl', 'checkpoint.pt', 'checkpoint.json', 'model.pt', 'model.json']) {
      expect(fs.existsSync(path.join(runsDir, 'r1', f)), f).toBe(true);
    }
    const out = path.join(runsDir, 'emb');
    await run(process.execPath, [cli, 'embed', '--run', path.join(runsDir, 'r1'), '--data', data, '--out', out]);
    const meta = JSON.parse(fs.readFileSync(`${out}.json`, 'utf8'));
    expect(meta).toMatchObject({ count: 40, dim: 16 });
    expect(fs.statSync(`${out}.npy`).size).toBe(128 + 40 * 16 * 4);
  });

  /** Starts a 60-epoch run, sends Ctrl-C after its first step, and checks the exit code and the checkpoint. */
  async function interruptRun(name: string, extra: string[]): Promise<void> {
    const child = spawn(process.execPath, [...trainArgs(name, 60), ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    const log = path.join(runsDir, name, 'log.jsonl');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"event":"step"')) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    const saved = JSON.parse(fs.readFileSync(path.join(runsDir, name, 'checkpoint.json'), 'utf8'));
    expect(saved.position.step).toBeGreaterThan(0);
    expect(saved.position.step).toBeLessThan(300);
  }

  it('Ctrl-C writes a checkpoint and exits 130; --resume finishes the run', async () => {
    await interruptRun('r2', []);
    const { stdout } = await run(process.execPath, [cli, 'train', '--config', path.join(runsDir, 'r2', 'config.json'), '--resume']);
    expect(JSON.parse(stdout)).toMatchObject({ cancelled: false, steps: 300, epochs: 60 });
  }, 60_000);

  it('train --nproc 2 trains data parallel: half the steps, one run folder; Ctrl-C stops both ranks, --resume continues', async () => {
    const { stdout } = await run(process.execPath, [...trainArgs('dp', 2), '--batch-size', '4', '--nproc', '2']);
    // 40 samples, global batch 2 x 4: 5 steps per epoch.
    expect(JSON.parse(stdout)).toMatchObject({ cancelled: false, steps: 10, epochs: 2 });
    expect(
      fs
        .readFileSync(path.join(runsDir, 'dp', 'log.jsonl'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('"event":"step"')),
    ).toHaveLength(10);

    // 40 samples, global batch 8: 5 steps per epoch, 300 in all.
    await interruptRun('dp2', ['--batch-size', '4', '--nproc', '2']);
    const alone = await run(process.execPath, [cli, 'train', '--config', path.join(runsDir, 'dp2', 'config.json'), '--resume']).catch((e) => e);
    expect(alone.code).toBe(1);
    expect(alone.stderr).toMatch(/written by 2 process\(es\).*--nproc 2.*\[E_CONFIG\]/);
    const resumed = await run(process.execPath, [cli, 'train', '--config', path.join(runsDir, 'dp2', 'config.json'), '--resume', '--nproc', '2']);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ cancelled: false, steps: 300, epochs: 60 });
  }, 120_000);

  it('--nproc: a rank that fails stops the run with its exit code and message', async () => {
    const args = trainArgs('dpfail', 1).map((a) => (a === data ? `imagefolder:${path.join(runsDir, 'no-such-folder')}` : a));
    const err = await run(process.execPath, [...args, '--nproc', '2'], { timeout: 60_000 }).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/no-such-folder.*\[E_IO\]/);
    expect(err.stderr).toMatch(/rank \d exited with 1/);
  }, 60_000);

  it('--nproc: ranks stop when the launcher is killed outright', async () => {
    const launcher = spawn(process.execPath, [...trainArgs('orphans', 5000), '--batch-size', '4', '--nproc', '2'], { stdio: 'ignore' });
    const log = path.join(runsDir, 'orphans', 'log.jsonl');
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        if (fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"event":"step"')) {
          clearInterval(poll);
          resolve();
        }
      }, 50);
    });
    const ranks = spawnSync('pgrep', ['-P', String(launcher.pid)], { encoding: 'utf8' })
      .stdout.trim()
      .split('\n')
      .map(Number);
    expect(ranks).toHaveLength(2);
    launcher.kill('SIGKILL');
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    const deadline = Date.now() + 15_000;
    while (ranks.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(ranks.filter(alive)).toEqual([]);
  }, 60_000);

  it('--nproc must be a positive integer', async () => {
    const err = await run(process.execPath, [...trainArgs('bad', 1), '--nproc', '0']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/nproc.*\[E_CONFIG\]/);
  });

  it('--channels-last, --fused-norm / --no-fused-norm, --no-cudnn-benchmark, --sample-rate and --chunk-classes reach the run config; --cuda-graph is refused on the CPU with the reason', async () => {
    await run(process.execPath, [
      ...trainArgs('nhwc', 1),
      '--channels-last',
      '--fused-norm',
      '--no-cudnn-benchmark',
      '--device',
      'cpu',
      '--sample-rate',
      '0.5',
      '--chunk-classes',
      '3',
    ]);
    expect(JSON.parse(fs.readFileSync(path.join(runsDir, 'nhwc', 'config.json'), 'utf8'))).toMatchObject({
      channelsLast: true,
      fusedNorm: true,
      cudnnBenchmark: false,
      sampleRate: 0.5,
      chunkClasses: 3,
    });
    await run(process.execPath, [...trainArgs('modules', 1), '--no-fused-norm', '--device', 'cpu']);
    expect(JSON.parse(fs.readFileSync(path.join(runsDir, 'modules', 'config.json'), 'utf8'))).toMatchObject({ fusedNorm: false });
    const err = await run(process.execPath, [...trainArgs('graph', 1), '--cuda-graph', '--device', 'cpu']).catch((e) => e);
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/cudaGraph: CUDA graphs need device 'cuda'.*\[E_CONFIG\]/);
  });

  it('bad arguments give a readable error and exit code 1', async () => {
    const err = await run(process.execPath, [cli, 'train', '--name', 'x', '--backbone', 'small', '--head', 'mv-am', '--data', 'nope:1', '--epochs', '1']).catch(
      (e) => e,
    );
    expect(err.code).toBe(1);
    expect(err.stderr).toMatch(/unknown source 'nope'.*\[E_CONFIG\]/);
  });
});
