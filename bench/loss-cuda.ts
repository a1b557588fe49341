/**
 * The loss benchmark on a GPU (node dist/bench/loss.js --device cuda; scripts/gpu-check.sh runs it):
 * forward+backward of the MV-Softmax head at B = 512, D = 512, C in {100k, 1M, 10M}, side by side from
 * one run: the fused CUDA path, whole and class-chunked (65536 classes per chunk, chunkClasses), and
 * the GEMM floor (bench/loss-worker.ts, device-resident data, the CUDA caching allocator's peak),
 * PyTorch eager and torch.compile of the FaceX-Zoo head
 * (bench/baselines/loss_eager.py --device cuda [--compile]; up to 1M classes: at 10M its B x C
 * buffers, 20 GB each, exceed the card). A variant whose estimated memory (lossMemoryBytes) exceeds
 * the card's free memory is skipped, and the table says so. Writes
 * bench/results/gpu-loss-<date>-<card>.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import { native } from '../lib/native/addon';
import type { LossBenchOptions } from './loss';
import { formatTable, printTable, python, type Row } from './report';
import { runJson } from './run-json';

interface Timed {
  ms?: number;
  peakExtraBytes?: number;
  skipped?: string;
}

type Variant = 'fused' | 'chunked' | 'floor' | 'eager' | 'compile';
const chunk = 65536;

/**
 * The device memory a variant needs at B x D x C, float32, estimated: x, W and their gradients, and
 * the variant's own buffers (the fused path one B x C buffer, the chunked one B x 65536 twice, the
 * GEMM floor logits and their gradient, PyTorch's head about six B x C temporaries).
 */
export function lossMemoryBytes(variant: Variant, B: number, D: number, C: number): number {
  const io = 2 * (B * D + C * D) * 4;
  const bc = B * C * 4;
  const own = { fused: bc, chunked: 2 * B * Math.min(C, chunk) * 4, floor: 2 * bc, eager: 6 * bc, compile: 4 * bc }[variant];
  return io + own;
}

// The share of the free memory a variant may plan to use: the rest for the CUDA context's growth,
// the allocator's rounding and fragmentation.
const usable = 0.9;

/** Why a variant is skipped on a card with `freeBytes` free, or undefined when it fits. */
export function fits(variant: Variant, dims: Dims, freeBytes: number): string | undefined {
  const need = lossMemoryBytes(variant, dims.B, dims.D, dims.C);
  if (need <= usable * freeBytes) return undefined;
  return `skipped: needs about ${(need / 2 ** 30).toFixed(0)} GiB, ${(freeBytes / 2 ** 30).toFixed(0)} GiB free`;
}

interface PyTorchRun {
  medianMs: number;
  peakExtraBytes: number;
  torch: string;
  matmulPrecision: string;
}

const eagerScript = path.join(__dirname, '..', '..', 'bench', 'baselines', 'loss_eager.py');

type Dims = { B: number; D: number; C: number; threads?: number };

function pytorch(py: string, dims: Dims, repeats: number, compile: boolean): PyTorchRun | undefined {
  const { B, D, C, threads } = dims;
  const args = [eagerScript, '--B', `${B}`, '--D', `${D}`, '--C', `${C}`, '--threads', `${threads ?? 1}`, '--repeats', `${repeats}`, '--device', 'cuda'];
  return runJson<PyTorchRun>(py, compile ? [...args, '--compile'] : args, threads ?? 1, 150_000);
}

function mvface(dims: Dims, repeats: number, freeBytes: number): Record<string, Timed> {
  const variants = (['fused', 'chunked', 'floor'] as const).filter((v) => !fits(v, dims, freeBytes));
  const skipped = Object.fromEntries((['fused', 'chunked', 'floor'] as const).map((v) => [v, { skipped: fits(v, dims, freeBytes) }]));
  if (variants.length === 0) return skipped;
  const worker = path.join(__dirname, 'loss-worker.js');
  const args = [worker, 'time', `${dims.B}`, `${dims.D}`, `${dims.C}`, `${repeats}`, ...variants, '--device', 'cuda'];
  return { ...skipped, ...runJson<Record<string, Timed>>(process.execPath, args, dims.threads ?? 1, 120_000) };
}

