/**
 * The paper's claim on data we can run: train a list of heads with the same backbone, data, schedule
 * and seeds; evaluate on identities held out from training (open set); report mean ± std over seeds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BackboneConfig } from '../model/backbones';
import type { DataSpec } from '../data/loader';
import { evaluateModel } from '../eval/evaluate';
import { type FaceOptions, faceDefaults, generateFaces } from '../data/faces';
import type { HeadConfig } from '../loss/margin-loss';
import type { Schedule } from '../train/schedule';
import { type TrainConfig, Trainer } from '../train/trainer';

export interface HeadEntry {
  name: string;
  head: HeadConfig;
  /** The head this one is compared with, seed by seed (MV-Softmax heads: the margin head they build on). */
  baseline?: string;
}

export const defaultHeads: HeadEntry[] = [
  { name: 'softmax', head: { type: 'softmax' } },
  { name: 'am', head: { type: 'am' } },
  { name: 'arc', head: { type: 'arc', easyMargin: true } },
  { name: 'mv-am fixed', head: { type: 'mv-am', mode: 'fixed' }, baseline: 'am' },
  { name: 'mv-am adaptive', head: { type: 'mv-am', mode: 'adaptive' }, baseline: 'am' },
  { name: 'mv-arc fixed', head: { type: 'mv-arc', mode: 'fixed', easyMargin: true }, baseline: 'arc' },
  { name: 'mv-arc adaptive', head: { type: 'mv-arc', mode: 'adaptive', easyMargin: true }, baseline: 'arc' },
];

/** One training set and the held-out set it is evaluated on. */
export interface CompareDataset {
  name: string;
  train: DataSpec;
  test: DataSpec;
  backbone: BackboneConfig;
  epochs: number;
  pairs: number;
  /** TAR at FAR is measured over all pairs of up to this many held-out images (default 3000, as evaluate's). */
  allPairsImages?: number;
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
  /** The all-pairs counts behind the TARs: held-out images, same- and different-identity pairs. */
  testImages: number | null;
  positives: number | null;
  negatives: number | null;
  seconds: number;
}

/** The face set a comparison trains and evaluates on (generateFaces' options, without the callbacks). */
export type FacesSetup = Required<Pick<FaceOptions, 'root' | 'identities' | 'heldOut' | 'imagesPerIdentity' | 'size' | 'difficulty' | 'seed'>> &
  Pick<FaceOptions, 'familySize' | 'familyTraits'>;

const setupKeys = ['identities', 'heldOut', 'imagesPerIdentity', 'size', 'difficulty', 'seed', 'familySize', 'familyTraits'] as const;

/** Generates the face set unless a complete one with these settings is already there. */
export async function ensureFaces(f: FacesSetup, onProgress?: (done: number, total: number) => void): Promise<void> {
  const manifest = path.join(f.root, 'faces.json');
  if (fs.existsSync(manifest)) {
    const m = JSON.parse(fs.readFileSync(manifest, 'utf8'));
    const value = (o: Record<string, unknown>, k: (typeof setupKeys)[number]): unknown => o[k] ?? (faceDefaults as Record<string, unknown>)[k];
    const same = m.complete && setupKeys.every((k) => value(m, k) === value(f, k));
    if (same) return;
  }
  await generateFaces({ ...f, overwrite: true, onProgress });
}

/** The run folder's name: data set, head and seed, with anything but letters, digits, '.', '_' and '-' as '-'. */
function runName(d: CompareDataset, h: HeadEntry, seed: number): string {
  return `${d.name.split(' ')[0]}-${h.name}-seed${seed}`.toLowerCase().replace(/[^a-z0-9._-]+/g, '-');
}

async function trainAndEvaluate(c: CompareConfig, d: CompareDataset, h: HeadEntry, seed: number, signal?: AbortSignal): Promise<CompareCell> {
  const started = Date.now();
  const config: TrainConfig = {
    name: runName(d, h, seed),
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
    if (fit.cancelled) throw signal?.reason ?? new Error('compare: cancelled');
    const model = await trainer.model();
    const report = await evaluateModel(model, {
      run: trainer.paths.dir,
      sets: [{ kind: 'data', data: d.test, pairs: d.pairs, seed, allPairsImages: d.allPairsImages }],
    }).finally(() => model.dispose());
    const set = report.sets[0];
    return {
      dataset: d.name,
      head: h.name,
      seed,
      accuracy: set.verification.accuracy,
      tar1e3: set.allPairs?.tarAtFar['1e-3'] ?? null,
      tar1e4: set.allPairs?.tarAtFar['1e-4'] ?? null,
      rank1: set.identification?.rank1 ?? null,
      testImages: set.allPairs?.images ?? null,
      positives: set.allPairs?.positives ?? null,
      negatives: set.allPairs?.negatives ?? null,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    trainer.dispose();
  }
}

export interface CompareOptions {
  signal?: AbortSignal;
  /** Sees each new result as it comes. */
  onCell?: (cell: CompareCell) => void;
  /** Results of an earlier, interrupted run of the same configuration: these cells are not run again. */
  done?: CompareCell[];
}

/** Trains and evaluates every (dataset, head, seed) in that order; returns all cells, earlier ones included. */
export async function compareHeads(c: CompareConfig, options: CompareOptions = {}): Promise<CompareCell[]> {
  const cells: CompareCell[] = [];
  for (const d of c.datasets) {
    for (const seed of d.seeds ?? c.seeds) {
      for (const h of c.heads) {
        const earlier = options.done?.find((x) => x.dataset === d.name && x.head === h.name && x.seed === seed);
        if (earlier) {
          cells.push(earlier);
          continue;
        }
        const cell = await trainAndEvaluate(c, d, h, seed, options.signal);
        cells.push(cell);
        options.onCell?.(cell);
      }
    }
  }
  return cells;
}

export { formatCompareTable, formatPairedTable } from './compare-table';
