/**
 * npm run bench -- loss: forward+backward of the MV-Softmax head at B = 256, D = 512, C in {10k, 100k},
 * side by side from one run: the fused path, the ATen reference path, the GEMM floor (the three
 * GEMMs alone) and PyTorch eager (bench/baselines/loss_eager.py, Debian's python3-torch) at the same
 * thread count. Times: fused, ATen and floor interleaved in one process (median); the PyTorch
 * baseline in its own. Peak memory: each variant in its own process.
 *
 * node dist/bench/loss.js --device cuda: the same on a GPU (bench/loss-cuda.ts) at B = 512,
 * C in {100k, 1M}, against PyTorch eager and torch.compile.
 */
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import { flagValue } from './argv';
import { benchLossCuda } from './loss-cuda';
import { type Row, printTable, python, saveResult } from './report';
import { runJson } from './run-json';

export interface LossBenchOptions {
  classes?: number[];
  repeats?: number;
  device?: 'cpu' | 'cuda';
  batch?: number;
}

export async function benchLoss(options: LossBenchOptions = {}): Promise<Row[]> {
  if (options.device === 'cuda') return benchLossCuda(options);
  const B = 256;
  const D = 512;
  const threads = backendInfo().threads;
  const worker = path.join(__dirname, 'loss-worker.js');
  const eager = path.join(__dirname, '..', '..', 'bench', 'baselines', 'loss_eager.py');
  const rows: Row[] = [];
  const names: Record<string, string> = { floor: 'GEMM floor (3 GEMMs)', fused: 'fused (mvface)', aten: 'ATen reference path' };
  for (const C of options.classes ?? [10_000, 100_000]) {
    const repeats = options.repeats ?? (C > 50_000 ? 5 : 10);
    const dims = [String(B), String(D), String(C)];
    const times =
      runJson<Record<string, number>>(process.execPath, ['--expose-gc', worker, 'time', ...dims, String(repeats), 'floor', 'fused', 'aten'], threads) ?? {};
    const measured: Array<{ name: string; ms?: number; extra?: number }> = Object.keys(names).map((v) => ({
      name: names[v],
      ms: times[v],
      extra: runJson<{ peakExtraBytes: number }>(process.execPath, ['--expose-gc', worker, 'memory', v, ...dims], threads)?.peakExtraBytes,
    }));
    const py = python();
    if (py) {
      const e = runJson<{ medianMs: number; peakExtraBytes: number }>(
        py,
        [eager, '--B', `${B}`, '--D', `${D}`, '--C', `${C}`, '--threads', `${threads}`, '--repeats', `${repeats}`],
        threads,
      );
      measured.push({ name: 'PyTorch eager (FaceX-Zoo head)', ms: e?.medianMs, extra: e?.peakExtraBytes });
    }
    const floor = times.floor;
    for (const m of measured) {
      rows.push({
        case: `B=${B} D=${D} C=${C / 1000}k`,
        variant: m.name,
        ms: m.ms,
        vsFloor: m.ms !== undefined && floor ? m.ms / floor : undefined,
        extraMiB: m.extra !== undefined ? m.extra / 2 ** 20 : undefined,
        extraBC: m.extra !== undefined ? m.extra / (B * C * 4) : undefined,
      });
    }
  }
  printTable(`loss forward+backward, ${threads} threads (time: median; extra: peak RSS above inputs and outputs, in MiB and in B x C float buffers)`, rows);
  saveResult('loss', rows, { threads, B, D });
  return rows;
}

/** node dist/bench/loss.js [--device cuda] [--batch B] [--classes 100000,1000000] [--repeats n] */
export function lossOptionsFromArgv(argv: string[]): LossBenchOptions {
  const value = (flag: string) => flagValue(argv, flag);
  const numbers = (v?: string) => v?.split(',').map(Number);
  return {
    device: value('--device') === 'cuda' ? 'cuda' : 'cpu',
    batch: numbers(value('--batch'))?.[0],
    classes: numbers(value('--classes')),
    repeats: numbers(value('--repeats'))?.[0],
  };
}

if (require.main === module) {
  benchLoss(lossOptionsFromArgv(process.argv.slice(2))).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
