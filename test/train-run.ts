/** Trains a config to the end (or aborts after step `abortAt`), collecting every step's info. */
import { type StepInfo, type TrainConfig, Trainer } from '../lib/trainer';

export interface TrainRun {
  steps: StepInfo[];
  cancelled: boolean;
  accuracy?: number;
  fusedNorm: boolean;  // the trainer's: whether its batch norms ran fused
}

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
