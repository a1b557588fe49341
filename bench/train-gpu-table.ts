/** The rows of bench/train-gpu.ts's table, from whatever runs have finished (a pure function, tested). */
import type { TrainBenchResult } from '../lib/bench/train-bench';
import type { Row } from './report';

export interface PyTorchRun {
  samplesPerSecond: number;
  stepMs: number;
  peakBytes: number;
  warmupSeconds: number;
  torch: string;
}

export const mib = (b: number | undefined) => (b === undefined ? undefined : Math.round(b / 2 ** 20));

/** One model's runs: absent = not reached (yet), null = failed (see the log). */
export interface Measured {
  eager?: PyTorchRun | null;
  compiled?: PyTorchRun | null;
  ours?: TrainBenchResult | null;
  graphed?: TrainBenchResult | null;
  fed?: TrainBenchResult | null;
  fused?: TrainBenchResult | null;
  fusedGraphed?: TrainBenchResult | null;
}

const status = (run: unknown, what: string) => (run === null ? `${what}: FAILED (see the log)` : run === undefined ? `${what}: not reached` : what);

/** The table's rows for one model, from whatever of its runs has finished. */
export function modelRows(name: string, m: Measured, options: { graph: boolean; fused: boolean; loader: boolean; cuda: boolean; compile: boolean }): Row[] {
  const rate = (r: { samplesPerSecond: number } | null | undefined) => r?.samplesPerSecond;
  const over = (a: number | undefined, b: number | undefined) => (a && b ? a / b : undefined);
  const ratios = (r: number | undefined) => ({
    'mvface / this': over(rate(m.ours), r),
    ...(options.graph && { 'mvface graph / this': over(rate(m.graphed), r) }),
    ...(options.fused && options.graph && { 'fused + graph / this': over(rate(m.fusedGraphed), r) }),
  });
  const ours = (run: TrainBenchResult | null | undefined, what: string): Row => ({
    case: name,
    variant: status(run, what),
    samplesPerSecond: rate(run),
    peakMiB: mib(run?.peakMemory.bytes),
    'Node ms/step': run?.split.restMs,
    ...ratios(rate(run)),
  });
  const rows: Row[] = [
    { case: name, variant: status(m.eager, 'PyTorch eager'), samplesPerSecond: rate(m.eager), peakMiB: mib(m.eager?.peakBytes), ...ratios(rate(m.eager)) },
    {
      case: name,
      variant: options.compile ? status(m.compiled, 'PyTorch torch.compile') : 'PyTorch torch.compile: not run (--no-compile)',
      samplesPerSecond: rate(m.compiled),
      peakMiB: mib(m.compiled?.peakBytes),
      ...ratios(rate(m.compiled)),
    },
    ours(m.ours, `mvface (${options.cuda ? 'GPU-generated' : 'synthetic'} batches, native step from Node; batch norm modules)`),
  ];
  if (options.loader) {
    const what = `mvface, fed by the RecordIO JPEG loader (${m.fed?.workers ?? '?'} decoding threads${options.cuda ? ', pinned upload' : ''})`;
    rows.push({
      case: name,
      variant: status(m.fed, what),
      samplesPerSecond: rate(m.fed),
      peakMiB: mib(m.fed?.peakMemory.bytes),
      'Node ms/step': m.fed?.split.restMs,
      'mvface / this': over(rate(m.ours), rate(m.fed)),
    });
  }
  if (options.graph)
    rows.push(ours(m.graphed, `mvface, step in CUDA graphs (${m.graphed?.graphSteps ?? 0} of ${m.graphed?.steps ?? '?'} timed steps replayed)`));
  // A run whose trainer did not turn the fused norms on is not a fused row.
  const fusedRow = (run: TrainBenchResult | null | undefined, what: string) => ours(run, run && !run.fusedNorm ? `${what}: NOT FUSED (fusedNorm off)` : what);
  if (options.fused) rows.push(fusedRow(m.fused, 'mvface, fused batch norm + PReLU + residual kernels'));
  if (options.fused && options.graph)
    rows.push(fusedRow(m.fusedGraphed, `mvface, fused batch norms, step in CUDA graphs (${m.fusedGraphed?.graphSteps ?? 0} replayed)`));
  return rows;
}
