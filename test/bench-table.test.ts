/**
 * The GPU training benchmark's table (bench/train-gpu-table.ts): rows for every run, whether it
 * finished, failed or was not reached, with each mvface variant's ratio over each row.
 */
import { describe, expect, it } from 'vitest';
import type { TrainBenchResult } from '../lib/bench/train-bench';
import { type Measured, modelRows, type PyTorchRun } from '../bench/train-gpu-table';

const pytorch = (samplesPerSecond: number): PyTorchRun => ({ samplesPerSecond, stepMs: 1, peakBytes: 2 ** 30, warmupSeconds: 1, torch: '2.11' });
const mvface = (samplesPerSecond: number, over: Partial<TrainBenchResult> = {}) =>
  ({
    samplesPerSecond,
    peakMemory: { kind: 'cuda-allocated', bytes: 2 ** 31 },
    split: { nativeMs: 1, dataMs: 0, restMs: 0.2 },
    fusedNorm: false,
    graphSteps: 0,
    steps: 30,
    workers: 16,
    ...over,
  }) as TrainBenchResult;
const all = { graph: true, fused: true, loader: true, cuda: true, compile: true };
const variants = (m: Measured, options = all) => modelRows('case', m, options).map((r) => r.variant);

describe('GPU training table', () => {
  it('names each run that has not finished: not reached, failed, not run', () => {
    expect(variants({})).toEqual([
      'PyTorch eager: not reached',
      'PyTorch torch.compile: not reached',
      'mvface (GPU-generated batches, native step from Node; batch norm modules): not reached',
      'mvface, fed by the RecordIO JPEG loader (? decoding threads, pinned upload): not reached',
      'mvface, step in CUDA graphs (0 of ? timed steps replayed): not reached',
      'mvface, fused batch norm + PReLU + residual kernels: not reached',
      'mvface, fused batch norms, step in CUDA graphs (0 replayed): not reached',
    ]);
    const failed = variants({ eager: null, ours: null }, { ...all, compile: false, loader: false, graph: false, fused: false });
    expect(failed).toEqual([
      'PyTorch eager: FAILED (see the log)',
      'PyTorch torch.compile: not run (--no-compile)',
      'mvface (GPU-generated batches, native step from Node; batch norm modules): FAILED (see the log)',
    ]);
  });

  it("gives mvface's samples/s over each row's, and marks a fused run whose norms did not fuse", () => {
    const m: Measured = {
      eager: pytorch(80),
      compiled: pytorch(125),
      ours: mvface(100),
      graphed: mvface(120, { graphSteps: 30 }),
      fed: mvface(95),
      fused: mvface(110),
      fusedGraphed: mvface(150, { fusedNorm: true, graphSteps: 30 }),
    };
    const [eager, compiled, ours, fed, graphed, fused, fusedGraphed] = modelRows('case', m, all);
    expect(eager).toMatchObject({ samplesPerSecond: 80, peakMiB: 1024, 'mvface / this': 1.25, 'mvface graph / this': 1.5, 'fused + graph / this': 1.875 });
    expect(compiled).toMatchObject({ 'mvface / this': 0.8, 'mvface graph / this': 0.96, 'fused + graph / this': 1.2 });
    expect(ours).toMatchObject({ samplesPerSecond: 100, peakMiB: 2048, 'Node ms/step': 0.2, 'mvface / this': 1 });
    expect(fed).toMatchObject({ variant: 'mvface, fed by the RecordIO JPEG loader (16 decoding threads, pinned upload)', 'mvface / this': 100 / 95 });
    expect(graphed.variant).toBe('mvface, step in CUDA graphs (30 of 30 timed steps replayed)');
    expect(fused.variant).toBe('mvface, fused batch norm + PReLU + residual kernels: NOT FUSED (fusedNorm off)');
    expect(fusedGraphed).toMatchObject({ variant: 'mvface, fused batch norms, step in CUDA graphs (30 replayed)', 'fused + graph / this': 1 });
  });
});
