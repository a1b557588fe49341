/**
 * npm run bench -- loss: forward+backward of the MV-Softmax head at B = 256, D = 512, C in {10k, 100k},
 * side by side from one run: the fused path, the ATen reference path, the GEMM floor (the three
 * GEMMs alone) and PyTorch eager (bench/baselines/loss_eager.py, Debian's python3-torch) at the same
 * thread count. Each variant runs in its own process so that its peak memory is its own.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { backendInfo } from '../lib/backend';
import { type Row, printTable, python, saveResult } from './report';

interface Measure {
  medianMs: number;
  peakExtraBytes: number;
}

function measure(cmd: string, args: string[], threads: number): Measure | undefined {
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      env: { ...process.env, MVFACE_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').pop()!);
  } catch (e) {
    console.error(`  ${path.basename(args[0])} ${args.slice(1).join(' ')} failed: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}

export async function benchLoss(options: { classes?: number[]; repeats?: number } = {}): Promise<Row[]> {
  const B = 256;
  const D = 512;
  const threads = backendInfo().threads;
  const worker = path.join(__dirname, 'loss-worker.js');
  const eager = path.join(__dirname, '..', '..', 'bench', 'baselines', 'loss_eager.py');
  const rows: Row[] = [];
  for (const C of options.classes ?? [10_000, 100_000]) {
    const repeats = options.repeats ?? (C > 50_000 ? 5 : 10);
    const bc = B * C * 4;
    const run = (variant: string) => measure(process.execPath, [worker, variant, String(B), String(D), String(C), String(repeats)], threads);
    const floor = run('floor');
    const variants: Array<[string, Measure | undefined]> = [
      ['GEMM floor (3 GEMMs)', floor],
      ['fused (mvface)', run('fused')],
      ['ATen reference path', run('aten')],
    ];
    const py = python();
    if (py) {
      variants.push(['PyTorch eager (FaceX-Zoo head)', measure(py, [eager, '--B', `${B}`, '--D', `${D}`, '--C', `${C}`, '--threads', `${threads}`, '--repeats', `${repeats}`], threads)]);
    }
    for (const [name, m] of variants) {
      rows.push({
        case: `B=${B} D=${D} C=${C / 1000}k`,
        variant: name,
        ms: m?.medianMs,
        vsFloor: m && floor ? m.medianMs / floor.medianMs : undefined,
        extraMiB: m ? m.peakExtraBytes / 2 ** 20 : undefined,
        extraBC: m ? m.peakExtraBytes / bc : undefined,
      });
    }
  }
  printTable(`loss forward+backward, ${threads} threads (time: median; extra: peak RSS above inputs and outputs, in MiB and in B x C float buffers)`, rows);
  saveResult('loss', rows, { threads, B, D });
  return rows;
}
