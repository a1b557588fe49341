/**
 * `mvface bench train`: training throughput (samples/s) and peak memory of one configuration
 * (backbone, batch, precision, device), the input pipeline alone (JPEG decode + flip + normalise on
 * native threads, from a RecordIO set or an ImageFolder) in samples/s next to what the step
 * consumes, and optionally a long run that samples host RSS and device memory for flatness.
 * Peak memory: on CUDA the caching allocator's most allocated bytes; on the CPU the peak RSS.
 */
import { benchDataSet, type PipelineKind, pipelineSamplesPerSecond } from './bench-data';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo } from '../native/backend';
import type { BackboneConfig } from '../model/backbones';
import type { DataSpec } from '../data/loader';
import { createError } from '../errors';
import type { HeadConfig } from '../loss/margin-loss';
import { native } from '../native/addon';
import type { Precision } from '../train/precision';
import { type StepInfo, Trainer } from '../train/trainer';

export type TrainSource = 'device' | 'loader' | 'recordio';
const sources: readonly TrainSource[] = ['device', 'loader', 'recordio'];

export interface TrainBenchOptions {
  /** Default 'mobilefacenet'. */
  backbone?: string;
  /** Default 112. */
  inputSize?: number;
  /** Default 256 on CUDA, 32 on the CPU. */
  batch?: number;
  /** Default 'bf16' on CUDA, 'fp32' on the CPU. */
  precision?: Precision;
  /** Default 'auto'. */
  device?: 'cpu' | 'cuda' | 'auto';
  /** Timed steps; default 50 on CUDA, 5 on the CPU. */
  steps?: number;
  /** Untimed steps first (at least 1); default 10 on CUDA, 2 on the CPU. */
  warmup?: number;
  /** Default mv-arc (adaptive, t 1.2, s 32, m 0.5). */
  head?: HeadConfig;
  /** Default 1000. */
  classes?: number;
  channelsLast?: boolean;
  /** The fused batch norms (TrainConfig.fusedNorm). Default: the trainer's (on on the CPU, off on CUDA). */
  fusedNorm?: boolean;
  /** Capture the step in CUDA graphs (TrainConfig.cudaGraph; CUDA only). Default false. */
  cudaGraph?: boolean;
  /** TrainConfig.sampleRate (Partial FC). Default 1. */
  sampleRate?: number;
  /** TrainConfig.chunkClasses. Default 0. */
  chunkClasses?: number;
  /**
   * 'device': batches generated on the GPU (pure compute; on the CPU the ordinary synthetic
   * source). 'loader': the native loader on synthetic identities. 'recordio': the native loader
   * on a generated RecordIO set of `pipelineImages` JPEGs in `classes` identities (decoding, flip,
   * normalise and, on CUDA, the pinned upload, all overlapped with the step). Default 'device'.
   */
  source?: TrainSource;
  /** The input pipeline alone, on a generated JPEG set. Default 'recordio'. */
  pipeline?: PipelineKind;
  /** Images in the generated set (the epoch the pipeline is timed over). Default 4096. */
  pipelineImages?: number;
  /** Where generated sets are kept between runs. Default <tmpdir>/mvface-bench. */
  dataDir?: string;
  /** Native decoding threads. Default: every core. */
  workers?: number;
  /** A further run of this many steps sampling host and device memory (0: none). Default 0. */
  memorySteps?: number;
  /** Progress lines on stderr. */
  log?: (line: string) => void;
}

export interface MemorySample {
  step: number;
  rssBytes: number;
  /** CUDA only: the caching allocator's allocated bytes. */
  deviceBytes?: number;
}

export interface MemoryCheck {
  steps: number;
  samples: MemorySample[];
  /** Last sample minus the first sample taken after 10% of the steps. */
  rssGrowthBytes: number;
  deviceGrowthBytes?: number;
  /** RSS grew by less than max(64 MiB, 2%) and device memory by less than 1 MiB. */
  flat: boolean;
}

