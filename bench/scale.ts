/**
 * npm run bench -- scale: the head (forward + backward) at C = 100k and 1M classes on the CPU, side by
 * side from one run: the whole head (one B x C buffer), the class-chunked head (B x 16k buffer) and
 * Partial FC at r = 0.1. Peak memory above inputs and outputs, each variant in its own process.
 * 10M classes at D = 512 need 20 GB for W and 20 GB for its gradient: on the CPU the 10M case runs at
 * D = 128 (5 GB each), chunked and Partial FC only (the whole head would add a 9.5 GiB B x C buffer);
 * its ratios are against the chunked head.
 */
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import { printTable, type Row, saveResult } from './report';
import { runJson } from './run-json';

interface ScaleCase {
  C: number;
  D: number;
  variants: string[];
}

const defaultCases: ScaleCase[] = [
  { C: 100_000, D: 512, variants: ['fused', 'chunked', 'pfc'] },
  { C: 1_000_000, D: 512, variants: ['fused', 'chunked', 'pfc'] },
  { C: 10_000_000, D: 128, variants: ['chunked', 'pfc'] },
];

export async function benchScale(options: { cases?: ScaleCase[] } = {}): Promise<Row[]> {
  const B = 256;
  const threads = backendInfo().threads;
  const worker = path.join(__dirname, 'loss-worker.js');
  const names: Record<string, string> = { fused: 'whole head', chunked: 'chunked (16k classes per block)', pfc: 'Partial FC r = 0.1' };
  const rows: Row[] = [];
  for (const { C, D, variants } of options.cases ?? defaultCases) {
    const dims = [String(B), String(D), String(C)];
    const repeats = C > 500_000 ? 2 : 3;
    const times = runJson<Record<string, number>>(process.execPath, ['--expose-gc', worker, 'time', ...dims, String(repeats), ...variants], threads) ?? {};
    const block: Row[] = [];
    for (const v of variants) {
      const extra = runJson<{ peakExtraBytes: number }>(process.execPath, ['--expose-gc', worker, 'memory', v, ...dims], threads)?.peakExtraBytes;
      block.push({
        case: `B=${B} D=${D} C=${C >= 1e6 ? `${C / 1e6}M` : `${C / 1e3}k`}`,
        variant: names[v],
        ms: times[v],
        vsBaseline: times[v] !== undefined && times[variants[0]] ? times[v] / times[variants[0]] : undefined,
        extraMiB: extra !== undefined ? extra / 2 ** 20 : undefined,
        extraVsBaseline: undefined,
      });
    }
    const base = block[0].extraMiB as number | undefined;
    for (const r of block) r.extraVsBaseline = base && r.extraMiB !== undefined ? (r.extraMiB as number) / base : undefined;
    rows.push(...block);
  }
  printTable(
    `head scaling on the CPU, ${threads} threads (time: median; extra: peak RSS above inputs (x, W) and outputs (gradients); vsBaseline: against the first variant of each case, the whole head where it fits)`,
    rows,
  );
  saveResult('scale', rows, { threads, B });
  return rows;
}
