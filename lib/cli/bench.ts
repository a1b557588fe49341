/** `mvface bench train`: training throughput, peak memory and the input pipeline alone (lib/bench/train-bench.ts). */
import { type Command, Option } from 'commander';
import * as fs from 'node:fs';
import type { PipelineKind } from '../bench/bench-data';
import { benchTrainStep, mib, type TrainBenchResult, type TrainSource } from '../bench/train-bench';
import { headFromFlags, integerArg as integer, numberArg as number } from './args';
import type { Precision } from '../train/precision';

interface BenchTrainFlags {
  backbone: string;
  inputSize: number;
  batch?: number;
  precision?: Precision;
  device: 'cpu' | 'cuda' | 'auto';
  steps?: number;
  warmup?: number;
  head: string;
  classes: number;
  channelsLast?: boolean;
  fusedNorm?: boolean;
  cudaGraph?: boolean;
  sampleRate?: number;
  chunkClasses?: number;
  source: TrainSource;
  pipeline: PipelineKind;
  pipelineImages: number;
  workers?: number;
  memorySteps: number;
  json?: string;
}

export function formatTrainBench(r: TrainBenchResult): string {
  const lines = [
    `${r.backbone} ${r.inputSize}x${r.inputSize}, batch ${r.batch}, ${r.precision}, ${r.head}, ${r.classes} classes, ${r.device}${r.channelsLast ? ', channels-last' : ''}${r.fusedNorm ? ', fused batch norms' : ''}${r.cudaGraph ? `, CUDA graph (${r.graphSteps} of ${r.steps} timed steps replayed)` : ''}${r.sampleRate < 1 ? `, Partial FC r = ${r.sampleRate}` : ''}${r.chunkClasses > 0 ? `, chunks of ${r.chunkClasses} classes` : ''}, source ${r.device === 'cpu' && r.source === 'device' ? 'synthetic loader (CPU)' : r.source === 'device' ? 'generated on the GPU' : r.source === 'recordio' ? `RecordIO JPEGs (${r.workers} decoding threads)` : 'loader'}`,
    `  step:     ${r.samplesPerSecond.toFixed(1)} samples/s (${r.stepMs.toFixed(1)} ms/step over ${r.steps} steps after ${r.warmup})`,
    `  split:    native step ${r.split.nativeMs.toFixed(2)} ms, waiting for data ${r.split.dataMs.toFixed(2)} ms, the rest (Node, the TypeScript loop) ${r.split.restMs.toFixed(3)} ms = ${((100 * r.split.restMs) / r.stepMs).toFixed(2)}% of the step`,
    `  memory:   peak ${mib(r.peakMemory.bytes)} (${r.peakMemory.kind === 'cuda-allocated' ? 'CUDA caching allocator, max allocated' : 'host peak RSS'})`,
  ];
  if (r.pipeline) {
    lines.push(
      `  pipeline: ${r.pipeline.samplesPerSecond.toFixed(1)} samples/s alone (${r.pipeline.kind} JPEG decode + flip + normalise, ${r.pipeline.workers} threads) = ${r.pipeline.versusStep.toFixed(2)}x the step's consumption`,
    );
  }
  if (r.memoryCheck) {
    const m = r.memoryCheck;
    const device = m.deviceGrowthBytes === undefined ? '' : `, device allocated ${m.deviceGrowthBytes >= 0 ? '+' : ''}${mib(m.deviceGrowthBytes)}`;
    lines.push(`  long run: ${m.steps} steps, host RSS ${m.rssGrowthBytes >= 0 ? '+' : ''}${mib(m.rssGrowthBytes)}${device}: ${m.flat ? 'flat' : 'GROWING'}`);
  }
  return lines.join('\n');
}

export function registerBenchCommand(p: Command): void {
  const bench = p.command('bench').description('benchmarks');
  bench
    .command('train')
    .description('training samples/s and peak memory of one configuration, and the input pipeline alone')
    .option('--backbone <name>', 'mobilefacenet | iresnet18|34|50|100 | attention56', 'mobilefacenet')
    .option('--input-size <n>', 'input side in pixels', integer, 112)
    .option('--batch <n>', 'batch size (default 256 on CUDA, 32 on the CPU)', integer)
    .addOption(new Option('--precision <p>', 'autocast of the backbone (default bf16 on CUDA, fp32 on the CPU)').choices(['fp32', 'bf16', 'fp16']))
    .addOption(new Option('--device <device>', 'device').choices(['cpu', 'cuda', 'auto']).default('auto'))
    .option('--steps <n>', 'timed steps (default 50 on CUDA, 5 on the CPU)', integer)
    .option('--warmup <n>', 'untimed steps first (default 10 on CUDA, 2 on the CPU)', integer)
    .option('--head <type>', 'head type (mv-arc: adaptive, t 1.2, s 32, m 0.5)', 'mv-arc')
    .option('--classes <n>', 'classes', integer, 1000)
    .option('--channels-last', 'NHWC images and conv weights')
    .option('--fused-norm', 'fused batch norm + PReLU + residual passes (default on the CPU, off on CUDA)')
    .option('--no-fused-norm', 'batch norm, PReLU and residual add as separate modules')
    .option('--cuda-graph', 'capture the step in CUDA graphs (after 3 warm-up steps; CUDA only)')
    .option('--sample-rate <r>', "Partial FC: the batch's classes and this share of the others", number)
    .option('--chunk-classes <k>', "the head's loss over chunks of k classes", integer)
    .addOption(
      new Option(
        '--source <s>',
        'device: batches generated on the GPU (CPU: the synthetic loader); loader: the native loader on synthetic identities; recordio: the native loader decoding a generated RecordIO JPEG set (--pipeline-images, --classes)',
      )
        .choices(['device', 'loader', 'recordio'])
        .default('device'),
    )
    .addOption(
      new Option('--pipeline <kind>', 'the input pipeline alone on a generated JPEG set').choices(['recordio', 'imagefolder', 'none']).default('recordio'),
    )
    .option('--pipeline-images <n>', 'images in the generated set', integer, 4096)
    .option('--workers <n>', 'native decoding threads (default: every core)', integer)
    .option('--memory-steps <n>', 'a further run of n steps sampling host and device memory', integer, 0)
    .option('--json <file>', 'also write the result as JSON')
    .action(async (f: BenchTrainFlags) => {
      const head = f.head === 'mv-arc' ? undefined : headFromFlags({ head: f.head });
      const r = await benchTrainStep({
        backbone: f.backbone,
        inputSize: f.inputSize,
        batch: f.batch,
        precision: f.precision,
        device: f.device,
        steps: f.steps,
        warmup: f.warmup,
        head,
        classes: f.classes,
        channelsLast: f.channelsLast,
        fusedNorm: f.fusedNorm,
        cudaGraph: f.cudaGraph,
        sampleRate: f.sampleRate,
        chunkClasses: f.chunkClasses,
        source: f.source,
        pipeline: f.pipeline,
        pipelineImages: f.pipelineImages,
        workers: f.workers,
        memorySteps: f.memorySteps,
        log: (line) => console.error(line),
      });
      console.log(formatTrainBench(r));
      if (f.json) fs.writeFileSync(f.json, `${JSON.stringify(r, null, 2)}\n`);
      if (r.memoryCheck && !r.memoryCheck.flat) process.exitCode = 1;
    });
}
