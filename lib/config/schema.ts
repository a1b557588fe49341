/**
 * The shape of every config a user writes (train config.json, head, backbone, data, optimizer,
 * schedule, precision, evaluation, loss options), as zod schemas: strict keys (an unknown key is an
 * E_CONFIG naming it, with the nearest known key), and each field's type. zod, because its schemas
 * type-check against the TypeScript interfaces below (`satisfies`) and print as JSON Schema for
 * editors (`mvface schema`). The defaults come from lib/config/defaults.ts (shown in the JSON Schema); the
 * ranges stay with the resolvers and native code that check them.
 */
import { z } from 'zod';
import type { BackboneConfig } from '../model/backbones';
import type { DataSpec } from '../data/loader';
import { backboneDefaults as bd, headDefaults as hd, lossScaleDefaults, optimizerDefaults, scheduleDefaults as sd, trainDefaults as td } from './defaults';
import { createError } from '../errors';
import type { EvalSetSpec } from '../eval/sets';
import type { HeadConfig, LossOptions, Mining } from '../loss/margin-loss';
import type { LossScaleConfig } from '../train/precision';
import type { Schedule } from '../train/schedule';
import type { TrainEvalConfig } from '../train/periodic-eval';
import type { TrainConfig } from '../train/trainer';

const int = z.number().int();
const channels = z.union([z.literal(1), z.literal(3)]);
/** An optional field whose default (from lib/config/defaults.ts) the JSON Schema shows. */
const withDefault = <T extends z.ZodType>(schema: T, value: unknown) => schema.optional().meta({ default: value });

export const miningSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('focal'), gamma: withDefault(z.number(), hd.focalGamma) }),
  z.strictObject({ type: z.literal('hm'), ratio: withDefault(z.number(), hd.hmRatio) }),
]) satisfies z.ZodType<Mining>;

const scaled = { scale: withDefault(z.number(), hd.scale), easyMargin: z.boolean().optional(), mining: miningSchema.optional() };

export const headSchema: z.ZodType<HeadConfig> = z.lazy(() =>
  z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('softmax'), mining: miningSchema.optional() }),
    z.strictObject({ type: z.literal('am'), margin: withDefault(z.number(), hd.amMargin), ...scaled }),
    z.strictObject({ type: z.literal('arc'), margin: withDefault(z.number(), hd.arcMargin), ...scaled }),
    z.strictObject({
      type: z.literal('combined'),
      m1: withDefault(z.number(), hd.combined.m1),
      m2: withDefault(z.number(), hd.combined.m2),
      m3: withDefault(z.number(), hd.combined.m3),
      ...scaled,
    }),
    z.strictObject({
      type: z.enum(['mv-am', 'mv-arc']),
      margin: z.number().optional(),
      mode: withDefault(z.enum(['fixed', 'adaptive']), hd.mode),
      t: z
        .number()
        .optional()
        .meta({ description: `default ${hd.t.fixed} (fixed) or ${hd.t.adaptive} (adaptive)` }),
      ...scaled,
    }),
    z.strictObject({
      type: z.literal('sphereface'),
      m: withDefault(z.number(), hd.sphereface.m),
      lambda: z.number().optional(),
      iteration: withDefault(z.number(), hd.sphereface.iteration),
      lambdaBase: withDefault(z.number(), hd.sphereface.lambdaBase),
      lambdaGamma: withDefault(z.number(), hd.sphereface.lambdaGamma),
      lambdaPower: withDefault(z.number(), hd.sphereface.lambdaPower),
      lambdaMin: withDefault(z.number(), hd.sphereface.lambdaMin),
      mining: miningSchema.optional(),
    }),
    z.strictObject({ type: z.literal('focal'), gamma: withDefault(z.number(), hd.focalGamma), base: headSchema.optional() }),
    z.strictObject({ type: z.literal('hm'), ratio: withDefault(z.number(), hd.hmRatio), base: headSchema.optional() }),
  ]),
);

export const backboneSchema = z.strictObject({
  name: z.enum(['mobilefacenet', 'iresnet18', 'iresnet34', 'iresnet50', 'iresnet100', 'attention56', 'small']),
  embeddingSize: withDefault(int, bd.embeddingSize),
  inputSize: int.optional().meta({ description: `default ${bd.inputSize} (small: ${bd.small.inputSize})` }),
  inChannels: int.optional().meta({ description: `default ${bd.inChannels} (small: ${bd.small.inChannels})` }),
  block: withDefault(z.enum(['ir', 'ir_se']), bd.block),
  dropout: withDefault(z.number(), bd.dropout),
  norm: withDefault(z.enum(['batch', 'none']), bd.norm),
}) satisfies z.ZodType<BackboneConfig>;