export interface PipelineResult {
  kind: Exclude<PipelineKind, 'none'>;
  images: number;
  workers: number;
  samplesPerSecond: number;
  /** The pipeline's samples/s over the step's: above 1, decoding keeps up with training. */
  versusStep: number;
}

export interface TrainBenchResult {
  device: 'cpu' | 'cuda';
  backbone: string;
  inputSize: number;
  batch: number;
  precision: Precision;
  head: string;
  classes: number;
  channelsLast: boolean;
  /** The fused batch norms ran (`Trainer.fusedNorm`): asked for, with a backbone that has them. */
  fusedNorm: boolean;
  cudaGraph: boolean;
  sampleRate: number;
  chunkClasses: number;
  source: TrainSource;
  /** The loader's decoding threads (sources 'loader' and 'recordio'). */
  workers: number;
  steps: number;
  warmup: number;
  samplesPerSecond: number;
  stepMs: number;
  /**
   * Where a timed step's time went, in ms: the native step (forward, loss, backward, update; on CUDA
   * until its loss was read), waiting for the loader, and the rest: Node and the TypeScript loop.
   */
  split: { nativeMs: number; dataMs: number; restMs: number };
  peakMemory: { kind: 'cuda-allocated' | 'host-rss'; bytes: number };
  pipeline?: PipelineResult;
  memoryCheck?: MemoryCheck;
  /** Timed steps that replayed CUDA graphs (all of them when cudaGraph took effect). */
  graphSteps: number;
}

const defaultHead: HeadConfig = { type: 'mv-arc', mode: 'adaptive', t: 1.2, scale: 32, margin: 0.5 };

function statusBytes(field: 'VmRSS' | 'VmHWM'): number {
  try {
    const line = fs
      .readFileSync('/proc/self/status', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`${field}:`));
    return line ? Number(line.split(/\s+/)[1]) * 1024 : process.memoryUsage().rss;
  } catch {
    return process.memoryUsage().rss;
  }
}

function resetPeakRss(): void {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    /* not Linux or not permitted: the peak then includes earlier work */
  }
}

function cudaStats(reset = false): { allocatedBytes: number; peakAllocatedBytes: number } {
  return native().cudaMemoryStats(reset);
}

function positiveInteger(value: number, name: string, min = 1): number {
  if (!Number.isInteger(value) || value < min) throw createError('E_CONFIG', `${name}: must be an integer >= ${min}, got ${value}`, name);
  return value;
}

interface Resolved extends Required<Omit<TrainBenchOptions, 'log' | 'device' | 'fusedNorm'>> {
  device: 'cpu' | 'cuda';
  fusedNorm?: boolean; // undefined: the trainer's default
  log: (line: string) => void;
}

function resolve(o: TrainBenchOptions): Resolved {
  const info = backendInfo();
  const device = o.device === undefined || o.device === 'auto' ? (info.cudaAvailable ? 'cuda' : 'cpu') : o.device;
  if (device === 'cuda' && !info.cudaAvailable) {
    throw createError(
      'E_CONFIG',
      `device: 'cuda' asked for, but this build or machine has no CUDA (${info.builtWithCuda ? 'no device visible' : 'a CPU libtorch build'})`,
      'device',
    );
  }
  const gpu = device === 'cuda';
  const r: Resolved = {
    backbone: o.backbone ?? 'mobilefacenet',
    inputSize: o.inputSize ?? 112,
    batch: o.batch ?? (gpu ? 256 : 32),
    precision: o.precision ?? (gpu ? 'bf16' : 'fp32'),
    device,
    steps: o.steps ?? (gpu ? 50 : 5),
    warmup: o.warmup ?? (gpu ? 10 : 2),
    head: o.head ?? defaultHead,
    classes: o.classes ?? 1000,
    channelsLast: o.channelsLast ?? false,
    fusedNorm: o.fusedNorm,
    cudaGraph: o.cudaGraph ?? false,
    sampleRate: o.sampleRate ?? 1,
    chunkClasses: o.chunkClasses ?? 0,
    source: o.source ?? 'device',
    pipeline: o.pipeline ?? 'recordio',
    pipelineImages: o.pipelineImages ?? 4096,
    dataDir: o.dataDir ?? path.join(os.tmpdir(), 'mvface-bench'),
    workers: o.workers ?? os.cpus().length,
    memorySteps: o.memorySteps ?? 0,
    log: o.log ?? (() => undefined),
  };
  positiveInteger(r.batch, 'batch');
  positiveInteger(r.steps, 'steps');
  positiveInteger(r.warmup, 'warmup');
  positiveInteger(r.classes, 'classes', 2);
  positiveInteger(r.pipelineImages, 'pipelineImages');
  positiveInteger(r.workers, 'workers');
  positiveInteger(r.memorySteps, 'memorySteps', 0);
  if (!['recordio', 'imagefolder', 'none'].includes(r.pipeline))
    throw createError('E_CONFIG', `pipeline: recordio, imagefolder or none, got ${String(r.pipeline)}`, 'pipeline');
  if (!sources.includes(r.source)) throw createError('E_CONFIG', `source: ${sources.join(', ')}, got ${String(r.source)}`, 'source');
  return r;
}

