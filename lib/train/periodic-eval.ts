/** Evaluation during training: chosen sets every N steps, each result one {event: 'eval'} log record. */
import type { EmbedFn, ImageShape } from '../eval/flip-embeddings';
import { createError } from '../errors';
import type { EvalSetSpec } from '../eval/sets';
import { type EvalSetResult, type PreparedEvalSet, prepareEvalSet, runEvalSet } from '../eval/score-set';

export interface TrainEvalConfig {
  /** Evaluate every `every` training steps. */
  every: number;
  sets: EvalSetSpec[];
  /** Images per native call. Default 256. */
  batchSize?: number;
}

export function checkTrainEvalConfig(c: TrainEvalConfig): void {
  if (c === null || typeof c !== 'object') throw createError('E_CONFIG', 'eval: must be { every, sets }', 'eval');
  if (!Number.isInteger(c.every) || c.every < 1) throw createError('E_CONFIG', `eval.every: must be an integer >= 1, got ${String(c.every)}`, 'eval.every');
  if (!Array.isArray(c.sets) || c.sets.length === 0) throw createError('E_CONFIG', 'eval.sets: must be a non-empty array of eval set specs', 'eval.sets');
}

/** The flat log record of one result. */
export function evalLogRecord(step: number, r: EvalSetResult): Record<string, unknown> {
  const v = r.verification;
  return {
    event: 'eval',
    step,
    name: r.name,
    accuracy: v.accuracy,
    std: v.std,
    bestThreshold: v.bestThreshold,
    auc: v.auc,
    eer: v.eer,
    tarAtFar: v.tarAtFar,
    ...(r.identification && { rank1: r.identification.rank1, rank5: r.identification.rank5 }),
    seconds: r.seconds,
  };
}

export class TrainEval {
  private prepared: PreparedEvalSet[] | undefined;

  constructor(
    private readonly config: TrainEvalConfig,
    private readonly embed: EmbedFn,
    private readonly input: ImageShape,
    private readonly workers?: number,
  ) {
    checkTrainEvalConfig(config);
  }

  /** At every `every`-th step: evaluates each set (decoded once, on first use) and logs it. */
  async maybeRun(step: number, log: { write(record: Record<string, unknown>): void }): Promise<EvalSetResult[]> {
    if (step % this.config.every !== 0) return [];
    this.prepared ??= await Promise.all(this.config.sets.map((s) => prepareEvalSet(s, this.input)));
    const results: EvalSetResult[] = [];
    for (const set of this.prepared) {
      const r = await runEvalSet(this.embed, set, { batchSize: this.config.batchSize, workers: this.workers });
      log.write(evalLogRecord(step, r));
      results.push(r);
    }
    return results;
  }
}
