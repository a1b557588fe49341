/**
 * Mixed precision, memory format and CUDA-graph options of training (TrainConfig), checked and
 * resolved into what the native trainer reads.
 */
import { lossScaleDefaults, trainDefaults } from '../config/defaults';
import { createError } from '../errors';

/** Autocast of the backbone's forward; master weights, optimizer state and the loss stay float32. */
export type Precision = 'fp32' | 'bf16' | 'fp16';

/** Dynamic loss scaling, PyTorch's GradScaler rules. */
export interface LossScaleConfig {
  /** Default 65536 (2^16). A scale above float32's range makes every step overflow. */
  initScale?: number;
  /** Scale *= growthFactor after growthInterval finite steps in a row. Default 2. */
  growthFactor?: number;
  /** Scale *= backoffFactor after a step whose gradients overflowed; that step is skipped. Default 0.5. */
  backoffFactor?: number;
  /** Default 2000. */
  growthInterval?: number;
}

export interface PrecisionConfig {
  /** Default 'fp32'. 'bf16' runs on the CPU and CUDA, 'fp16' on CUDA only. */
  precision?: Precision;
  /** Default: on for 'fp16' (true, or the scaler's settings), off otherwise; false turns it off. */
  lossScale?: boolean | LossScaleConfig;
  /** NHWC images and convolution weights. Default false. */
  channelsLast?: boolean;
  /**
   * Each batch norm of MobileFaceNet and IResNet with the PReLU and the residual add after it runs
   * as one fused pass, two sweeps forward and two backward, the batch norm's output recomputed
   * instead of stored: fewer passes over memory and less activation memory. CUDA kernels on the GPU,
   * vectorised loops on the CPU; the same math as the modules (checked against them in float64).
   * `Trainer.fusedNorm` says whether it is on (the small net has nothing to fuse). Default: on on
   * the CPU (measured faster there: `npm run bench -- train`), off on CUDA until it is measured on a
   * GPU.
   */
  fusedNorm?: boolean;
  /**
   * cuDNN times its convolution algorithms for each new shape and keeps the fastest, as PyTorch's
   * `torch.backends.cudnn.benchmark = true`: faster steps once the first batch of a shape has run.
   * A process-wide setting, applied when the Trainer is created. Default true.
   */
  cudnnBenchmark?: boolean;
  /**
   * TensorFloat-32 in cuDNN's convolutions and cuBLAS's float32 matrix products on NVIDIA GPUs from
   * Ampere on: float32 inputs rounded to 10 bits of mantissa inside the matrix units, faster, with
   * relative errors near 1e-3. Default: libtorch's (convolutions on, matrix products off, as
   * PyTorch's); false turns both off, true both on. A process-wide setting, applied when the Trainer
   * is created.
   */
  tf32?: boolean;
  /**
   * Capture the step in two CUDA graphs (forward and backward; update) after 3 eager warm-up steps,
   * and replay them: the host then launches two graphs per step instead of every kernel. Needs device
   * 'cuda', no process group and no focal or hm mining (E_CONFIG); with the loss scaler (fp16) the
   * scale is a device tensor and the host skips the update graph when the gradients overflowed.
   * A batch of another shape or another head config (SphereFace's annealed lambda) steps eagerly.
   * Default false.
   */
  cudaGraph?: boolean;
  /**
   * The captured step's code without capturing, on any device (each step reports `stepMode`
   * 'static'). For testing the graph's step against the usual one; no use in training. Default false.
   */
  staticStep?: boolean;
}

/** What the native trainer reads (absent lossScale: no scaler). */
export interface NativePrecisionOptions {
  precision: Precision;
  channelsLast: boolean;
  /** Undefined: the device's default (Trainer.create). */
  fusedNorm?: boolean;
  cudnnBenchmark: boolean;
  /** Undefined: libtorch's defaults. */
  tf32?: boolean;
  cudaGraph: boolean;
  staticStep: boolean;
  lossScale?: Required<LossScaleConfig>;
}

const precisions: readonly Precision[] = ['fp32', 'bf16', 'fp16'];

function flag(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw createError('E_CONFIG', `${name}: must be true or false, got ${String(value)}`, name);
  return value;
}

function positive(value: unknown, fallback: number, name: string, check: (v: number) => boolean, range: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) {
    throw createError('E_CONFIG', `lossScale.${name}: must be ${range}, got ${String(value)}`, name);
  }
  return value;
}

export function resolvePrecisionOptions(c: PrecisionConfig): NativePrecisionOptions {
  const precision = c.precision ?? trainDefaults.precision;
  if (!precisions.includes(precision)) {
    throw createError('E_CONFIG', `precision: must be one of ${precisions.join(', ')}, got ${String(precision)}`, 'precision');
  }
  const out: NativePrecisionOptions = {
    precision,
    channelsLast: flag(c.channelsLast, 'channelsLast'),
    fusedNorm: c.fusedNorm === undefined ? undefined : flag(c.fusedNorm, 'fusedNorm'),
    cudnnBenchmark: c.cudnnBenchmark === undefined ? trainDefaults.cudnnBenchmark : flag(c.cudnnBenchmark, 'cudnnBenchmark'),
    ...(c.tf32 === undefined ? {} : { tf32: flag(c.tf32, 'tf32') }),
    cudaGraph: flag(c.cudaGraph, 'cudaGraph'),
    staticStep: flag(c.staticStep, 'staticStep'),
  };
  const scale = c.lossScale ?? precision === 'fp16';
  if (scale === false) return out;
  if (scale !== true && (scale === null || typeof scale !== 'object')) {
    throw createError('E_CONFIG', `lossScale: must be true, false or an object, got ${String(scale)}`, 'lossScale');
  }
  const s: LossScaleConfig = scale === true ? {} : scale;
  for (const key of Object.keys(s)) {
    if (!Object.keys(lossScaleDefaults).includes(key)) {
      throw createError('E_CONFIG', `lossScale.${key}: unknown option (expected initScale, growthFactor, backoffFactor, growthInterval)`, key);
    }
  }
  out.lossScale = {
    initScale: positive(s.initScale, lossScaleDefaults.initScale, 'initScale', (v) => v > 0, 'a finite number > 0'),
    growthFactor: positive(s.growthFactor, lossScaleDefaults.growthFactor, 'growthFactor', (v) => v >= 1, 'a number >= 1'),
    backoffFactor: positive(s.backoffFactor, lossScaleDefaults.backoffFactor, 'backoffFactor', (v) => v > 0 && v < 1, 'a number in (0, 1)'),
    growthInterval: positive(s.growthInterval, lossScaleDefaults.growthInterval, 'growthInterval', (v) => Number.isInteger(v) && v >= 1, 'an integer >= 1'),
  };
  return out;
}