/** Runs `total` steps; onStep(info) after each, then a checkpoint-free stop. Returns whether the fused batch norms ran. */
async function trainSteps(r: Resolved, total: number, onStep: (s: StepInfo) => void): Promise<{ fusedNorm: boolean }> {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-train-'));
  const perClass = Math.max(1, Math.ceil(((total + 1) * r.batch) / r.classes));
  const backbone: BackboneConfig = { name: r.backbone, inputSize: r.inputSize, inChannels: 3, embeddingSize: 512 } as BackboneConfig;
  // One epoch holds every step (an epoch's end writes a checkpoint, which is not the step's time).
  const data: DataSpec =
    r.source === 'recordio'
      ? benchDataSet('recordio', Math.max(r.pipelineImages, (total + 1) * r.batch, r.classes), r.inputSize, r.dataDir, r.classes) // every class seen
      : { kind: 'synthetic', classes: r.classes, perClass, height: r.inputSize, width: r.inputSize, channels: 3 };
  const trainer = await Trainer.create({
    name: 'bench',
    runsDir,
    backbone,
    head: r.head,
    data,
    numClasses: r.classes,
    epochs: 1,
    batchSize: r.batch,
    optimizer: { lr: 0.01 },
    schedule: { type: 'constant' },
    flip: true,
    workers: r.workers,
    device: r.device,
    precision: r.precision,
    channelsLast: r.channelsLast,
    fusedNorm: r.fusedNorm,
    cudaGraph: r.cudaGraph,
    sampleRate: r.sampleRate,
    chunkClasses: r.chunkClasses,
    syntheticOnDevice: r.source === 'device',
  });
  const controller = new AbortController();
  const fusedNorm = trainer.fusedNorm;
  try {
    await trainer.fit({
      signal: controller.signal,
      onStep: (s) => {
        onStep(s);
        if (s.step >= total) controller.abort();
      },
    });
  } finally {
    trainer.dispose();
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
  return { fusedNorm };
}

export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

function memoryLine(s: MemorySample): string {
  return `host RSS ${mib(s.rssBytes)}${s.deviceBytes === undefined ? '' : `, device allocated ${mib(s.deviceBytes)}`}`;
}

async function memoryCheck(r: Resolved): Promise<MemoryCheck> {
  const every = Math.max(1, Math.floor(r.memorySteps / 20));
  const samples: MemorySample[] = [];
  await trainSteps(r, r.memorySteps, ({ step }) => {
    if (step % every !== 0 && step !== r.memorySteps) return;
    const sample: MemorySample = { step, rssBytes: statusBytes('VmRSS'), ...(r.device === 'cuda' && { deviceBytes: cudaStats().allocatedBytes }) };
    samples.push(sample);
    r.log(`bench train: memory at step ${step} of ${r.memorySteps}: ${memoryLine(sample)}`);
  });
  const from = samples.find((s) => s.step >= r.memorySteps * 0.1) ?? samples[0];
  const last = samples[samples.length - 1];
  const rssGrowthBytes = last.rssBytes - from.rssBytes;
  const deviceGrowthBytes = last.deviceBytes === undefined ? undefined : last.deviceBytes - (from.deviceBytes ?? 0);
  const flat = rssGrowthBytes < Math.max(64 * 2 ** 20, 0.02 * from.rssBytes) && (deviceGrowthBytes === undefined || deviceGrowthBytes < 2 ** 20);
  return { steps: r.memorySteps, samples, rssGrowthBytes, ...(deviceGrowthBytes !== undefined && { deviceGrowthBytes }), flat };
}

export async function benchTrainStep(options: TrainBenchOptions = {}): Promise<TrainBenchResult> {
  const r = resolve(options);
  const gpu = r.device === 'cuda';
  r.log(
    `bench train: ${r.backbone} ${r.inputSize}x${r.inputSize}, batch ${r.batch}, ${r.precision}, ${r.head.type}, ${r.device}, ${r.warmup} + ${r.steps} steps`,
  );
  let start = 0n;
  let end = 0n;
  let peak = 0;
  let graphSteps = 0;
  let nativeSeconds = 0;
  let dataSeconds = 0;
  const ran = await trainSteps(r, r.warmup + r.steps, ({ step, stepMode, ...s }) => {
    if (step > r.warmup) {
      graphSteps += stepMode === 'graph' ? 1 : 0;
      nativeSeconds += s.nativeSeconds;
      dataSeconds += s.dataSeconds;
    }
    if (step === r.warmup) {
      if (gpu) cudaStats(true);
      else resetPeakRss();
      start = process.hrtime.bigint();
    }
    if (step === r.warmup + r.steps) {
      end = process.hrtime.bigint();
      peak = gpu ? cudaStats().peakAllocatedBytes : statusBytes('VmHWM');
    }
  });
  const seconds = Number(end - start) / 1e9;
  const samplesPerSecond = (r.steps * r.batch) / Math.max(seconds, 1e-9);
  const result: TrainBenchResult = {
    device: r.device,
    backbone: r.backbone,
    inputSize: r.inputSize,
    batch: r.batch,
    precision: r.precision,
    head: r.head.type,
    classes: r.classes,
    channelsLast: r.channelsLast,
    fusedNorm: ran.fusedNorm,
    cudaGraph: r.cudaGraph,
    sampleRate: r.sampleRate,
    chunkClasses: r.chunkClasses,
    source: r.source,
    workers: r.workers,
    steps: r.steps,
    warmup: r.warmup,
    samplesPerSecond,
    stepMs: (1000 * seconds) / r.steps,
    split: {
      nativeMs: (1000 * nativeSeconds) / r.steps,
      dataMs: (1000 * dataSeconds) / r.steps,
      restMs: (1000 * (seconds - nativeSeconds - dataSeconds)) / r.steps,
    },
    peakMemory: { kind: gpu ? 'cuda-allocated' : 'host-rss', bytes: peak },
    graphSteps,
  };
  if (r.pipeline !== 'none') {
    r.log(`bench train: input pipeline alone (${r.pipeline}, ${r.pipelineImages} JPEGs, ${r.workers} threads)`);
    const spec = benchDataSet(r.pipeline, r.pipelineImages, r.inputSize, r.dataDir);
    const rate = await pipelineSamplesPerSecond(spec, Math.min(r.batch, r.pipelineImages), r.workers);
    result.pipeline = { kind: r.pipeline, images: r.pipelineImages, workers: r.workers, samplesPerSecond: rate, versusStep: rate / samplesPerSecond };
  }
  if (r.memorySteps > 0) {
    r.log(`bench train: memory over ${r.memorySteps} steps`);
    result.memoryCheck = await memoryCheck(r);
  }
  return result;
}