function caseRows(label: string, measured: Array<[string, Timed | undefined]>, bufferBytes: number): Row[] {
  const floor = measured.find(([name]) => name.startsWith('GEMM floor'))?.[1]?.ms;
  const fused = measured.find(([name]) => name.startsWith('fused'))?.[1]?.ms;
  return measured.map(([variant, t]) => ({
    case: label,
    variant,
    ms: t?.ms,
    vsFloor: t?.ms !== undefined && floor ? t.ms / floor : undefined,
    vsFused: t?.ms !== undefined && fused ? t.ms / fused : undefined,
    extraMiB: t?.peakExtraBytes !== undefined ? t.peakExtraBytes / 2 ** 20 : undefined,
    extraBC: t?.peakExtraBytes !== undefined ? t.peakExtraBytes / bufferBytes : undefined,
    ...(t?.skipped ? { note: t.skipped } : {}),
  }));
}

function saveGpuResult(rows: Row[], card: string, settings: Record<string, unknown>): string {
  const dir = path.join(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const slug = card
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const file = path.join(dir, `gpu-loss-${date}-${slug}.md`);
  const text =
    `# GPU loss benchmark, ${date}\n\nCard: ${card}. Settings: ${JSON.stringify(settings)}.\n\n` +
    "Forward+backward, median ms; vsFloor and vsFused: time over the GEMM floor's and over the fused path's; " +
    "extra: the CUDA caching allocator's peak above inputs and outputs, in MiB and in B x C float32 buffers.\n\n" +
    `${formatTable(rows)}\n`;
  fs.writeFileSync(file, text);
  console.log(`saved ${path.relative(process.cwd(), file)}`);
  return file;
}

export async function benchLossCuda(options: LossBenchOptions): Promise<Row[]> {
  const info = backendInfo();
  if (!info.cudaAvailable) throw new Error('--device cuda: backendInfo().cudaAvailable is false (no CUDA build or no device)');
  const B = options.batch ?? 512;
  const D = 512;
  const py = python();
  const rows: Row[] = [];
  let torchInfo: PyTorchRun | undefined;
  const freeBytes = native().cudaMemoryStats().deviceFreeBytes;
  for (const C of options.classes ?? [100_000, 1_000_000, 10_000_000]) {
    const repeats = options.repeats ?? (C > 5_000_000 ? 5 : C > 500_000 ? 10 : 20);
    const dims = { B, D, C, threads: info.threads };
    const mv = mvface(dims, repeats, freeBytes);
    const torchRun = (variant: 'eager' | 'compile'): Timed | undefined => {
      if (!py || C > 1_000_000) return undefined;
      const skipped = fits(variant, dims, freeBytes);
      if (skipped) return { skipped };
      const r = pytorch(py, dims, repeats, variant === 'compile');
      torchInfo ??= r;
      return r && { ms: r.medianMs, peakExtraBytes: r.peakExtraBytes };
    };
    const eager = torchRun('eager');
    const compiled = torchRun('compile');
    const measured: Array<[string, Timed | undefined]> = [
      ['fused (mvface)', mv.fused],
      ['chunked fused (65536 classes per chunk)', mv.chunked],
      ['GEMM floor (3 GEMMs)', mv.floor],
      ['PyTorch eager (FaceX-Zoo head)', eager],
      ['torch.compile (same head)', compiled],
    ];
    rows.push(...caseRows(`B=${B} D=${D} C=${C >= 1e6 ? `${C / 1e6}M` : `${C / 1e3}k`}`, measured, B * C * 4));
  }
  const card = info.cudaDevices[0] ?? 'unknown GPU';
  const settings = { B, D, libtorch: info.libtorchVersion, torch: torchInfo?.torch, matmulPrecision: torchInfo?.matmulPrecision };
  saveGpuResult(rows, card, settings);
  printTable(`loss forward+backward on ${card} (median ms; extra: allocator peak above inputs and outputs)`, rows);
  return rows;
}
