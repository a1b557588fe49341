import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, IoError } from '../lib/errors';
import { evaluate, formatEvalTable, readEvalReport } from '../lib/eval/evaluate';
import { type TrainConfig, Trainer } from '../lib/train/trainer';
import { python2Bin, syntheticData, syntheticDataArg, tinyRun, verificationBin } from './eval-fixtures';
import { encodeJpeg, picture } from './fixtures';

const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-eval-'));
afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));
const cli = path.resolve(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
const run = promisify(execFile);

const binFile = path.join(runsDir, 'tiny.bin');
const dataSet = { kind: 'data', data: syntheticData, pairs: 60, seed: 3, name: 'synthetic' } as const;

async function train(config: TrainConfig): Promise<number[]> {
  const trainer = await Trainer.create(config);
  const losses: number[] = [];
  try {
    await trainer.fit({ onStep: (s) => losses.push(s.loss) });
  } finally {
    trainer.dispose();
  }
  return losses;
}

/** A log.jsonl record, with the fields the eval records carry. */
interface LogRecord {
  event: string;
  step: number;
  name: string;
  accuracy: number;
  auc: number;
  rank1?: number;
  tarAtFar: Record<string, number | null>;
}

function logOf(name: string): LogRecord[] {
  return fs
    .readFileSync(path.join(runsDir, name, 'log.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

describe('evaluation during training', () => {
  let plain: number[];
  let withEval: number[];
  beforeAll(async () => {
    fs.writeFileSync(binFile, verificationBin(12));
    plain = await train(tinyRun(runsDir, 'plain', { epochs: 8 }));
    withEval = await train(tinyRun(runsDir, 'trained', { epochs: 8, eval: { every: 12, sets: [dataSet, { kind: 'bin', path: binFile, resize: true }] } }));
  });

  it('logs each set every N steps and leaves training exactly as it was', () => {
    expect(withEval).toEqual(plain);
    const evals = logOf('trained').filter((r) => r.event === 'eval');
    // 8 epochs x 3 steps: evaluations at steps 12 and 24, two sets each.
    expect(evals.map((r) => [r.step, r.name])).toEqual([
      [12, 'synthetic'],
      [12, 'tiny'],
      [24, 'synthetic'],
      [24, 'tiny'],
    ]);
    for (const r of evals) {
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
      expect(r.accuracy).toBeLessThanOrEqual(1);
      expect(Object.keys(r.tarAtFar)).toEqual(['1e-1', '1e-2', '1e-3', '1e-4', '1e-5', '1e-6']);
    }
    // 30 different pairs support FAR 1e-1 only; 6 (in the .bin) support none.
    expect(evals[2].tarAtFar).toMatchObject({ '1e-1': expect.any(Number), '1e-2': null });
    expect(evals[3].tarAtFar['1e-1']).toBeNull();
    // The trained model separates the synthetic identities, and identification is logged for data sets.
    expect(evals[2].accuracy).toBeGreaterThan(0.75);
    expect(evals[2].auc).toBeGreaterThan(0.9);
    expect(evals[2].rank1).toBeGreaterThan(0.7);
    expect(evals[3].rank1).toBeUndefined();
  });

  it('checks the eval config before training', async () => {
    await expect(Trainer.create(tinyRun(runsDir, 'bad', { eval: { every: 0, sets: [dataSet] } }))).rejects.toThrow(ConfigError);
    await expect(Trainer.create(tinyRun(runsDir, 'bad', { eval: { every: 2, sets: [] } }))).rejects.toThrow(ConfigError);
  });

  it('evaluate() scores the run on each kind of set and merges eval.json', async () => {
    const lfw = path.join(runsDir, 'lfw');
    for (const [name, i, seed] of [
      ['Ann', 1, 1],
      ['Ann', 2, 2],
      ['Ben', 1, 3],
    ] as const) {
      fs.mkdirSync(path.join(lfw, name), { recursive: true });
      fs.writeFileSync(path.join(lfw, name, `${name}_000${i}.jpg`), encodeJpeg(picture(60, 60, 3, seed)));
    }
    const pairs = path.join(runsDir, 'pairs.txt');
    fs.writeFileSync(pairs, `10 1\n${Array.from({ length: 10 }, () => 'Ann 1 2\nAnn 1 Ben 1\n').join('')}`);
    const runDir = path.join(runsDir, 'trained');
    const first = await evaluate({ run: runDir, sets: [{ kind: 'lfw', pairs, images: lfw, resize: true }] });
    expect(first.step).toBe(24);
    expect(first.sets[0]).toMatchObject({ name: 'lfw-pairs', kind: 'lfw', images: 3, verification: { pairs: 20, positives: 10, negatives: 10 } });
    const second = await evaluate({ run: runDir, sets: [dataSet] });
    const v = second.sets[0].verification;
    expect(v.accuracy).toBeGreaterThan(0.75);
    expect(v.auc).toBeGreaterThan(0.9);
    expect(v.eer).toBeLessThan(0.2);
    expect(second.sets[0].identification).toMatchObject({ probes: 42, galleryClasses: 6 });
    // Every pair of the 48 images (6 identities x 8): 6 x 28 same, 1128 - 168 different.
    expect(second.sets[0].allPairs).toMatchObject({ images: 48, positives: 168, negatives: 960 });
    expect(second.sets[0].allPairs!.tarAtFar['1e-2']).toBeGreaterThan(0.3);
    expect(second.sets[0].allPairs!.tarAtFar['1e-3']).toBeNull();
    // The same checkpoint and set as the last eval during training: the same numbers.
    const logged = logOf('trained')
      .filter((r) => r.event === 'eval' && r.name === 'synthetic')
      .pop()!;
    expect(v.accuracy).toBe(logged.accuracy);
    expect(readEvalReport(runDir)!.sets.map((s) => s.name)).toEqual(['lfw-pairs', 'synthetic']);
    const table = formatEvalTable(second.sets);
    expect(table.split('\n')[0]).toMatch(/^set\s+pairs\s+accuracy\s+threshold\s+AUC\s+EER\s+TAR@1e-1/);
    expect(table).toContain(`${v.accuracy.toFixed(4)} ± ${v.std.toFixed(4)}`);
  });

  it('gives the same results at any batch size, and names a corrupt image in a later batch', async () => {
    const runDir = path.join(runsDir, 'trained');
    const set = { kind: 'bin', path: binFile, resize: true } as const;
    const [whole, batched] = [
      await evaluate({ run: runDir, sets: [set], write: false }),
      await evaluate({ run: runDir, sets: [set], write: false, batchSize: 5 }),
    ];
    expect(batched.sets[0].verification.accuracy).toBe(whole.sets[0].verification.accuracy);
    expect(batched.sets[0].verification.auc).toBeCloseTo(whole.sets[0].verification.auc, 6);
    const corrupt = path.join(runsDir, 'corrupt.bin');
    const images = Array.from({ length: 24 }, (_, i) => encodeJpeg(picture(112, 112, 3, i)));
    images[13] = images[13].subarray(0, 200);
    fs.writeFileSync(
      corrupt,
      python2Bin(
        images,
        Array.from({ length: 12 }, (_, k) => k % 2 === 0),
      ),
    );
    await expect(evaluate({ run: runDir, sets: [{ kind: 'bin', path: corrupt, resize: true }], write: false, batchSize: 5 })).rejects.toThrow(
      /^corrupt: image 13: corrupt JPEG/,
    );
  });

  it('names missing files', async () => {
    const runDir = path.join(runsDir, 'trained');
    await expect(evaluate({ run: runDir, sets: [{ kind: 'bin', path: path.join(runsDir, 'none.bin') }], write: false })).rejects.toThrow(IoError);
    await expect(evaluate({ run: path.join(runsDir, 'no-such-run'), sets: [dataSet] })).rejects.toThrow(/no-such-run: no such file or folder/);
  });

  it('mvface eval prints the table and writes eval.json and the report', async () => {
    const runDir = path.join(runsDir, 'trained');
    const { stdout, stderr } = await run(process.execPath, [
      cli,
      'eval',
      '--run',
      runDir,
      '--bin',
      binFile,
      '--data',
      syntheticDataArg,
      '--pairs-count',
      '60',
      '--report',
      '--resize',
    ]);
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^set\s+pairs\s+accuracy/);
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 2))).toEqual([
      ['tiny', '12'],
      ['synthetic-pairs', '60'],
    ]);
    expect(stderr).toContain(path.join(runDir, 'eval.json'));
    const report = readEvalReport(runDir)!;
    expect(report.sets.map((s) => s.name).sort()).toEqual(['lfw-pairs', 'synthetic', 'synthetic-pairs', 'tiny']);
    const html = fs.readFileSync(path.join(runDir, 'report', 'index.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<(script|link|img)\b/);
    for (const chart of ['loss', 'learning-rate', 'hard-fraction', 'eval', 'roc']) {
      expect(fs.statSync(path.join(runDir, 'report', `${chart}.png`)).size, chart).toBeGreaterThan(2000);
    }
    const bad = await run(process.execPath, [cli, 'eval', '--run', runDir]).catch((e: { code: number; stderr: string }) => e);
    expect(bad).toMatchObject({ code: 1, stderr: expect.stringContaining('[E_CONFIG]') });
  });
});
