/**
 * The margin-softmax family (docs/loss.md): typed configs with their defaults, and the fused
 * native loss with its gradients.
 */
import { checkConfig, headSchema, lossOptionsSchema } from '../config/schema';
import { headDefaults, type MvMode } from '../config/defaults';
import { createError } from '../errors';
import { type Matrix, toLabels } from './matrix';
import { native } from '../native/addon';
import type { NativeLossConfig, NativeLossOptions, NativeLossResult, NativeMatrix } from '../native/types';

export { headDefaults, type MvMode };

/** Mining baselines over any head's logits: focal loss (gamma) or HM-Softmax (keep the hardest `ratio`). */
export type Mining = { type: 'focal'; gamma?: number } | { type: 'hm'; ratio?: number };

/** The options the scaled heads (am, arc, combined, mv-am, mv-arc) share. */
export interface ScaledHeadConfig {
  /** s, default 32. */
  scale?: number;
  /** tau = g > 0 ? mu(g) : g, the authors' easy margin. */
  easyMargin?: boolean;
  mining?: Mining;
}

export type HeadConfig =
  | { type: 'softmax'; mining?: Mining }
  | ({ type: 'am'; margin?: number } & ScaledHeadConfig)
  | ({ type: 'arc'; margin?: number } & ScaledHeadConfig)
  | ({ type: 'combined'; m1?: number; m2?: number; m3?: number } & ScaledHeadConfig)
  | ({ type: 'mv-am' | 'mv-arc'; margin?: number; mode?: MvMode; t?: number } & ScaledHeadConfig)
  | {
      type: 'sphereface';
      /** Integer angular margin, default 4. */
      m?: number;
      /** lambda; by default annealed from `iteration` as the authors do. */
      lambda?: number;
      iteration?: number;
      lambdaBase?: number;
      lambdaGamma?: number;
      lambdaPower?: number;
      lambdaMin?: number;
      mining?: Mining;
    }
  | { type: 'focal'; gamma?: number; base?: HeadConfig }
  | { type: 'hm'; ratio?: number; base?: HeadConfig };

export type HeadType = HeadConfig['type'];

export interface LossResult {
  /** Mean loss over the batch. */
  loss: number;
  /** d loss / d embeddings, B x D row-major. */
  gradEmbeddings: Float32Array;
  /** d loss / d weight, C x D row-major. */
  gradWeight: Float32Array;
  /** Share of the negatives flagged mis-classified (MV types; 0 otherwise). */
  hardFraction: number;
  meanTargetCos: number;
}

const baseTypes = ['softmax', 'am', 'arc', 'combined', 'mv-am', 'mv-arc', 'sphereface'];

function opt(value: unknown, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw createError('E_CONFIG', `${name}: must be a finite number, got ${String(value)}`, name);
  }
  return value;
}

/** The annealed lambda of SphereFace: max(lambdaMin, base * (1 + gamma * iteration)^-power). */
export function sphereLambda(c: Extract<HeadConfig, { type: 'sphereface' }>): number {
  const d = headDefaults.sphereface;
  if (c.lambda !== undefined) return opt(c.lambda, 0, 'lambda');
  const it = opt(c.iteration, d.iteration, 'iteration');
  const base = opt(c.lambdaBase, d.lambdaBase, 'lambdaBase');
  const gamma = opt(c.lambdaGamma, d.lambdaGamma, 'lambdaGamma');
  const power = opt(c.lambdaPower, d.lambdaPower, 'lambdaPower');
  return Math.max(opt(c.lambdaMin, d.lambdaMin, 'lambdaMin'), base * (1 + gamma * it) ** -power);
}

function withMining(config: HeadConfig): { head: HeadConfig; mining?: Mining } {
  if (config.type === 'focal') return { head: config.base ?? { type: 'softmax' }, mining: { type: 'focal', gamma: config.gamma } };
  if (config.type === 'hm') return { head: config.base ?? { type: 'softmax' }, mining: { type: 'hm', ratio: config.ratio } };
  return { head: config, mining: config.mining };
}

