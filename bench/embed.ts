/**
 * npm run bench -- embed: images/s of Model.embed (libtorch) against onnxruntime-node running the same
 * model exported with exportOnnx, on the CPU, batch 1, 8 and 32, from one run. Both use the same number
 * of threads; raw embeddings (no flip), random images.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { backendInfo } from '../lib/native/backend';
import type { BackboneConfig } from '../lib/model/backbones';
import { Model } from '../lib/model/model';
import { exportOnnx } from '../lib/model/onnx/export';
import { printTable, type Row, saveResult } from './report';

const backbones: BackboneConfig[] = [{ name: 'mobilefacenet' }, { name: 'iresnet18' }];
const batches = [1, 8, 32];

/** Images per second of `run` on batches of n, after one warm-up call, over at least `seconds`. */
async function imagesPerSecond(run: () => Promise<unknown>, n: number, seconds = 3): Promise<number> {
  await run();
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < seconds || calls < 2) {
    await run();
    calls++;
    elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  }
  return (calls * n) / elapsed;
}

export async function benchEmbed(): Promise<Row[]> {
  const threads = backendInfo().threads;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-embed-'));
  const rows: Row[] = [];
  try {
    for (const config of backbones) {
      const model = await Model.create(config, { seed: 1 });
      const file = await exportOnnx(model, path.join(dir, `${config.name}.onnx`));
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1 });
      const { channels, height, width } = model.input;
      for (const n of batches) {
        const images = Float32Array.from({ length: n * channels * height * width }, (_, i) => Math.sin(i));
        const input = new ort.Tensor('float32', images, [n, channels, height, width]);
        const ours = await imagesPerSecond(() => model.embed(images, { flip: false, normalize: false, batchSize: n }), n);
        const theirs = await imagesPerSecond(() => session.run({ input }), n);
        rows.push({
          backbone: `${config.name} ${height}x${width}`,
          batch: n,
          'Model.embed images/s': ours,
          'onnxruntime-node images/s': theirs,
          'ratio (mvface / onnxruntime)': ours / theirs,
        });
      }
      await session.release();
      model.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  printTable(`Embedding on the CPU (${threads} threads): Model.embed against onnxruntime-node ${ort.env.versions.common} on the same exported model`, rows);
  saveResult('embed', rows, { threads, onnxruntime: ort.env.versions.common, backbones: backbones.map((b) => b.name), batches });
  return rows;
}
