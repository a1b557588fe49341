/** npm run bench -- heads: `mvface compare` with its default configuration, table saved under bench/results. */
import * as path from 'node:path';
import { runCompare } from '../lib/cli/compare';

export async function benchHeads(): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  const out = path.join(__dirname, '..', '..', 'bench', 'results', `heads-${date}.md`);
  const { table } = await runCompare({ seeds: '1,2,3', faces: 'data/compare-faces', runsDir: 'runs/compare', out });
  console.log(`\n${table}\nsaved ${path.relative(process.cwd(), out)}`);
}