/** Fills in the documented defaults. Range checks happen natively and name the option at fault. */
export function resolveHeadConfig(config: HeadConfig): NativeLossConfig {
  if (config === null || typeof config !== 'object') throw createError('E_CONFIG', 'config: must be an object', 'config');
  const { head, mining } = withMining(config);
  if (!head || !baseTypes.includes(head.type)) {
    const got = head && (head as { type?: unknown }).type;
    throw createError('E_CONFIG', `type: unknown head type '${String(got)}' (expected ${[...baseTypes, 'focal', 'hm'].join(', ')})`, 'type');
  }
  checkConfig(headSchema, config, 'head');
  const d = headDefaults;
  const h = head as Record<string, unknown>;
  const arcLike = head.type === 'arc' || head.type === 'mv-arc';
  const mode = (h.mode ?? d.mode) as MvMode;
  if (mode !== 'fixed' && mode !== 'adaptive') throw createError('E_CONFIG', `mode: must be 'fixed' or 'adaptive', got ${String(mode)}`, 'mode');
  if (mining && mining.type !== 'focal' && mining.type !== 'hm') {
    throw createError('E_CONFIG', `mining: unknown mining '${String((mining as { type?: unknown }).type)}' (expected focal or hm)`, 'mining');
  }
  return {
    type: head.type,
    scale: opt(h.scale, d.scale, 'scale'),
    margin: opt(h.margin, arcLike ? d.arcMargin : d.amMargin, 'margin'),
    m1: opt(h.m1, d.combined.m1, 'm1'),
    m2: opt(h.m2, d.combined.m2, 'm2'),
    m3: opt(h.m3, d.combined.m3, 'm3'),
    mode,
    t: opt(h.t, d.t[mode], 't'),
    easyMargin: h.easyMargin === true,
    sphereM: head.type === 'sphereface' ? opt(head.m, d.sphereface.m, 'm') : d.sphereface.m,
    sphereLambda: head.type === 'sphereface' ? sphereLambda(head) : 0,
    mining: mining?.type ?? 'none',
    focalGamma: mining?.type === 'focal' ? opt(mining.gamma, d.focalGamma, 'gamma') : d.focalGamma,
    hmRatio: mining?.type === 'hm' ? opt(mining.ratio, d.hmRatio, 'ratio') : d.hmRatio,
  };
}

type DataType = Float32ArrayConstructor | Float64ArrayConstructor;

function checkMatrix(m: Matrix, argument: string, dtypes: DataType[] = [Float32Array]): NativeMatrix {
  if (m === null || typeof m !== 'object') throw createError('E_SHAPE', `${argument}: expected { data, rows, cols }`, argument);
  if (!dtypes.some((t) => m.data instanceof t)) {
    throw createError('E_SHAPE', `${argument}: data must be a ${dtypes.map((t) => t.name).join(' or ')}`, argument);
  }
  return m as NativeMatrix;
}

type Args = [NativeLossConfig, NativeMatrix, NativeMatrix, Int32Array];

function args(config: HeadConfig, embeddings: Matrix, weight: Matrix, labels: ArrayLike<number>, dtypes?: DataType[]): Args {
  return [resolveHeadConfig(config), checkMatrix(embeddings, 'embeddings', dtypes), checkMatrix(weight, 'weight', dtypes), toLabels(labels)];
}

/** Where the loss runs. */
export interface LossOptions {
  /**
   * 'cpu' (default) or 'cuda': the typed arrays are copied to the GPU and the gradients back.
   * 'cuda' needs a build against a CUDA libtorch and a visible device (see backendInfo()).
   */
  device?: 'cpu' | 'cuda';
  /** On 'cuda', the dtype of embeddings and weight there (the logits are float32 either way). */
  dtype?: 'float32' | 'bfloat16';
  /**
   * CPU and 'cuda': classes per block (0, the default: all at once). With K > 0 the loss needs one
   * B x K buffer instead of B x C (an online log-sum-exp over blocks, the cosines recomputed in the
   * backward; each row's target cosine comes first, so the MV mask is exact); the result is the same
   * to float32 rounding. On 'cuda', K >= C is the unchunked path, and bfloat16 chunks are also bounded
   * by a 256 MiB float32 copy of their weight rows.
   */
  chunkClasses?: number;
  /**
   * CPU only ('cuda' -> ConfigError naming 'device'): Partial FC. The loss over the batch's classes plus this fraction of the others, drawn with
   * `sampleSeed`; 1 (the default) is the full head. gradWeight stays C x D, zero where not sampled.
   */
  sampleRate?: number;
  sampleSeed?: number;
}

