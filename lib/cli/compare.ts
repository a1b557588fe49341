/** mvface compare: train the heads on the same data and seeds, evaluate on held-out identities, pair each MV head with its baseline. */
import * as crypto from 'node:crypto';
import { type Command, Option } from 'commander';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type CompareCell,
  type CompareConfig,
  compareHeads,
  defaultHeads,
  ensureFaces,
  type FacesSetup,
  formatCompareTable,
  formatPairedTable,
} from '../experiments/compare';
import { type ComparePreset, comparePreset, comparePresets } from '../experiments/compare-presets';
import { createError } from '../errors';

export interface CompareFlags {
  preset?: ComparePreset;
  seeds?: string;
  heads?: string;
  faces: string;
  runsDir: string;
  out?: string;
}

export interface CompareOutcome {
  cells: CompareCell[];
  table: string;
  /** The run stopped on the signal: `cells` holds what was finished, kept for the next run. */
  cancelled: boolean;
  /** Cells taken from the journal of an earlier run. */
  kept: number;
}

const headKey = (name: string): string => name.replace(/\s+/g, '-');

function selectHeads(config: CompareConfig, list: string): void {
  const wanted = list.split(',');
  config.heads = defaultHeads.filter((h) => wanted.includes(headKey(h.name)));
  if (config.heads.length !== wanted.length) {
    throw createError('E_CONFIG', `heads: expected names among ${defaultHeads.map((h) => headKey(h.name)).join(', ')}, got ${list}`, 'heads');
  }
}

function parseSeeds(list: string): number[] {
  const seeds = list.split(',').map(Number);
  if (seeds.some((s) => !Number.isInteger(s) || s < 0)) throw createError('E_CONFIG', `seeds: expected non-negative integers, got ${list}`, 'seeds');
  return seeds;
}

/**
 * Finished cells are appended to <runsDir>/compare-cells.jsonl, each with a key of the configuration
 * and face set, so a run that was stopped (or crashed) continues where it was.
 */
export class CellJournal {
  readonly file: string;
  private readonly key: string;

  constructor(config: CompareConfig, faces: FacesSetup) {
    const { runsDir, heads, seeds, ...rest } = config;
    this.key = crypto.createHash('sha256').update(JSON.stringify({ rest, faces })).digest('hex').slice(0, 16);
    this.file = path.join(runsDir, 'compare-cells.jsonl');
  }

  read(): CompareCell[] {
    if (!fs.existsSync(this.file)) return [];
    const lines = fs.readFileSync(this.file, 'utf8').split('\n').filter(Boolean);
    const entries = lines.flatMap((line) => {
      try {
        return [JSON.parse(line) as { key: string; cell: CompareCell }];
      } catch {
        return []; // a line cut short by a kill
      }
    });
    return entries.filter((e) => e.key === this.key).map((e) => e.cell);
  }

  /** A line of its own: the leading newline ends a line a kill cut short (read() skips blank lines). */
  append(cell: CompareCell): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.appendFileSync(this.file, `\n${JSON.stringify({ key: this.key, cell })}\n`);
  }
}

function formatProgress(done: number, total: number, c: CompareCell): string {
  const pct = (x: number | null): string => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
  return `[${done}/${total}] ${c.head} | seed ${c.seed}: accuracy ${pct(c.accuracy)}, TAR@1e-4 ${pct(c.tar1e4)}, rank-1 ${pct(c.rank1)} (${c.seconds.toFixed(0)} s)\n`;
}

export async function runCompare(f: CompareFlags, signal?: AbortSignal): Promise<CompareOutcome> {
  const { config, faces } = comparePreset(f.preset ?? 'cpu', { facesRoot: path.resolve(f.faces), runsDir: path.resolve(f.runsDir) });
  if (f.seeds) config.seeds = parseSeeds(f.seeds);
  if (f.heads) selectHeads(config, f.heads);
  process.stderr.write(
    `mvface compare: ${faces.identities} identities x ${faces.imagesPerIdentity} faces at ${faces.size}px (families of ${faces.familySize}) in ${faces.root}\n`,
  );
  await ensureFaces(faces);
  const journal = new CellJournal(config, faces);
  const done = journal.read();
  const total = config.datasets.reduce((n, d) => n + (d.seeds ?? config.seeds).length, 0) * config.heads.length;
  if (done.length > 0) process.stderr.write(`mvface compare: ${done.length} results kept from an earlier run (${journal.file})\n`);
  let count = done.length;
  let cells: CompareCell[] = [];
  let cancelled = false;
  try {
    cells = await compareHeads(config, {
      signal,
      done,
      onCell: (c) => {
        journal.append(c);
        process.stderr.write(formatProgress(++count, total, c));
      },
    });
  } catch (e) {
    if (!signal?.aborted) throw e;
    cancelled = true;
    cells = journal.read();
  }
  const table = `${formatPairedTable(cells, config.heads)}\n${formatCompareTable(cells)}`;
  if (f.out && !cancelled) {
    fs.mkdirSync(path.dirname(f.out), { recursive: true });
    fs.writeFileSync(f.out, `${table}\n`);
    fs.writeFileSync(`${f.out.replace(/\.md$/, '')}.json`, JSON.stringify({ preset: f.preset ?? 'cpu', config, faces, cells }, null, 2));
  }
  return { cells, table, cancelled, kept: done.length };
}

/** Aborts on SIGINT or SIGTERM; finished cells stay in the journal. */
export async function runCompareInterruptible(f: CompareFlags): Promise<CompareOutcome> {
  const controller = new AbortController();
  const stop = (sig: NodeJS.Signals): void => {
    process.stderr.write(`\nmvface compare: ${sig}: stopping; run the same command again to continue\n`);
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    return await runCompare(f, controller.signal);
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

export function registerCompareCommand(p: Command): void {
  p.command('compare')
    .description('train am, arc and the MV-Softmax heads on the same data and seeds; evaluate on held-out identities; pair each MV head with its baseline')
    .addOption(
      new Option('--preset <name>', 'cpu: 32px faces, 1,000 training identities, small net (about 45 min on 2 cores); gpu: 112px, MobileFaceNet')
        .choices([...comparePresets])
        .default('cpu'),
    )
    .option('--seeds <list>', 'comma-separated seeds (default 1,2,3,4,5)')
    .option('--heads <list>', `comma-separated subset of ${defaultHeads.map((h) => headKey(h.name)).join(',')}`)
    .option('--faces <dir>', 'where the synthetic faces are (generated if missing)', 'data/compare-faces')
    .option('--runs-dir <dir>', 'folder of the runs and of the results journal (a stopped run continues from it)', 'runs/compare')
    .option('--out <file.md>', 'also write the tables (and a .json with every cell)')
    .action(async (f: CompareFlags) => {
      const { table, cancelled } = await runCompareInterruptible(f);
      console.log(table);
      if (cancelled) process.exitCode = 130;
    });
}
