/**
 * The paper's claim on data we can run: train a list of heads with the same backbone, data, schedule
 * and seeds; evaluate on identities held out from training (open set); report mean ± std over seeds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackboneConfig } from '../model/backbones';
import type { DataSpec } from '../data/loader';
import { evaluateModel } from '../eval/evaluate';
import { generateFaces } from '../data/faces';
import type { HeadConfig } from '../loss/margin-loss';
import type { Schedule } from '../train/schedule';
import { type TrainConfig, Trainer } from '../train/trainer';

export interface HeadEntry {
  name: string;
  head: HeadConfig;
}

export const defaultHeads: HeadEntry[] = [
  { name: 'softmax', head: { type: 'softmax' } },
  { name: 'am', head: { type: 'am' } },
  { name: 'arc', head: { type: 'arc', easyMargin: true } },
  { name: 'mv-am fixed', head: { type: 'mv-am', mode: 'fixed' } },
  { name: 'mv-am adaptive', head: { type: 'mv-am', mode: 'adaptive' } },
  { name: 'mv-arc fixed', head: { type: 'mv-arc', mode: 'fixed', easyMargin: true } },
  { name: 'mv-arc adaptive', head: { type: 'mv-arc', mode: 'adaptive', easyMargin: true } },
];

/** One training set and the held-out set it is evaluated on. */
export interface CompareDataset {
  name: string;
  train: DataSpec;
  test: DataSpec;
  backbone: BackboneConfig;
  epochs: number;
  pairs: number;
  /** Seeds for this data set, when not the config's. */
  seeds?: number[];
}

export interface CompareConfig {
  heads: HeadEntry[];
  seeds: number[];
  datasets: CompareDataset[];
  batchSize: number;
  lr: number;
  schedule: Schedule;
  runsDir: string;
  workers?: number;
}

export interface CompareCell {
  dataset: string;
  head: string;
  seed: number;
  accuracy: number;
  /** TAR at FAR over all pairs of held-out images (evaluate's allPairs). */
  tar1e3: number | null;
  tar1e4: number | null;
  rank1: number | null;
  seconds: number;
}

export interface FacesSetup {
  root: string;
  identities: number;
  heldOut: number;
  imagesPerIdentity: number;
  size: number;
  difficulty: number;
  seed: number;
}

/** The CPU default: faces at 32 x 32 with the small net, and Fashion-MNIST (test classes are the same classes: closed set). */
export function defaultCompareConfig(options: { large?: boolean; facesRoot: string; runsDir: string }): { config: CompareConfig; faces: FacesSetup } {
  const large = options.large ?? false;
  const faces: FacesSetup = large
    ? { root: options.facesRoot, identities: 2000, heldOut: 400, imagesPerIdentity: 30, size: 112, difficulty: 0.6, seed: 1 }
    : { root: options.facesRoot, identities: 260, heldOut: 60, imagesPerIdentity: 16, size: 32, difficulty: 0.5, seed: 1 };
  const backbone: BackboneConfig = large ? { name: 'mobilefacenet', embeddingSize: 512 } : { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 128 };
  const datasets: CompareDataset[] = [
    {
      name: `faces ${faces.size}px, ${faces.identities - faces.heldOut} train / ${faces.heldOut} held-out identities`,
      train: { kind: 'imagefolder', root: path.join(faces.root, 'train') },
      test: { kind: 'imagefolder', root: path.join(faces.root, 'test') },
      backbone,
      epochs: large ? 20 : 8,
      pairs: 6000,
    },
    {
      name: 'Fashion-MNIST (1 epoch, 1 seed; closed set: the test images are of the training classes)',
      train: { kind: 'fashion-mnist', split: 'train' },
      test: { kind: 'fashion-mnist', split: 'test' },
      backbone: { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 128 },
      epochs: 1,
      pairs: 6000,
      seeds: [1],
    },
  ];
  const config: CompareConfig = {
    heads: defaultHeads,
    seeds: [1, 2, 3],
    datasets,
    batchSize: large ? 256 : 128,
    lr: 0.1,
    schedule: { type: 'cosine' },
    runsDir: options.runsDir,
  };
  return { config, faces };
}

