/**
 * Measures loss variants (fused | aten | floor) for bench/loss.ts: peak memory in a fresh process
 * per variant, and time with the variants interleaved round by round, so that the machine's noise
 * hits them alike. With --device cuda (fused | floor): device-resident random data, time and the
 * CUDA caching allocator's peak measured natively in one process.
 */
import { computeLoss, type HeadConfig, resolveHeadConfig } from '../lib/loss/margin-loss';
import { native } from '../lib/native/addon';
import { median, peakBytes, resetPeak } from './memory';

/** The head benchmarked everywhere: FaceX-Zoo's MV-Softmax (arc, adaptive t = 1.2, easy margin). */
export const benchHead: HeadConfig = { type: 'mv-arc', mode: 'adaptive', t: 1.2, scale: 32, margin: 0.5, easyMargin: true };

function randomMatrix(rows: number, cols: number, seed: number) {
  const data = new Float32Array(rows * cols);
  let s = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s / 4294967296 - 0.5;
  }
  return { data, rows, cols };
}

function normalizedRows(m: ReturnType<typeof randomMatrix>) {
  for (let r = 0; r < m.rows; r++) {
    const row = m.data.subarray(r * m.cols, (r + 1) * m.cols);
    const n = Math.hypot(...row);
    for (let d = 0; d < row.length; d++) row[d] /= n;
  }
  return m;
}

/** Classes per block of the chunked variant (bench/scale.ts). */
export const scaleChunk = 16384;

interface Inputs {
  x: ReturnType<typeof randomMatrix>;
  w: ReturnType<typeof randomMatrix>;
  labels: Int32Array;
}

function inputs(B: number, D: number, C: number): Inputs {
  return { x: randomMatrix(B, D, 1), w: randomMatrix(C, D, 2), labels: Int32Array.from({ length: B }, (_, i) => (i * 7919) % C) };
}

// The variants share the inputs (the floor normalises them in place, which changes no loss).
function stepFor(variant: string, { x, w, labels }: Inputs): () => unknown {
  if (variant === 'floor') {
    normalizedRows(x);
    normalizedRows(w);
    return () => native().gemmFloor(x, w);
  }
  if (variant === 'fused' || variant === 'aten') {
    const path = variant === 'fused' ? 'fused' : 'reference';
    return () => computeLoss(path, benchHead, x, w, labels);
  }
  if (variant === 'chunked') return () => computeLoss('fused', benchHead, x, w, labels, { chunkClasses: scaleChunk });
  if (variant === 'pfc') return () => computeLoss('fused', benchHead, x, w, labels, { sampleRate: 0.1, sampleSeed: 1 });
  throw new Error(`unknown variant ${variant}`);
}

/** memory <variant> B D C: peak RSS of one step above inputs and outputs. */
function memory(variant: string, B: number, D: number, C: number) {
  const step = stepFor(variant, inputs(B, D, C));
  step();
  (globalThis as { gc?: () => void }).gc?.();
  const outputBytes = (B * D + C * D) * 4;
  const base = resetPeak();
  const kept = step();
  const peakExtraBytes = peakBytes() - base - outputBytes;
  void kept;
  console.log(JSON.stringify({ peakExtraBytes, outputBytes }));
}

/** time B D C repeats <variants...>: the variants interleaved round by round, median per variant. */
function time(B: number, D: number, C: number, repeats: number, variants: string[]) {
  const shared = inputs(B, D, C);
  const steps = variants.map((v) => stepFor(v, shared));
  // Results (gradients as large as W) are dropped before the next step; --expose-gc frees them.
  const collect = (globalThis as { gc?: () => void }).gc ?? (() => {});
  for (const s of steps) {
    s();
    collect();
  }
  const times: number[][] = variants.map(() => []);
  for (let r = 0; r < repeats; r++) {
    steps.forEach((step, i) => {
      const t0 = process.hrtime.bigint();
      step();
      times[i].push(Number(process.hrtime.bigint() - t0) / 1e6);
      collect();
    });
  }
  console.log(JSON.stringify(Object.fromEntries(variants.map((v, i) => [v, median(times[i])]))));
}

/** time B D C repeats <variants...> --device cuda: { variant: { ms, peakExtraBytes } }. */
function timeCuda(B: number, D: number, C: number, repeats: number, variants: string[]) {
  const timed = native().cudaLossBench(resolveHeadConfig(benchHead), { B, D, C, repeats, variants: variants as Array<'fused' | 'chunked' | 'floor'> });
  console.log(JSON.stringify(Object.fromEntries(timed.map((t) => [t.name, { ms: t.medianMs, peakExtraBytes: t.peakExtraBytes }]))));
}

const argv = process.argv.slice(2);
const deviceAt = argv.indexOf('--device');
const device = deviceAt >= 0 ? argv.splice(deviceAt, 2)[1] : 'cpu';
const [mode, ...args] = argv;
const sizes = args.slice(0, 4).map(Number);
if (mode === 'time' && device === 'cuda') timeCuda(sizes[0], sizes[1], sizes[2], sizes[3], args.slice(4));
else if (device !== 'cpu') throw new Error(`--device ${device}: only 'time' runs on cuda`);
else if (mode === 'memory') memory(args[0], Number(args[1]), Number(args[2]), Number(args[3]));
else if (mode === 'time') time(sizes[0], sizes[1], sizes[2], sizes[3], args.slice(4));
else throw new Error('usage: loss-worker memory <variant> B D C | time B D C repeats <variants...> [--device cuda]');
