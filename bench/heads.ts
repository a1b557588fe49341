/** npm run bench -- heads [--preset gpu]: `mvface compare` with a preset, tables saved under bench/results. */
import * as path from 'node:path';
import { runCompareInterruptible } from '../lib/cli/compare';
import { type ComparePreset, comparePresets } from '../lib/experiments/compare-presets';
import { flagValue } from './argv';

export async function benchHeads(flags: string[] = []): Promise<void> {
  const asked = flagValue(flags, '--preset') ?? 'cpu';
  if (!(comparePresets as readonly string[]).includes(asked))
    throw new Error(`npm run bench -- heads: --preset takes ${comparePresets.join(' or ')}, got ${asked}`);
  const preset = asked as ComparePreset;
  const date = new Date().toISOString().slice(0, 10);
  const out = path.join(__dirname, '..', '..', 'bench', 'results', `heads-${preset}-${date}.md`);
  const started = Date.now();
  const { table, cancelled } = await runCompareInterruptible({ preset, faces: `data/compare-faces-${preset}`, runsDir: `runs/compare-${preset}`, out });
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  console.log(`\n${table}\n${cancelled ? 'stopped: run again to continue' : `saved ${path.relative(process.cwd(), out)}`} (${minutes} min)`);
}
