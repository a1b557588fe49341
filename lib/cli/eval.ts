/** The CLI's `eval` and `report` commands. */
import type { Command } from 'commander';
import { integerArg as integer, parseDataArg } from './args';
import { createError } from '../errors';
import type { EvalSetSpec } from '../eval/sets';
import { evaluate, evalFile, formatEvalTable } from '../eval/evaluate';
import { writeReport } from '../report/report';

interface EvalFlags {
  run: string;
  bin?: string[];
  pairs?: string;
  images?: string;
  data?: string[];
  pairsCount: number;
  seed: number;
  batchSize?: number;
  workers?: number;
  report?: boolean;
  resize?: boolean;
  landmarks?: string;
}

export function evalSets(f: Omit<EvalFlags, 'run'>): EvalSetSpec[] {
  if ((f.pairs === undefined) !== (f.images === undefined))
    throw createError('E_CONFIG', '--pairs and --images go together (LFW pairs.txt and its image folder)', f.pairs ? 'images' : 'pairs');
  if (f.landmarks !== undefined && f.pairs === undefined)
    throw createError('E_CONFIG', '--landmarks goes with --pairs and --images (the LFW images it aligns)', 'landmarks');
  const sets: EvalSetSpec[] = [
    ...(f.bin ?? []).map((path): EvalSetSpec => ({ kind: 'bin', path, ...(f.resize && { resize: true }) })),
    ...(f.pairs && f.images
      ? [
          {
            kind: 'lfw',
            pairs: f.pairs,
            images: f.images,
            ...(f.landmarks !== undefined && { landmarks: f.landmarks }),
            ...(f.resize && { resize: true }),
          } as const,
        ]
      : []),
    ...(f.data ?? []).map((d): EvalSetSpec => ({ kind: 'data', data: parseDataArg(d), pairs: f.pairsCount, seed: f.seed })),
  ];
  if (sets.length === 0) throw createError('E_CONFIG', 'eval: give --bin <file>, --pairs <pairs.txt> --images <dir>, or --data <spec>', 'sets');
  return sets;
}

async function evalCommand(f: EvalFlags): Promise<void> {
  const report = await evaluate({
    run: f.run,
    sets: evalSets(f),
    batchSize: f.batchSize,
    workers: f.workers,
    onSet: (r) => console.error(`mvface eval: ${r.name}: ${r.images} images in ${r.seconds.toFixed(1)} s`),
  });
  console.log(formatEvalTable(report.sets));
  console.error(`mvface eval: results in ${evalFile(f.run)}`);
  if (f.report) console.error(`mvface eval: report in ${(await writeReport(f.run)).index}`);
}

export function registerEvalCommands(p: Command): void {
  p.command('eval')
    .description('verification (10-fold accuracy, TAR@FAR, AUC, EER) and identification of a trained run; writes <run>/eval.json')
    .requiredOption('--run <dir>', 'run folder (runs/<name>)')
    .option('--bin <files...>', 'InsightFace verification sets (lfw.bin, cfp_fp.bin, agedb_30.bin)')
    .option('--pairs <file>', 'LFW pairs.txt (with --images)')
    .option('--images <dir>', 'LFW image folder: <dir>/<name>/<name>_0001.jpg')
    .option('--data <specs...>', 'labelled data (same syntax as train --data): pairs and a gallery/probe split drawn from it')
    .option('--pairs-count <n>', 'pairs drawn from --data, half same-class', integer, 6000)
    .option('--seed <n>', 'seed for the drawn pairs and split', integer, 0)
    .option('--batch-size <n>', 'images per native call', integer)
    .option('--workers <n>', 'native decoding threads', integer)
    .option('--landmarks <file>', 'with --pairs/--images: five landmarks per image (<path> x1 y1 ... x5 y5); each face is aligned to the model input')
    .option('--resize', 'resize whole .bin / LFW images to the model input (face models expect aligned crops: without this, other sizes are refused)')
    .option('--report', 'also write <run>/report/index.html')
    .action(evalCommand);
  p.command('report')
    .description('write <run>/report/index.html (+ .svg/.png charts): loss, lr, hard fraction, eval curves, ROC')
    .argument('<run>', 'run folder (runs/<name>)')
    .action(async (run: string) => {
      console.log((await writeReport(run)).index);
    });
}
