/** npm run bench -- [loss | train ...]: runs the named benchmarks (all when none is named). */
import { benchLoss } from './loss';
import { benchScale } from './scale';
import { benchTrain } from './train';

const benches: Record<string, () => Promise<unknown>> = {
  loss: () => benchLoss(),
  train: () => benchTrain(),
  scale: () => benchScale(),
};

async function main() {
  const names = process.argv.slice(2);
  const unknown = names.filter((n) => !(n in benches));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(', ')}; available: ${Object.keys(benches).join(', ')}`);
    process.exit(2);
  }
  for (const name of names.length ? names : Object.keys(benches)) await benches[name]();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
