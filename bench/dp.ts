/**
 * npm run bench -- dp: data-parallel training throughput on this machine's cores, from one run:
 * one process with every core against `mvface train --nproc 2` (each rank half the cores and half
 * the batch, so the same global batch), MobileFaceNet 112 x 112, mv-arc, synthetic identities.
 * The ratio shows what the gradient all-reduce and the second process cost (or gain) here; several
 * GPUs or machines are a different picture. Rounds alternate; the median per variant is reported.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from './memory';
import { printTable, type Row, saveResult } from './report';

const cli = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
const globalBatch = 32;
const steps = 12;

function config(runsDir: string, name: string): string {
  const file = path.join(runsDir, `${name}.json`);
  const classes = 100;
  fs.writeFileSync(
    file,
    JSON.stringify({
      name,
      runsDir,
      backbone: { name: 'mobilefacenet', embeddingSize: 512 },
      head: { type: 'mv-arc', mode: 'adaptive', easyMargin: true },
      data: { kind: 'synthetic', classes, perClass: Math.ceil((steps * globalBatch) / classes), height: 112, width: 112, channels: 3 },
      epochs: 1,
      optimizer: { lr: 0.01 },
      schedule: { type: 'constant' },
      flip: true,
      workers: 1,
      device: 'cpu',
    }),
  );
  return file;
}

/** Global samples/s of one `mvface train` run (per-rank throughput x ranks). */
function samplesPerSecond(file: string, nproc: number): number {
  const args = [cli, 'train', '--config', file, '--batch-size', String(globalBatch / nproc)];
  if (nproc > 1) args.push('--nproc', String(nproc));
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const result = JSON.parse(out) as { samplesPerSecond: number; steps: number };
  if (result.steps !== steps) throw new Error(`expected ${steps} steps, the run made ${result.steps}`);
  return result.samplesPerSecond * nproc;
}

export async function benchDataParallel(rounds = 3): Promise<Row[]> {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-dp-'));
  const cores = os.availableParallelism();
  const threads = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;
  const variants: Array<[string, number]> = [
    [`1 process, ${threads(cores)}, batch ${globalBatch}`, 1],
    [`--nproc 2, ${threads(Math.max(1, Math.floor(cores / 2)))} each, batch ${globalBatch / 2} each`, 2],
  ];
  const measured: number[][] = variants.map(() => []);
  try {
    for (let r = 0; r < rounds; r++) {
      variants.forEach(([, nproc], i) => {
        fs.rmSync(path.join(runsDir, `run${i}`), { recursive: true, force: true });
        measured[i].push(samplesPerSecond(config(runsDir, `run${i}`), nproc));
      });
    }
  } finally {
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
  const base = median(measured[0]);
  const rows: Row[] = variants.map(([variant], i) => ({
    case: `mobilefacenet 112x112x3, mv-arc, global batch ${globalBatch}, ${steps} steps`,
    variant,
    samplesPerSecond: Number(median(measured[i]).toFixed(1)),
    vsOneProcess: Number((median(measured[i]) / base).toFixed(3)),
  }));
  printTable(`data-parallel training on the CPU, ${cores} cores (median of ${rounds} alternating rounds; steps only, start-up excluded)`, rows);
  saveResult('dp', rows, { cores, globalBatch, steps, rounds });
  return rows;
}