export const dataSpecSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('idx'), images: z.string(), labels: z.string() }),
  z.strictObject({ kind: z.literal('fashion-mnist'), split: z.enum(['train', 'test']), root: z.string().optional() }),
  z.strictObject({ kind: z.literal('imagefolder'), root: z.string(), channels: channels.optional() }),
  z.strictObject({ kind: z.literal('recordio'), path: z.string(), channels: channels.optional() }),
  z.strictObject({
    kind: z.literal('synthetic'),
    classes: int,
    perClass: int,
    height: int.optional(),
    width: int.optional(),
    channels: channels.optional(),
    seed: int.optional(),
  }),
]) satisfies z.ZodType<DataSpec>;

export const evalSetSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('bin'), path: z.string(), resize: z.boolean().optional(), name: z.string().optional() }),
  z.strictObject({
    kind: z.literal('lfw'),
    pairs: z.string(),
    images: z.string(),
    landmarks: z.string().optional(),
    resize: z.boolean().optional(),
    name: z.string().optional(),
  }),
  z.strictObject({
    kind: z.literal('data'),
    data: dataSpecSchema,
    pairs: int.optional(),
    seed: int.optional(),
    allPairsImages: int.optional(),
    name: z.string().optional(),
  }),
]) satisfies z.ZodType<EvalSetSpec>;

export const scheduleSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('multistep'), milestones: z.array(z.number()), gamma: withDefault(z.number(), sd.gamma) }),
  z.strictObject({ type: z.literal('cosine'), minLr: withDefault(z.number(), sd.minLr) }),
  z.strictObject({ type: z.literal('poly'), power: withDefault(z.number(), sd.power) }),
  z.strictObject({ type: z.literal('constant') }),
]) satisfies z.ZodType<Schedule>;

const lossScaleSchema = z.strictObject({
  initScale: withDefault(z.number(), lossScaleDefaults.initScale),
  growthFactor: withDefault(z.number(), lossScaleDefaults.growthFactor),
  backoffFactor: withDefault(z.number(), lossScaleDefaults.backoffFactor),
  growthInterval: withDefault(int, lossScaleDefaults.growthInterval),
}) satisfies z.ZodType<LossScaleConfig>;

const trainEvalSchema = z.strictObject({ every: int, sets: z.array(evalSetSchema), batchSize: int.optional() }) satisfies z.ZodType<TrainEvalConfig>;

export const trainConfigSchema = z.strictObject({
  name: z.string(),
  runsDir: withDefault(z.string(), td.runsDir),
  backbone: backboneSchema,
  head: headSchema,
  data: dataSpecSchema,
  numClasses: int.optional(),
  evalData: dataSpecSchema.optional(),
  epochs: int,
  batchSize: withDefault(int, td.batchSize),
  optimizer: z
    .strictObject({
      lr: withDefault(z.number(), optimizerDefaults.lr),
      momentum: withDefault(z.number(), optimizerDefaults.momentum),
      weightDecay: withDefault(z.number(), optimizerDefaults.weightDecay),
    })
    .optional(),
  schedule: withDefault(scheduleSchema, { type: sd.type }),
  warmupEpochs: withDefault(z.number(), td.warmupEpochs),
  seed: withDefault(int, td.seed),
  device: withDefault(z.union([z.enum(['cpu', 'cuda', 'auto']), z.templateLiteral(['cuda:', z.number().int()])]), td.device),
  syntheticOnDevice: z.boolean().optional(),
  flip: withDefault(z.boolean(), td.flip),
  workers: int.optional(),
  onCorrupt: withDefault(z.enum(['skip', 'fail']), td.onCorrupt),
  checkpointEverySteps: int.optional(),
  checkpointEveryMinutes: withDefault(z.number(), td.checkpointEveryMinutes),
  shardHead: withDefault(z.boolean(), td.shardHead),
  chunkClasses: int.optional(),
  sampleRate: z.number().optional(),
  eval: trainEvalSchema.optional(),
  precision: withDefault(z.enum(['fp32', 'bf16', 'fp16']), td.precision),
  lossScale: z.union([z.boolean(), lossScaleSchema]).optional(),
  channelsLast: z.boolean().optional(),
  fusedNorm: z.boolean().optional(),
  cudnnBenchmark: withDefault(z.boolean(), td.cudnnBenchmark),
  tf32: z.boolean().optional(),
  cudaGraph: z.boolean().optional(),
  staticStep: z.boolean().optional(),
});

