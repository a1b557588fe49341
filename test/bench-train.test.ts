/** The training benchmark (benchTrainStep, mvface bench train): its figures and its refusals. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo } from '../lib/native/backend';
import { benchTrainStep } from '../lib/bench/train-bench';
import { smallRuns } from './small-runs';

const cuda = backendInfo().cudaAvailable;
const { runsDir } = smallRuns('bench');
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));

describe('bench train', () => {
  it('reports samples/s, peak memory, the pipeline alone and a memory series', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-data-'));
    try {
      const lines: string[] = [];
      const r = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 2,
        warmup: 1,
        classes: 10,
        device: 'cpu',
        workers: 2,
        pipeline: 'recordio',
        pipelineImages: 48,
        dataDir,
        memorySteps: 4,
        log: (line) => lines.push(line),
      });
      expect(r).toMatchObject({ device: 'cpu', backbone: 'small', batch: 8, precision: 'fp32', head: 'mv-arc', steps: 2 });
      expect(r.samplesPerSecond).toBeGreaterThan(0);
      // The native step is timed inside each step's wall time and is most of it here; the rest
      // (Node and the loop) is what is left, so it is positive.
      expect(r.split.nativeMs).toBeGreaterThan(0.5 * r.stepMs);
      expect(r.split.dataMs).toBeGreaterThanOrEqual(0);
      expect(r.split.restMs).toBeGreaterThan(0);
      expect(r.peakMemory.kind).toBe('host-rss');
      expect(r.peakMemory.bytes).toBeGreaterThan(10 * 2 ** 20);
      expect(r.pipeline?.samplesPerSecond).toBeGreaterThan(0);
      expect(r.pipeline?.versusStep).toBeCloseTo(r.pipeline!.samplesPerSecond / r.samplesPerSecond, 6);
      expect(r.memoryCheck?.samples.map((s) => s.step)).toEqual([1, 2, 3, 4]);
      expect(r.memoryCheck?.samples.every((s) => s.rssBytes > 0 && s.deviceBytes === undefined)).toBe(true);
      // The long run says where it is at every sample.
      expect(lines.filter((l) => l.includes('memory at step'))).toEqual(
        r.memoryCheck!.samples.map((s) => `bench train: memory at step ${s.step} of 4: host RSS ${(s.rssBytes / 2 ** 20).toFixed(0)} MiB`),
      );
      const imagefolder = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 1,
        warmup: 1,
        classes: 10,
        device: 'cpu',
        workers: 2,
        pipeline: 'imagefolder',
        pipelineImages: 16,
        dataDir,
      });
      expect(imagefolder.pipeline?.kind).toBe('imagefolder');
      expect(fs.readdirSync(path.join(dataDir, 'imagefolder-16-32')).filter((d) => d.startsWith('id'))).toHaveLength(16);
      // Training on the generated RecordIO JPEGs: one epoch holds every step, so no epoch-end checkpoint is timed.
      const jpegs = await benchTrainStep({
        backbone: 'small',
        inputSize: 32,
        batch: 8,
        steps: 3,
        warmup: 1,
        classes: 12,
        device: 'cpu',
        workers: 2,
        pipeline: 'none',
        source: 'recordio',
        pipelineImages: 16,
        dataDir,
      });
      expect(jpegs).toMatchObject({ source: 'recordio', workers: 2, classes: 12, steps: 3 });
      expect(jpegs.samplesPerSecond).toBeGreaterThan(0);
      const records = fs
        .readFileSync(path.join(dataDir, 'recordio-40-32-12', 'train.idx'), 'utf8')
        .trim()
        .split('\n');
      expect(records).toHaveLength((1 + 3 + 1) * 8);
    } finally {
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('mvface bench train (CLI)', () => {
  const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
  it('prints the step, memory and pipeline lines and writes --json; refuses what the machine cannot run', async () => {
    const json = path.join(runsDir, 'bench.json');
    const args = [
      cli,
      'bench',
      'train',
      '--backbone',
      'small',
      '--input-size',
      '32',
      '--batch',
      '8',
      '--steps',
      '2',
      '--warmup',
      '1',
      '--classes',
      '10',
      '--device',
      'cpu',
      '--pipeline-images',
      '16',
      '--workers',
      '2',
      '--json',
      json,
    ];
    const { stdout } = await promisify(execFile)(process.execPath, args, { env: process.env });
    expect(stdout).toMatch(/step: +[\d.]+ samples\/s/);
    expect(stdout).toMatch(/split: +native step [\d.]+ ms, waiting for data [\d.]+ ms, the rest \(Node, the TypeScript loop\) -?[\d.]+ ms/);
    expect(stdout).toMatch(/memory: +peak \d+ MiB \(host peak RSS\)/);
    expect(stdout).toMatch(/pipeline: +[\d.]+ samples\/s alone \(recordio/);
    expect(JSON.parse(fs.readFileSync(json, 'utf8'))).toMatchObject({ backbone: 'small', batch: 8, device: 'cpu' });
    if (!cuda) {
      const e = await promisify(execFile)(
        process.execPath,
        [cli, 'bench', 'train', '--backbone', 'small', '--input-size', '32', '--precision', 'fp16', '--pipeline', 'none'],
        { env: process.env },
      ).catch((x: { code: number; stderr: string }) => x);
      expect((e as { code: number }).code).toBe(1);
      expect((e as { stderr: string }).stderr).toMatch(/precision: 'fp16' runs on device 'cuda' only.*\[E_CONFIG\]/);
    }
  });
});
