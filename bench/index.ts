/**
 * npm run bench -- [loss | train | train-head | scale | dp | heads ...]: runs the named benchmarks; with none, loss,
 * train and scale (heads, the 3-seed head comparison, takes about half an hour: name it).
 */
import { benchDataParallel } from './dp';
import { benchHeads } from './heads';
import { benchLoss } from './loss';
import { benchScale } from './scale';
import { benchTrain } from './train';
import { benchTrainHead } from './train-head';

const benches: Record<string, () => Promise<unknown>> = {
  loss: () => benchLoss(),
  train: () => benchTrain(),
  scale: () => benchScale(),
  dp: () => benchDataParallel(),
  heads: () => benchHeads(),
  'train-head': () => benchTrainHead(),
};

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; available: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  for (const name of names.length ? names : ['loss', 'train', 'scale']) await benches[name]();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