export const lossOptionsSchema = z.strictObject({
  device: z.enum(['cpu', 'cuda']).optional(),
  dtype: z.enum(['float32', 'bfloat16']).optional(),
  chunkClasses: int.optional(),
  sampleRate: z.number().optional(),
  sampleSeed: int.optional(),
}) satisfies z.ZodType<LossOptions>;

/** Levenshtein distance, case and underscores ignored (batch_size is batchSize). */
function distance(a: string, b: string): number {
  const [x, y] = [a, b].map((s) => s.replace(/_/g, '').toLowerCase());
  let row = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const next = [i];
    for (let j = 1; j <= y.length; j++) next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    row = next;
  }
  return row[y.length];
}

/** ", did you mean 'x'?" for the known key nearest to `key`, when near enough. */
export function didYouMean(key: string, known: string[]): string {
  const best = known.map((k) => [k, distance(key, k)] as const).sort((a, b) => a[1] - b[1])[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 4)) ? `; did you mean '${best[0]}'?` : '';
}

/** The keys the schema at `path` knows (for the suggestion). */
function knownKeys(schema: z.ZodType, value: unknown, path: PropertyKey[]): string[] {
  let node: unknown = schema;
  let current: unknown = value;
  for (const step of [...path, undefined]) {
    while (node instanceof z.ZodLazy || node instanceof z.ZodOptional) node = node instanceof z.ZodLazy ? node.unwrap() : (node as z.ZodOptional).unwrap();
    if (node instanceof z.ZodDiscriminatedUnion || node instanceof z.ZodUnion) {
      const options = (node as z.ZodUnion).options as z.ZodType[];
      node =
        options.find((o) => o instanceof z.ZodObject && o.safeParse(current).success === false && matchesTag(o, current)) ??
        options.find((o) => o instanceof z.ZodObject);
    }
    if (step === undefined) break;
    if (node instanceof z.ZodObject) node = node.shape[step as string];
    else if (node instanceof z.ZodArray) node = node.element;
    current = (current as Record<PropertyKey, unknown> | undefined)?.[step];
  }
  return node instanceof z.ZodObject ? Object.keys(node.shape) : [];
}

/** Whether the union member `o` has the discriminator value of `value` (type or kind). */
function matchesTag(o: z.ZodObject, value: unknown): boolean {
  for (const tag of ['type', 'kind']) {
    const field = o.shape[tag];
    if (field === undefined || value === null || typeof value !== 'object') continue;
    return field.safeParse((value as Record<string, unknown>)[tag]).success;
  }
  return false;
}

const where = (what: string, path: PropertyKey[]) => [what, ...path.map(String)].filter(Boolean).join('.');

/** An issue in words, with the key or field it names (one per unknown key). */
function describe(schema: z.ZodType, value: unknown, what: string, issue: z.core.$ZodIssue): Array<[string, string]> {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, value, issue.path);
    return issue.keys.map((key) => [`${where(what, issue.path) || 'config'}: unknown key '${key}'${didYouMean(key, known)}`, key]);
  }
  const at = where(what, issue.path);
  return [[`${at}: ${issue.message.replace(/^Invalid input: /, '')}`, String(issue.path.at(-1) ?? what)]];
}

/** The value, checked against the schema; E_CONFIG naming every key or field at fault (the first as its argument). */
export function checkConfig<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return value as T;
  const described = result.error.issues.flatMap((issue) => describe(schema, value, what, issue));
  throw createError('E_CONFIG', described.map(([message]) => message).join('; '), described[0][1]);
}

/** config.json's JSON Schema, for editors. */
export function trainConfigJsonSchema(): unknown {
  return z.toJSONSchema(trainConfigSchema, { unrepresentable: 'any' });
}

export type CheckedTrainConfig = z.infer<typeof trainConfigSchema>;
// Assignable both ways: the schema and the TrainConfig interface describe the same config.
export const schemaMatchesInterface: [CheckedTrainConfig] extends [TrainConfig] ? ([TrainConfig] extends [CheckedTrainConfig] ? true : false) : false = true;
