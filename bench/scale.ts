/**
 * npm run bench -- scale: the head (forward + backward) at C = 100k and 1M classes on the CPU, side by
 * side from one run: the whole head (one B x C buffer), the class-chunked head (B x 16k buffer) and
 * Partial FC at r = 0.1. Peak memory above inputs and outputs, each variant in its own process.
 * (10M classes need 20 GB for W alone: a GPU-machine case, see scripts/gpu-check.sh.)
 */
import * as path from 'node:path';
import { backendInfo } from '../lib/backend';
import { printTable, type Row, saveResult } from './report';
import { runJson } from './run-json';

export async function benchScale(options: { classes?: number[] } = {}): Promise<Row[]> {
  const B = 256;
  const D = 512;
  const threads = backendInfo().threads;
  const worker = path.join(__dirname, 'loss-worker.js');
  const names: Record<string, string> = { fused: 'whole head', chunked: 'chunked (16k classes per block)', pfc: 'Partial FC r = 0.1' };
  const rows: Row[] = [];
  for (const C of options.classes ?? [100_000, 1_000_000]) {
    const dims = [String(B), String(D), String(C)];
    const repeats = C > 500_000 ? 2 : 3;
    const times = runJson<Record<string, number>>(process.execPath, ['--expose-gc', worker, 'time', ...dims, String(repeats), ...Object.keys(names)], threads) ?? {};
    for (const v of Object.keys(names)) {
      const extra = runJson<{ peakExtraBytes: number }>(process.execPath, ['--expose-gc', worker, 'memory', v, ...dims], threads)?.peakExtraBytes;
      rows.push({
        case: `B=${B} D=${D} C=${C >= 1e6 ? `${C / 1e6}M` : `${C / 1e3}k`}`,
        variant: names[v],
        ms: times[v],
        vsWhole: times[v] !== undefined && times.fused ? times[v] / times.fused : undefined,
        extraMiB: extra !== undefined ? extra / 2 ** 20 : undefined,
        extraVsWhole: undefined,
      });
    }
    const block = rows.slice(-3);
    const whole = block[0].extraMiB as number | undefined;
    for (const r of block) r.extraVsWhole = whole && r.extraMiB !== undefined ? (r.extraMiB as number) / whole : undefined;
  }
  printTable(`head scaling on the CPU, ${threads} threads (time: median; extra: peak RSS above inputs (x, W) and outputs (gradients))`, rows);
  saveResult('scale', rows, { threads, B, D });
  return rows;
}
