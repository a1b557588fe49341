/** npm run bench -- heads [--preset gpu]: `mvface compare` with a preset, tables saved under bench/results. */
import * as fs from 'node:fs';
import * as os from 'node:os';
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
  const { table, cancelled, kept, cells } = await runCompareInterruptible({
    preset,
    faces: `data/compare-faces-${preset}`,
    runsDir: `runs/compare-${preset}`,
    out,
  });
  const minutes = ((Date.now() - started) / 60000).toFixed(1);
  if (!cancelled) {
    const earlier = kept > 0 ? ` (${kept} of the ${cells.length} results came from an earlier, stopped run)` : '';
    const machine = `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'unknown CPU'}`;
    const header = `# Head comparison, preset ${preset}, ${date}\n\nCommand: \`npm run bench -- heads --preset ${preset}\`. Wall time ${minutes} min on ${machine}${earlier}.\n\n`;
    fs.writeFileSync(out, header + fs.readFileSync(out, 'utf8'));
  }
  console.log(`\n${table}\n${cancelled ? 'stopped: run again to continue' : `saved ${path.relative(process.cwd(), out)}`} (${minutes} min)`);
}
