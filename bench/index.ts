/**
 * npm run bench -- [loss | train | norm | train-head | scale | dp | heads | embed ...] [--device cpu|cuda] [flags]:
 * runs the named benchmarks; with none, loss, train and scale (heads, the 5-seed head comparison, takes
 * about 45 minutes: name it; `heads --preset gpu` is its GPU size). Where the addon sees a CUDA device, loss and train run their GPU
 * tables (bench/loss-cuda.ts, bench/train-gpu.ts) and norm the fused batch norm's (bench/norm-gpu.ts),
 * with the flags after the names (e.g. --no-compile --memory-steps 500); --device cpu keeps the CPU ones.
 */
import { backendInfo } from '../lib/native/backend';
import { benchDataParallel } from './dp';
import { benchEmbed } from './embed';
import { benchHeads } from './heads';
import { benchLoss, lossOptionsFromArgv } from './loss';
import { benchNormGpu } from './norm-gpu';
import { type BenchPlan, planBenches } from './plan';
import { benchScale } from './scale';
import { benchTrain } from './train';
import { benchTrainGpu } from './train-gpu';
import { benchTrainHead } from './train-head';

const cpu: Record<string, (flags: string[]) => Promise<unknown>> = {
  loss: () => benchLoss(),
  train: () => benchTrain(),
  scale: () => benchScale(),
  dp: () => benchDataParallel(),
  heads: (flags) => benchHeads(flags),
  'train-head': () => benchTrainHead(),
  embed: () => benchEmbed(),
};

const gpu: Record<string, (flags: string[]) => Promise<unknown>> = {
  loss: (flags) => benchLoss({ ...lossOptionsFromArgv(flags), device: 'cuda' }),
  train: (flags) => benchTrainGpu(flags),
  norm: async (flags) => benchNormGpu(flags),
};

async function main() {
  let plan: BenchPlan;
  try {
    plan = planBenches(process.argv.slice(2), backendInfo().cudaAvailable);
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  for (const name of plan.names) {
    if (plan.device === 'cuda' && name in gpu) await gpu[name](plan.flags);
    else await cpu[name](plan.flags);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
