import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { type BackboneConfig, backboneInfo, resolveBackboneConfig, type ResolvedBackboneConfig } from '../lib/model/backbones';
import { Model, type StateEntry } from '../lib/model/model';
import { exportOnnx, onnxModelBytes, type StateDict } from '../lib/model/onnx/export';
import { ModelProto } from '../lib/model/onnx/onnx-schema';
import { Random } from './random';

const face = { inputSize: 32, embeddingSize: 64 };
const cases: BackboneConfig[] = [
  { name: 'mobilefacenet', inputSize: 112, embeddingSize: 64 },
  { name: 'mobilefacenet', ...face },
  ...(['iresnet18', 'iresnet34', 'iresnet50', 'iresnet100'] as const).flatMap((name) => (['ir', 'ir_se'] as const).map((block) => ({ name, block, ...face }))),
  { name: 'attention56', ...face },
  { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 64 },
  { name: 'small', inputSize: 28, inChannels: 1, embeddingSize: 64, norm: 'none' },
  { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 64 },
  { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 64, norm: 'none' },
];

const label = (c: ResolvedBackboneConfig) =>
  `${c.name}${c.name.startsWith('iresnet') ? ` ${c.block}` : ''}${c.name === 'small' ? ` norm ${c.norm}, ${c.inChannels} ch` : ''}, ${c.inputSize}px`;

/** n images with values uniform in [-1, 1]. */
function images(config: ResolvedBackboneConfig, n: number, seed: number): Float32Array {
  const random = new Random(seed);
  return Float32Array.from({ length: n * config.inChannels * config.inputSize ** 2 }, () => random.next() * 2 - 1);
}

async function embed(session: ort.InferenceSession, config: ResolvedBackboneConfig, x: Float32Array, n: number) {
  const s = config.inputSize;
  return (await session.run({ input: new ort.Tensor('float32', x, [n, config.inChannels, s, s]) })).embedding;
}

/**
 * Every batch norm's scale, shift and running statistics and every PReLU slope drawn at random, so
 * that a statistic exported in the wrong place shows. Scales of 0.2 to 0.6 keep the deep residual
 * sums in range, as trained networks are.
 */
function perturbed(state: StateEntry[], seed: number): StateEntry[] {
  const random = new Random(seed);
  const norms = new Set(state.filter((e) => e.name.endsWith('running_var')).map((e) => e.name.replace(/running_var$/, '')));
  const draw = (name: string): (() => number) | undefined => {
    const module = name.replace(/[^.]+$/, '');
    const field = name.slice(module.length);
    if (norms.has(module)) {
      if (field === 'running_var') return () => 0.5 + random.next();
      if (field === 'weight') return () => 0.2 + 0.4 * random.next();
      if (field === 'bias' || field === 'running_mean') return () => random.normal() * 0.1;
    }
    if (/prelu\d?\.weight$|^(stage\d\.2|conv1\.2)\.weight$/.test(name)) return () => 0.1 + 0.3 * random.next();
    return undefined;
  };
  return state.map((e) => {
    const next = draw(e.name);
    return next ? { ...e, data: (e.data as Float32Array).map(() => next()) } : e;
  });
}

function minCosine(a: Float32Array, b: Float32Array, dim: number): number {
  let min = 1;
  for (let row = 0; row < a.length / dim; row++) {
    let dot = 0,
      aa = 0,
      bb = 0;
    for (let j = row * dim; j < (row + 1) * dim; j++) {
      dot += a[j] * b[j];
      aa += a[j] ** 2;
      bb += b[j] ** 2;
    }
    min = Math.min(min, dot / Math.sqrt(aa * bb));
  }
  return min;
}

/** The fields of a decoded ModelProto (protobufjs toObject, snake_case) that the metadata test reads. */
interface DecodedValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Array<{ dim_param?: string; dim_value?: number }> } } };
}
interface DecodedModel {
  ir_version: number;
  producer_name: string;
  opset_import: unknown;
  metadata_props: unknown;
  graph: { input: DecodedValueInfo[]; output: DecodedValueInfo[] };
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-onnx-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A state dict of the backbone's keys and shapes with random values (running variances positive). */
async function randomState(config: ResolvedBackboneConfig, seed: number): Promise<StateDict> {
  const { stateShapes } = await backboneInfo(config, { forward: false });
  const random = new Random(seed);
  const value = (key: string) => (key.endsWith('running_var') ? 0.5 + random.next() : random.normal() * 0.1);
  return Object.fromEntries(
    Object.entries(stateShapes).map(([key, shape]) => {
      const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => value(key));
      return [key, { shape, data }];
    }),
  );
}

