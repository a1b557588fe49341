/** The demo's verification: Fashion-MNIST test pairs (6,000, half same-class, seeded) and a gallery/probe split. */
import type { EvalSetSpec } from '../eval/sets';
import { evaluateModel } from '../eval/evaluate';
import type { TarAtFar } from '../eval/metrics';
import type { Trainer } from '../train/trainer';

export const demoEvalSet: EvalSetSpec = { kind: 'data', data: { kind: 'fashion-mnist', split: 'test' }, pairs: 6000, seed: 0, name: 'fashion-mnist-test' };

export interface DemoVerification {
  set: string;
  pairs: number;
  accuracy: number;
  std: number;
  auc: number;
  eer: number;
  tarAtFar: TarAtFar;
  rank1?: number;
  rank5?: number;
}

/** Evaluates the model the trainer hands over, writes <run>/eval.json and returns the summary's `verification`. */
export async function demoVerification(trainer: Trainer, set: EvalSetSpec = demoEvalSet): Promise<DemoVerification> {
  const model = await trainer.model();
  const report = await evaluateModel(model, { run: trainer.paths.dir, sets: [set], workers: trainer.config.workers }).finally(() => model.dispose());
  const r = report.sets[0];
  const v = r.verification;
  return {
    set: r.name,
    pairs: v.pairs,
    accuracy: v.accuracy,
    std: v.std,
    auc: v.auc,
    eer: v.eer,
    tarAtFar: v.tarAtFar,
    rank1: r.identification?.rank1,
    rank5: r.identification?.rank5,
  };
}
