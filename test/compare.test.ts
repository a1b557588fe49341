import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type CompareCell, type CompareConfig, compareHeads, ensureFaces, formatCompareTable, formatPairedTable } from '../lib/experiments/compare';
import { CellJournal } from '../lib/cli/compare';
import { comparePreset } from '../lib/experiments/compare-presets';
import { pairedDifference, tQuantile975 } from '../lib/experiments/paired';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-compare-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('paired differences', () => {
  it("uses Student's t 0.975 quantiles", () => {
    expect(tQuantile975(1)).toBeCloseTo(12.7062, 4);
    expect(tQuantile975(4)).toBeCloseTo(2.7764, 4);
    // Beyond the table: t(40) = 2.0211, t(60) = 2.0003, t(120) = 1.9799.
    expect(tQuantile975(40)).toBeCloseTo(2.0211, 3);
    expect(tQuantile975(60)).toBeCloseTo(2.0003, 3);
    expect(tQuantile975(120)).toBeCloseTo(1.9799, 3);
    expect(() => tQuantile975(0)).toThrow(/degrees of freedom/);
  });

  it('gives the mean difference and its 95% interval, and says which side of 0 it is', () => {
    // Differences 1..5: mean 3, sd sqrt(2.5), half width 2.7764 * sqrt(2.5 / 5) = 1.96322.
    const up = pairedDifference([11, 12, 13, 14, 15], [10, 10, 10, 10, 10]);
    expect(up?.n).toBe(5);
    expect(up?.mean).toBeCloseTo(3, 12);
    expect(up?.low).toBeCloseTo(3 - 1.96322, 4);
    expect(up?.high).toBeCloseTo(3 + 1.96322, 4);
    expect(up?.verdict).toBe('better');
    expect(pairedDifference([10, 10, 10], [12, 12.5, 13])?.verdict).toBe('worse');
    expect(pairedDifference([1, 2, 3], [2, 1, 3])?.verdict).toBe('within noise');
    // A seed without the metric drops out of the pairs.
    expect(pairedDifference([1, null, 3], [0, 5, 1])).toMatchObject({ n: 2, mean: 1.5 });
    expect(pairedDifference([1, null], [0, 5])).toBeNull();
    expect(() => pairedDifference([1, 2], [1])).toThrow(/paired values/);
  });
});

