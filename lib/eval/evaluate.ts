/**
 * evaluate(): a trained run against verification sets (InsightFace .bin, LFW pairs, pairs drawn from a
 * data set), results printed as a table and merged into <run>/eval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Embedder } from './embedder';
import type { EvalSetSpec } from './sets';
import { type EvalSetResult, prepareEvalSet, runEvalSet } from './score-set';
import { farLevels } from './metrics';
import { readJson, writeJsonAtomic } from '../train/run-files';

export interface EvaluateOptions {
  /** The run folder (runs/<name>). */
  run: string;
  sets: EvalSetSpec[];
  /** Images per native call. Default 256. */
  batchSize?: number;
  workers?: number;
  /** Merge the results into <run>/eval.json. Default true. */
  write?: boolean;
  onSet?: (result: EvalSetResult) => void;
}

export interface EvalReport {
  format: 'mvface-eval-1';
  run: string;
  /** The checkpoint's training step. */
  step: number;
  time: string;
  sets: EvalSetResult[];
}

export function evalFile(runDir: string): string {
  return path.join(runDir, 'eval.json');
}

export function readEvalReport(runDir: string): EvalReport | undefined {
  return fs.existsSync(evalFile(runDir)) ? readJson<EvalReport>(evalFile(runDir)) : undefined;
}

/** Loads the run's checkpoint and evaluates it on each set. */
export async function evaluate(options: EvaluateOptions): Promise<EvalReport> {
  const embedder = await Embedder.open(options.run);
  try {
    return await evaluateModel(embedder, options);
  } finally {
    embedder.dispose();
  }
}

/** What evaluation needs of a model: raw embeddings, the input shape, the step it was trained to. */
export type EvalModel = Pick<Embedder, 'embedRaw' | 'input' | 'step'>;

/** Evaluates a model already in memory (an Embedder, or Embedder.of(trainer)); results go to <run>/eval.json. */
export async function evaluateModel(model: EvalModel, options: EvaluateOptions): Promise<EvalReport> {
  const sets: EvalSetResult[] = [];
  for (const spec of options.sets) {
    const prepared = await prepareEvalSet(spec, model.input);
    const result = await runEvalSet(model.embedRaw, prepared, { batchSize: options.batchSize, workers: options.workers });
    options.onSet?.(result);
    sets.push(result);
  }
  const report: EvalReport = { format: 'mvface-eval-1', run: options.run, step: model.step, time: new Date().toISOString(), sets };
  if (options.write ?? true) writeJsonAtomic(evalFile(options.run), merged(readEvalReport(options.run), report));
  return report;
}

/** The new results, plus earlier sets of other names. */
function merged(old: EvalReport | undefined, report: EvalReport): EvalReport {
  const names = new Set(report.sets.map((s) => s.name));
  const kept = (old?.sets ?? []).filter((s) => !names.has(s.name));
  return { ...report, sets: [...kept, ...report.sets] };
}

const fixed = (v: number | null | undefined, digits = 4) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));

/** A plain-text table: one row per set. */
export function formatEvalTable(sets: EvalSetResult[]): string {
  const header = ['set', 'pairs', 'accuracy', 'threshold', 'AUC', 'EER', ...farLevels.map((f) => `TAR@${f}`), 'rank-1', 'rank-5'];
  const rows = sets.map((s) => {
    const v = s.verification;
    return [
      s.name,
      String(v.pairs),
      `${fixed(v.accuracy)} ± ${fixed(v.std)}`,
      fixed(v.bestThreshold, 3),
      fixed(v.auc),
      fixed(v.eer),
      ...farLevels.map((f) => fixed(v.tarAtFar[f])),
      fixed(s.identification?.rank1),
      fixed(s.identification?.rank5),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
