/** Training runs for the tests: whole, aborted at a step, or one step at a time. */
import * as path from 'node:path';
import { type StepInfo, type TrainConfig, Trainer } from '../lib/train/trainer';

export interface TrainRun {
  steps: StepInfo[];
  cancelled: boolean;
  accuracy?: number;
  fusedNorm: boolean; // the trainer's: whether its batch norms ran fused
}

/** Trains a config to the end (or aborts after step `abortAt`), collecting every step's info. */
export async function trainRun(config: TrainConfig, options: { abortAt?: number; resume?: boolean } = {}): Promise<TrainRun> {
  const trainer = await Trainer.create(config, { resume: options.resume });
  const controller = new AbortController();
  const steps: StepInfo[] = [];
  try {
    const r = await trainer.fit({
      signal: controller.signal,
      onStep: (s) => {
        steps.push(s);
        if (s.step === options.abortAt) controller.abort();
      },
    });
    return { steps, cancelled: r.cancelled, accuracy: r.closedSetAccuracy, fusedNorm: trainer.fusedNorm };
  } finally {
    trainer.dispose();
  }
}

/**
 * A maker of the small training configs a test file uses: `base` under each call's `over`, each
 * config with a fresh run name (`${prefix}-0`, `${prefix}-1`, ...).
 */
export function configMaker(prefix: string, base: Omit<TrainConfig, 'name'>): (over?: Partial<TrainConfig>) => TrainConfig {
  let counter = 0;
  return (over = {}) => ({ name: `${prefix}-${counter++}`, ...base, ...over });
}

/** The largest relative difference between a and b, elementwise. */
export const maxRelDiff = (a: number[], b: number[]): number => Math.max(...a.map((v, i) => Math.abs(v - b[i]) / Math.max(Math.abs(b[i]), 1e-6)));

/** Indices of the rows (of width `dim`) that differ between a and b. */
export function changedRows(a: Float32Array, b: Float32Array, dim: number): number[] {
  const rows: number[] = [];
  for (let r = 0; r < a.length / dim; r++) {
    for (let d = 0; d < dim; d++) {
      if (a[r * dim + d] !== b[r * dim + d]) {
        rows.push(r);
        break;
      }
    }
  }
  return rows;
}

/**
 * Steps one at a time (each stop writes the checkpoint): each step's info, the rows of the class
 * weights (rows of width `dim`) it changed, and `read` of the checkpoint after it.
 */
export async function stepRows<T>(config: TrainConfig, steps: number, dim: number, read?: (checkpoint: string) => T) {
  const trainer = await Trainer.create(config);
  const checkpoint = path.join(config.runsDir ?? 'runs', config.name, 'checkpoint.pt');
  const out: Array<{ step: StepInfo; changed: number[]; read?: T }> = [];
  try {
    let before = await trainer.classWeights();
    for (let k = 0; k < steps; k++) {
      const controller = new AbortController();
      let info: StepInfo | undefined;
      await trainer.fit({
        signal: controller.signal,
        onStep: (s) => {
          info = s;
          controller.abort();
        },
      });
      const after = await trainer.classWeights();
      out.push({ step: info!, changed: changedRows(before, after, dim), read: read?.(checkpoint) });
      before = after;
    }
  } finally {
    trainer.dispose();
  }
  return out;
}
