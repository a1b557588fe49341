/** Trains a config to the end (or aborts after step `abortAt`), collecting every step's info. */
import { type StepInfo, type TrainConfig, Trainer } from '../lib/trainer';

export interface TrainRun {
  steps: StepInfo[];
  cancelled: boolean;
  accuracy?: number;
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
    return { steps, cancelled: r.cancelled, accuracy: r.closedSetAccuracy };
  } finally {
    trainer.dispose();
  }
}