/** Generates the face set unless a complete one with these settings is already there. */
export async function ensureFaces(f: FacesSetup, onProgress?: (done: number, total: number) => void): Promise<void> {
  const manifest = path.join(f.root, 'faces.json');
  if (fs.existsSync(manifest)) {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    const same =
      m.complete &&
      m.identities === f.identities &&
      m.size === f.size &&
      m.seed === f.seed &&
      m.heldOut === f.heldOut &&
      m.imagesPerIdentity === f.imagesPerIdentity &&
      m.difficulty === f.difficulty;
    if (same) return;
  }
  await generateFaces({ ...f, overwrite: true, onProgress });
}

async function trainAndEvaluate(c: CompareConfig, d: CompareDataset, h: HeadEntry, seed: number, signal?: AbortSignal): Promise<CompareCell> {
  const started = Date.now();
  const config: TrainConfig = {
    name: `${d.name.split(' ')[0].toLowerCase()}-${h.name.replace(/\s+/g, '-')}-seed${seed}`,
    runsDir: c.runsDir,
    backbone: d.backbone,
    head: h.head,
    data: d.train,
    epochs: d.epochs,
    batchSize: c.batchSize,
    optimizer: { lr: c.lr },
    schedule: c.schedule,
    warmupEpochs: d.epochs > 1 ? 0.5 : 0.1,
    seed,
    workers: c.workers,
  };
  fs.rmSync(path.join(c.runsDir, config.name), { recursive: true, force: true });
  const trainer = await Trainer.create(config);
  try {
    const fit = await trainer.fit({ signal });
    if (fit.cancelled) throw new Error('cancelled');
    const model = await trainer.model();
    const report = await evaluateModel(model, { run: trainer.paths.dir, sets: [{ kind: 'data', data: d.test, pairs: d.pairs, seed }] }).finally(() =>
      model.dispose(),
    );
    const set = report.sets[0];
    return {
      dataset: d.name,
      head: h.name,
      seed,
      accuracy: set.verification.accuracy,
      tar1e3: set.allPairs?.tarAtFar['1e-3'] ?? null,
      tar1e4: set.allPairs?.tarAtFar['1e-4'] ?? null,
      rank1: set.identification?.rank1 ?? null,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    trainer.dispose();
  }
}

/** Trains and evaluates every (dataset, head, seed); `onCell` sees each result as it comes. */
export async function compareHeads(c: CompareConfig, options: { signal?: AbortSignal; onCell?: (cell: CompareCell) => void } = {}): Promise<CompareCell[]> {
  const cells: CompareCell[] = [];
  for (const d of c.datasets) {
    for (const seed of d.seeds ?? c.seeds) {
      for (const h of c.heads) {
        const cell = await trainAndEvaluate(c, d, h, seed, options.signal);
        cells.push(cell);
        options.onCell?.(cell);
      }
    }
  }
  return cells;
}

function meanStd(values: Array<number | null>): string {
  const v = values.filter((x): x is number => x !== null);
  if (v.length === 0) return 'n/a';
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
  return `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
}

/** A markdown table per dataset: mean ± std over seeds, in percent. */
export function formatCompareTable(cells: CompareCell[]): string {
  const out: string[] = [];
  for (const dataset of [...new Set(cells.map((c) => c.dataset))]) {
    const seeds = new Set(cells.filter((c) => c.dataset === dataset).map((c) => c.seed)).size;
    out.push(
      `**${dataset}** (mean ± std over ${seeds} seed${seeds > 1 ? 's' : ''}, %; accuracy: 10-fold on balanced pairs; TAR: over all pairs of test images)`,
      '',
    );
    out.push('| head | verification accuracy | TAR@FAR=1e-3 | TAR@FAR=1e-4 | rank-1 |', '| --- | --- | --- | --- | --- |');
    for (const head of [...new Set(cells.map((c) => c.head))]) {
      const rows = cells.filter((c) => c.dataset === dataset && c.head === head);
      out.push(
        `| ${head} | ${meanStd(rows.map((r) => r.accuracy))} | ${meanStd(rows.map((r) => r.tar1e3))} | ${meanStd(rows.map((r) => r.tar1e4))} | ${meanStd(rows.map((r) => r.rank1))} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
