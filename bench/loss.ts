/**
 * npm run bench -- loss: forward+backward of the MV-Softmax head at B = 256, D = 512, C in {10k, 100k},
 * side by side from one run: the fused path, the ATen reference path, the GEMM floor (the three
 * GEMMs alone) and PyTorch eager (bench/baselines/loss_eager.py, Debian's python3-torch) at the same
 * thread count. Times: fused, ATen and floor interleaved in one process (median); the PyTorch
 * baseline in its own. Peak memory: each variant in its own process.
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { backendInfo } from '../lib/backend';
import { type Row, printTable, python, saveResult } from './report';

// Large blocks always mmapped and returned on free, so that peak RSS above the baseline is the
// step's own memory rather than what the allocator kept from the warm-up step.
const mallocEnv = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };

function runJson<T>(cmd: string, args: string[], threads: number): T | undefined {
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      env: { ...process.env, ...mallocEnv, MVFACE_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').pop()!) as T;
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
  const names: Record<string, string> = { floor: 'GEMM floor (3 GEMMs)', fused: 'fused (mvface)', aten: 'ATen reference path' };
  for (const C of options.classes ?? [10_000, 100_000]) {
    const repeats = options.repeats ?? (C > 50_000 ? 5 : 10);
    const dims = [String(B), String(D), String(C)];
    const times = runJson<Record<string, number>>(process.execPath, [worker, 'time', ...dims, String(repeats), 'floor', 'fused', 'aten'], threads) ?? {};
    const measured: Array<{ name: string; ms?: number; extra?: number }> = Object.keys(names).map((v) => ({
      name: names[v],
      ms: times[v],
      extra: runJson<{ peakExtraBytes: number }>(process.execPath, [worker, 'memory', v, ...dims], threads)?.peakExtraBytes,
    }));
    const py = python();
    if (py) {
      const e = runJson<{ medianMs: number; peakExtraBytes: number }>(py, [eager, '--B', `${B}`, '--D', `${D}`, '--C', `${C}`, '--threads', `${threads}`, '--repeats', `${repeats}`], threads);
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