/** chunkClasses (an integer >= 0) and sampleRate (in (0, 1]) with their defaults; a ConfigError naming the bad one. */
export function headScaling(o: { chunkClasses?: number; sampleRate?: number }): { chunkClasses: number; sampleRate: number } {
  const { chunkClasses = 0, sampleRate = 1 } = o;
  if (!Number.isInteger(chunkClasses) || chunkClasses < 0)
    throw createError('E_CONFIG', `chunkClasses: must be an integer >= 0, got ${String(chunkClasses)}`, 'chunkClasses');
  if (!(typeof sampleRate === 'number' && sampleRate > 0 && sampleRate <= 1))
    throw createError('E_CONFIG', `sampleRate: must be in (0, 1], got ${String(sampleRate)}`, 'sampleRate');
  return { chunkClasses, sampleRate };
}

function lossOptions(options: LossOptions | undefined): NativeLossOptions | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') throw createError('E_CONFIG', 'options: must be an object', 'options');
  checkConfig(lossOptionsSchema, options, 'options');
  const { device = 'cpu', dtype = 'float32', sampleSeed = 0 } = options;
  if (device !== 'cpu' && device !== 'cuda') throw createError('E_CONFIG', `device: must be 'cpu' or 'cuda', got ${String(device)}`, 'device');
  if (dtype !== 'float32' && dtype !== 'bfloat16') throw createError('E_CONFIG', `dtype: must be 'float32' or 'bfloat16', got ${String(dtype)}`, 'dtype');
  const { chunkClasses, sampleRate } = headScaling(options);
  if (!Number.isInteger(sampleSeed) || sampleSeed < 0)
    throw createError('E_CONFIG', `sampleSeed: must be an integer >= 0, got ${String(sampleSeed)}`, 'sampleSeed');
  return { device, dtype, chunkClasses, sampleRate, sampleSeed };
}

/** The fused loss and its gradients, computed on the calling thread (multithreaded natively). */
export function marginLoss(config: HeadConfig, embeddings: Matrix, weight: Matrix, labels: Int32Array, options?: LossOptions): LossResult {
  const a = args(config, embeddings, weight, labels);
  return native().marginLoss(...a, lossOptions(options));
}

/** The same result as marginLoss, computed off the event loop. */
export async function marginLossAsync(config: HeadConfig, embeddings: Matrix, weight: Matrix, labels: Int32Array, options?: LossOptions): Promise<LossResult> {
  const a = args(config, embeddings, weight, labels);
  return native().marginLossAsync(...a, lossOptions(options));
}

/** A Matrix in float32 or float64; float64 runs the whole computation in double (tests). */
export interface AnyMatrix {
  data: Float32Array | Float64Array;
  rows: number;
  cols: number;
}

/** Either path in either precision (the fused one on either device): for tests and benchmarks, not part of the stable API. */
export function computeLoss(
  path: 'fused' | 'reference',
  config: HeadConfig,
  embeddings: AnyMatrix,
  weight: AnyMatrix,
  labels: ArrayLike<number>,
  options?: LossOptions,
): NativeLossResult<Float32Array | Float64Array> {
  const a = args(config, embeddings as Matrix, weight as Matrix, labels, [Float32Array, Float64Array]);
  if (path === 'reference') return native().lossReference<Float32Array | Float64Array>(...a);
  return native().marginLoss<Float32Array | Float64Array>(...a, lossOptions(options));
}
