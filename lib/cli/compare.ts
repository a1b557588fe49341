/** mvface compare: train the heads on the same data and seeds, evaluate on held-out identities. */
import type { Command } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type CompareCell, compareHeads, defaultCompareConfig, defaultHeads, ensureFaces, formatCompareTable } from '../experiments/compare';
import { createError } from '../errors';

interface CompareFlags {
  large?: boolean;
  seeds?: string;
  heads?: string;
  faces: string;
  runsDir: string;
  out?: string;
}

export async function runCompare(f: CompareFlags, signal?: AbortSignal): Promise<{ cells: CompareCell[]; table: string }> {
  const { config, faces } = defaultCompareConfig({ large: f.large, facesRoot: f.faces, runsDir: f.runsDir });
  if (f.seeds) config.seeds = f.seeds.split(',').map(Number);
  if (f.heads) {
    const wanted = f.heads.split(',');
    config.heads = defaultHeads.filter((h) => wanted.includes(h.name.replace(/\s+/g, '-')));
    if (config.heads.length !== wanted.length) {
      throw createError('E_CONFIG', `heads: expected names among ${defaultHeads.map((h) => h.name.replace(/\s+/g, '-')).join(', ')}`, 'heads');
    }
  }
  process.stderr.write(`mvface compare: generating ${faces.identities} identities x ${faces.imagesPerIdentity} faces at ${faces.size}px in ${faces.root}\n`);
  await ensureFaces(faces);
  const total = config.datasets.reduce((n, d) => n + (d.seeds ?? config.seeds).length, 0) * config.heads.length;
  let done = 0;
  const cells = await compareHeads(config, {
    signal,
    onCell: (c) =>
      process.stderr.write(
        `[${++done}/${total}] ${c.dataset.split(',')[0]} | ${c.head} | seed ${c.seed}: accuracy ${(100 * c.accuracy).toFixed(2)}%, rank-1 ${c.rank1 === null ? 'n/a' : (100 * c.rank1).toFixed(2)}% (${c.seconds.toFixed(0)} s)\n`,
      ),
  });
  const table = formatCompareTable(cells);
  if (f.out) {
    fs.mkdirSync(path.dirname(f.out), { recursive: true });
    fs.writeFileSync(f.out, `${table}\n`);
    fs.writeFileSync(`${f.out.replace(/\.md$/, '')}.json`, JSON.stringify({ config, faces, cells }, null, 2));
  }
  return { cells, table };
}

export function registerCompareCommand(p: Command): void {
  p.command('compare')
    .description('train softmax, am, arc and MV-Softmax heads on the same data and seeds; evaluate on held-out identities')
    .option('--large', 'the GPU configuration (112px faces, MobileFaceNet)')
    .option('--seeds <list>', 'comma-separated seeds', '1,2,3')
    .option('--heads <list>', `comma-separated subset of ${defaultHeads.map((h) => h.name.replace(/\s+/g, '-')).join(',')}`)
    .option('--faces <dir>', 'where the synthetic faces are (generated if missing)', 'data/compare-faces')
    .option('--runs-dir <dir>', 'folder of the runs', 'runs/compare')
    .option('--out <file.md>', 'also write the table (and a .json with every cell)')
    .action(async (f: CompareFlags) => {
      const { table } = await runCompare(f);
      console.log(table);
    });
}