describe('ONNX export', () => {
  it.each(cases.map((c) => [label(resolveBackboneConfig(c)), resolveBackboneConfig(c)] as const))(
    '%s: the exported model in ONNX Runtime gives the embeddings of Model.embed, batch 1 and 7',
    async (name, config) => {
      const model = await Model.create(config, { seed: 5 });
      await model.setState(perturbed(await model.state(), 7));
      const file = path.join(dir, 'model.onnx');
      await exportOnnx(model, file);
      const session = await ort.InferenceSession.create(file);
      for (const n of [1, 7]) {
        const x = images(config, n, n);
        const reference = (await model.embed(x, { flip: false, normalize: false })).data;
        const output = await embed(session, config, x, n);
        expect(output.dims).toEqual([n, config.embeddingSize]);
        const ours = output.data as Float32Array;
        const scale = Math.max(...reference.map(Math.abs));
        const diff = Math.max(...reference.map((v, i) => Math.abs(v - ours[i])));
        const cosine = minCosine(reference, ours, config.embeddingSize);
        console.log(`${name}, batch ${n}: max |embedding| ${scale.toFixed(2)}, max diff ${diff.toExponential(2)}, min cosine ${cosine}`);
        expect(diff).toBeLessThanOrEqual(1e-4);
        expect(cosine).toBeGreaterThanOrEqual(0.99999);
      }
      await session.release();
      model.dispose();
    },
  );

  it('writes the input, output, opset, IR version, producer and metadata', async () => {
    const config = resolveBackboneConfig({ name: 'small', embeddingSize: 16 });
    const bytes = onnxModelBytes(config, await randomState(config, 1), { backbone: 'small', trainedSteps: '12' });
    const model = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number }) as DecodedModel;
    expect(model.ir_version).toBe(8);
    expect(model.producer_name).toBe('mvface');
    expect(model.opset_import).toEqual([{ domain: '', version: 17 }]);
    expect(model.metadata_props).toEqual([
      { key: 'backbone', value: 'small' },
      { key: 'trainedSteps', value: '12' },
    ]);
    const dims = (v: DecodedValueInfo) => v.type.tensor_type.shape.dim.map((d) => d.dim_param ?? d.dim_value);
    expect(model.graph.input.map((v) => [v.name, v.type.tensor_type.elem_type, dims(v)])).toEqual([['input', 1, ['batch', 1, 28, 28]]]);
    expect(model.graph.output.map((v) => [v.name, v.type.tensor_type.elem_type, dims(v)])).toEqual([['embedding', 1, ['batch', 16]]]);
    const session = await ort.InferenceSession.create(bytes);
    expect([session.inputNames, session.outputNames]).toEqual([['input'], ['embedding']]);
    const output = await embed(session, config, images(config, 3, 1), 3);
    await session.release();
    expect(output.dims).toEqual([3, 16]);
    expect(Array.from(output.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('names a missing, misshapen or unexpected state entry', async () => {
    const config = resolveBackboneConfig({ name: 'small', inputSize: 16, embeddingSize: 8 });
    const state = await randomState(config, 2);
    const { 'stage2.1.running_var': _dropped, ...missing } = state;
    expect(() => onnxModelBytes(config, missing, {})).toThrow(/missing stage2\.1\.running_var/);
    const misshapen = { ...state, 'output_layer.3.weight': { shape: [8, 2048], data: new Float32Array(8 * 2048) } };
    expect(() => onnxModelBytes(config, misshapen, {})).toThrow(/output_layer\.3\.weight has shape \[8,2048\], expected \[8,512\]/);
    expect(() => onnxModelBytes({ ...config, norm: 'none' }, state, {})).toThrow(/stage1\.1\.weight, .* belong to no layer/);
    expect(() => onnxModelBytes({ ...config, inputSize: 80 }, state, {})).toThrow(/inputSize 80/);
  });
});
