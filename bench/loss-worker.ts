/**
 * Measures one loss variant in a fresh process, so that its peak memory is its own:
 *   node dist/bench/loss-worker.js <fused|aten|floor> <B> <D> <C> <repeats>
 * Prints {"medianMs", "peakExtraBytes", "outputBytes"}: peak RSS above inputs and outputs.
 */
import { computeLoss, type HeadConfig } from '../lib/loss';
import { native } from '../lib/native';
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

function main() {
  const [variant, B, D, C, repeats] = [process.argv[2], ...process.argv.slice(3).map(Number)];
  const x = randomMatrix(B, D, 1);
  const w = randomMatrix(C, D, 2);
  const labels = Int32Array.from({ length: B }, (_, i) => (i * 7919) % C);
  let step: () => unknown;
  if (variant === 'floor') {
    normalizedRows(x);
    normalizedRows(w);
    step = () => native().gemmFloor(x, w);
  } else if (variant === 'fused' || variant === 'aten') {
    const path = variant === 'fused' ? 'fused' : 'reference';
    step = () => computeLoss(path, benchHead, x, w, labels);
  } else {
    throw new Error(`unknown variant ${variant}`);
  }
  step();
  const outputBytes = (B * D + C * D) * 4;
  const base = resetPeak();
  const kept = step();
  const peakExtraBytes = peakBytes() - base - outputBytes;
  void kept;
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ medianMs: median(times), peakExtraBytes, outputBytes }));
}

main();