describe('head comparison', () => {
  it('formats mean ± std over seeds per head, in percent', () => {
    const cell = (head: string, seed: number, accuracy: number): CompareCell => ({
      dataset: 'd',
      head,
      seed,
      accuracy,
      tar1e3: null,
      tar1e4: null,
      rank1: accuracy,
      testImages: null,
      positives: null,
      negatives: null,
      seconds: 1,
    });
    const table = formatCompareTable([cell('am', 1, 0.8), cell('am', 2, 0.9), cell('mv-am', 1, 0.95), cell('mv-am', 2, 0.95)]);
    expect(table).toContain('| am | 85.00 ± 5.00 | n/a | n/a | 85.00 ± 5.00 |');
    expect(table).toContain('| mv-am | 95.00 ± 0.00 |');
    expect(table).toContain('over 2 seeds');
  });

  it('tables each MV head against its baseline, seed by seed, with the pair counts', () => {
    const cell = (head: string, seed: number, accuracy: number, tar: number): CompareCell => ({
      dataset: 'd',
      head,
      seed,
      accuracy,
      tar1e3: tar,
      tar1e4: null,
      rank1: accuracy,
      testImages: 100,
      positives: 450,
      negatives: 4500,
      seconds: 1,
    });
    const cells = [1, 2, 3].flatMap((s) => [cell('am', s, 0.8 + s / 100, 0.5), cell('mv-am fixed', s, 0.85 + s / 100, 0.5 + (s - 2) / 10)]);
    const table = formatPairedTable(cells, [
      { name: 'am', head: { type: 'am' } },
      { name: 'mv-am fixed', head: { type: 'mv-am' }, baseline: 'am' },
    ]);
    expect(table).toContain('mean over 3 seeds');
    expect(table).toContain('100 held-out images: 450 same-identity and 4500 different-identity pairs');
    // Accuracy: +5 points on every seed (interval of width 0); TAR: -10, 0, +10 points; TAR@1e-4 undefined.
    expect(table).toContain(
      '| mv-am fixed − am | +5.00 [+5.00, +5.00] **better** | +0.00 [−24.84, +24.84] within noise | n/a | +5.00 [+5.00, +5.00] **better** |',
    );
    expect(table.split('\n').filter((l) => l.startsWith('| am'))).toHaveLength(0);
  });

  it.each(['cpu', 'gpu'] as const)('has a %s preset of at least 1,000 training identities, 5 seeds and every MV head with its baseline', (preset) => {
    const { config, faces } = comparePreset(preset, { facesRoot: 'f', runsDir: 'r' });
    expect(faces.identities - faces.heldOut).toBeGreaterThanOrEqual(1000);
    expect(faces.heldOut % (faces.familySize ?? 1)).toBe(0);
    expect(config.seeds).toHaveLength(5);
    const names = config.heads.map((h) => h.name);
    for (const h of config.heads.filter((x) => x.baseline)) expect(names).toContain(h.baseline);
    expect(config.heads.filter((h) => h.baseline).map((h) => h.name)).toEqual(['mv-am fixed', 'mv-am adaptive', 'mv-arc fixed', 'mv-arc adaptive']);
    // All pairs of held-out images: at FAR 1e-4, at least 100 false accepts' worth of different-identity pairs.
    const images = config.datasets[0].allPairsImages ?? 0;
    expect(images).toBeLessThanOrEqual(faces.heldOut * faces.imagesPerIdentity);
    if (preset === 'cpu') expect(images).toBe(faces.heldOut * faces.imagesPerIdentity);
    // Same-identity pairs are at most heldOut x k(k - 1)/2 of them, whichever images are drawn.
    const negatives = (images * (images - 1)) / 2 - (faces.heldOut * faces.imagesPerIdentity * (faces.imagesPerIdentity - 1)) / 2;
    expect(Math.floor(1e-4 * negatives)).toBeGreaterThanOrEqual(100);
  });

  it('trains each head on the train identities and evaluates on the held-out ones', async () => {
    const faces = { root: path.join(dir, 'faces'), identities: 12, heldOut: 4, imagesPerIdentity: 6, size: 32, difficulty: 0.2, seed: 3 };
    await ensureFaces(faces);
    const stamp = fs.statSync(path.join(faces.root, 'faces.json')).mtimeMs;
    await ensureFaces(faces);
    expect(fs.statSync(path.join(faces.root, 'faces.json')).mtimeMs).toBe(stamp);
    const config: CompareConfig = {
      heads: [
        { name: 'am', head: { type: 'am' } },
        { name: 'mv-am t=0.2', head: { type: 'mv-am', mode: 'fixed', t: 0.2 } },
      ],
      seeds: [1],
      datasets: [
        {
          name: 'tiny faces',
          train: { kind: 'imagefolder', root: path.join(faces.root, 'train') },
          test: { kind: 'imagefolder', root: path.join(faces.root, 'test') },
          backbone: { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 16 },
          epochs: 2,
          pairs: 40,
        },
      ],
      batchSize: 16,
      lr: 0.05,
      schedule: { type: 'cosine' },
      runsDir: path.join(dir, 'runs'),
      workers: 1,
    };
    const cells = await compareHeads(config);
    expect(cells.map((c) => c.head)).toEqual(['am', 'mv-am t=0.2']);
    // Trained, each head tells the held-out identities apart well above chance (pairs: 0.5; rank-1
    // among 4 identities: 0.25). Here: accuracy 0.78 to 0.80, rank-1 0.85 to 0.9.
    for (const c of cells) {
      expect(c.accuracy).toBeGreaterThanOrEqual(0.6);
      expect(c.accuracy).toBeLessThanOrEqual(1);
      expect(c.rank1).toBeGreaterThanOrEqual(0.5);
    }
    expect(fs.existsSync(path.join(dir, 'runs', 'tiny-am-seed1', 'eval.json'))).toBe(true);
    // Head names are free text; the run folder's name keeps what a run name may hold.
    expect(fs.existsSync(path.join(dir, 'runs', 'tiny-mv-am-t-0.2-seed1', 'eval.json'))).toBe(true);

    // A stopped comparison continues: the journal gives back its cells, and those are not run again.
    const journal = new CellJournal(config, faces);
    journal.append(cells[0]);
    fs.appendFileSync(journal.file, '{"key": "cut sho');
    expect(new CellJournal({ ...config, lr: 0.01 }, faces).read()).toEqual([]);
    journal.append(cells[1]);
    expect(new CellJournal(config, faces).read()).toEqual(cells);
    fs.writeFileSync(journal.file, `${JSON.stringify({ key: 'x', cell: cells[1] })}\n`);
    journal.append(cells[0]);
    const kept = new CellJournal(config, faces).read();
    expect(kept).toEqual([cells[0]]);
    const fresh: string[] = [];
    const again = await compareHeads(config, { done: kept, onCell: (c) => fresh.push(c.head) });
    expect(fresh).toEqual(['mv-am t=0.2']);
    expect(again[0]).toEqual(cells[0]);
  }, 120_000);
});
