/**
 * What a checkpoint must agree with to be resumed, the run's position it stores, the config as
 * stored (paths absolute) and the log trimmed back to the checkpoint on resume.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainDefaults } from '../config/defaults';
import type { TrainConfig } from './config';

/** Where a run stands: saved in every checkpoint, enough to continue exactly. */
export interface Position {
  step: number;
  epoch: number;
  /** Next batch within `epoch`. */
  index: number;
  samples: number;
  stepSeconds: number;
  /** The current epoch's loss sum and steps so far (absent in the first checkpoints: 0). */
  epochLossSum?: number;
  epochSteps?: number;
}

export interface CheckpointMeta {
  format: 'mvface-run-1';
  configKey: string;
  position: Position;
  /** The processes that trained it (absent: 1); a run's batches depend on it. */
  worldSize?: number;
}

function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, sortedKeys((value as Record<string, unknown>)[k])]),
  );
}

const pathKeys = new Set(['root', 'path', 'images', 'labels', 'pairs', 'landmarks']);

/** A data or eval spec with its file paths made absolute (against the working folder, once). */
function absoluteSpec<T>(spec: T): T {
  if (spec === null || typeof spec !== 'object') return spec;
  if (Array.isArray(spec)) return spec.map(absoluteSpec) as T;
  return Object.fromEntries(Object.entries(spec).map(([k, v]) => [k, pathKeys.has(k) && typeof v === 'string' ? path.resolve(v) : absoluteSpec(v)])) as T;
}

/**
 * The run folder and every data path absolute, so that config.json means the same from any working
 * folder (train --config runs/x/config.json --resume from elsewhere).
 */
export function withAbsolutePaths<C extends TrainConfig>(c: C): C {
  return {
    ...c,
    runsDir: path.resolve(c.runsDir ?? trainDefaults.runsDir),
    data: absoluteSpec(c.data),
    ...(c.evalData && { evalData: absoluteSpec(c.evalData) }),
    ...(c.eval && { eval: { ...c.eval, sets: absoluteSpec(c.eval.sets) } }),
  };
}

/**
 * On resume from the checkpoint at `step`: the log keeps its records up to that step (the steps
 * after it are trained again and logged again), then a `resumed` record.
 */
export function resumeLog(file: string, step: number): void {
  if (!fs.existsSync(file)) return;
  const kept = fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => {
      if (!line.trim()) return false;
      try {
        const record = JSON.parse(line) as { step?: number; event?: string };
        return record.step === undefined || record.step <= step;
      } catch {
        return false; // a line half written when the process died
      }
    });
  kept.push(JSON.stringify({ time: new Date().toISOString(), event: 'resumed', step }));
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${kept.join('\n')}\n`);
  fs.renameSync(tmp, file);
}

/** The parts of the config that a checkpoint must agree with to be resumed. */
export function configKey(c: TrainConfig): string {
  const { name, runsDir, workers, checkpointEverySteps, checkpointEveryMinutes, evalData, eval: evalSets, ...rest } = c;
  return JSON.stringify(sortedKeys(rest));
}
