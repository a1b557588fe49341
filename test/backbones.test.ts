import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type BackboneConfig, backboneForward, backboneInfo, backboneNames, type BackboneInfo } from '../lib/model/backbones';
import { Trainer } from '../lib/train/trainer';
import { torchPython, twinEmbeddings } from './torch-python';

/**
 * Counts derived by hand from the reference designs (conv: out * in/groups * k^2; BN: 2C; PReLU: C):
 * - mobilefacenet (FaceX-Zoo, 112x112, 512): conv1 1920, conv2_dw 768, conv_23 18432, conv_3 4 x 18432,
 *   conv_34 53248, conv_4 6 x 69632, conv_45 139008, conv_5 2 x 69632, conv_6_sep 67072,
 *   conv_6_dw 512 * 49 + 1024, linear 512 * 512, bn 1024 = 1,200,512.
 * - iresnet50 (arcface_torch, ir, 112x112, 512): 43,590,848, the count arcface_torch's iresnet50 reports.
 * - small (28x28x1, 128): stages 384 + 18624 + 74112, BN 256, fc 1152 * 128 + 128, BN 256 = 241,216.
 */
const handCounts: Array<[BackboneConfig, number]> = [
  [{ name: 'mobilefacenet' }, 1_200_512],
  [{ name: 'iresnet50' }, 43_590_848],
  [{ name: 'small', embeddingSize: 128, inputSize: 28, inChannels: 1 }, 241_216],
];

interface TwinEntry {
  config: BackboneConfig;
  parameters: number;
  shapes: Record<string, number[]>;
}

/** The PyTorch twin's report, from the first python3 here that has torch (Debian's python3-torch). */
function pytorchTwin(): Record<string, TwinEntry> | undefined {
  const script = path.resolve(__dirname, '..', 'python', 'mvface_backbones.py');
  for (const python of ['python3', '/usr/bin/python3']) {
    if (spawnSync(python, ['-c', 'import torch']).status !== 0) continue;
    const run = spawnSync(python, [script, '--count', '--shapes'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (run.status !== 0) throw new Error(`${script} failed: ${run.stderr}`);
    return JSON.parse(run.stdout);
  }
  return undefined;
}

const twin = pytorchTwin();

/** Parameters SGD should not decay, read from the state dict: every bias, and the weight of each BN. */
function expectedNoDecay(info: BackboneInfo): number {
  const shapes = info.stateShapes;
  const size = (key: string) => shapes[key].reduce((a, b) => a * b, 1);
  let n = 0;
  for (const key of Object.keys(shapes)) {
    const owner = key.slice(0, key.lastIndexOf('.'));
    if (key.endsWith('.bias')) n += size(key);
    else if (key.endsWith('.weight') && `${owner}.running_mean` in shapes && key !== 'features.weight') n += size(key);
  }
  return n;
}

describe('backbones', () => {
  it.each(backboneNames.map((name) => [name]))('%s: output is batch x embeddingSize', async (name) => {
    const config: BackboneConfig = name === 'small' ? { name, embeddingSize: 128 } : { name, embeddingSize: 256 };
    const info = await backboneInfo(config);
    expect(info.outputShape).toEqual([2, config.embeddingSize]);
  });

  it.each(handCounts)('%j has the hand-derived parameter count', async (config, count) => {
    expect((await backboneInfo(config, { forward: false })).parameters).toBe(count);
  });

  it('iresnet50 ir_se adds an SE module of 2 * C^2 / 16 weights to each of its 24 blocks', async () => {
    const ir = await backboneInfo({ name: 'iresnet50' }, { forward: false });
    const se = await backboneInfo({ name: 'iresnet50', block: 'ir_se' }, { forward: false });
    const blocks = { 64: 3, 128: 4, 256: 14, 512: 3 };
    const added = Object.entries(blocks).reduce((sum, [c, k]) => sum + (k * 2 * Number(c) ** 2) / 16, 0);
    expect(se.parameters - ir.parameters).toBe(added);
  });

  it.each(['iresnet18', 'iresnet50', 'mobilefacenet', 'attention56', 'small'] as const)(
    '%s: no weight decay on BN parameters and biases; iresnet features.weight frozen',
    async (name) => {
      const info = await backboneInfo({ name }, { forward: false });
      const frozen = name.startsWith('iresnet') ? 512 : 0;
      expect(info.noDecayParameters).toBe(expectedNoDecay(info));
      expect(info.decayParameters + info.noDecayParameters + frozen).toBe(info.parameters);
    },
  );

  it("small with norm 'none' has no batch norms; other backbones keep theirs", async () => {
    const config: BackboneConfig = { name: 'small', embeddingSize: 16, inputSize: 28, inChannels: 1 };
    const withBn = await backboneInfo(config, { forward: false });
    const without = await backboneInfo({ ...config, norm: 'none' });
    // BN weights and biases: 2 x (32 + 64 + 128 + 128) in the stages and the output layer, 2 x 16 on the embedding.
    expect(withBn.parameters - without.parameters).toBe(2 * (32 + 64 + 128 + 128) + 2 * 16);
    expect(Object.keys(without.stateShapes).some((k) => k.includes('running_mean'))).toBe(false);
    expect(without.outputShape).toEqual([2, 16]);
    await expect(backboneInfo({ name: 'iresnet18', norm: 'none' }, { forward: false })).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(backboneInfo({ ...config, norm: 'group' as 'none' }, { forward: false })).rejects.toMatchObject({ code: 'E_CONFIG' });
  });

  it('a seed fixes the initial weights; the embeddings depend on the image', async () => {
    const config: BackboneConfig = { name: 'small', embeddingSize: 16, inputSize: 28, inChannels: 1 };
    const images = Float32Array.from({ length: 3 * 28 * 28 }, (_, i) => Math.sin(i * 0.37));
    const a = await backboneForward(config, 7, images, 3);
    const b = await backboneForward(config, 7, images, 3);
    const c = await backboneForward(config, 8, images, 3);
    expect(a.length).toBe(3 * 16);
    expect(a.every(Number.isFinite)).toBe(true);
    expect(Array.from(b)).toEqual(Array.from(a));
    expect(Array.from(c)).not.toEqual(Array.from(a));
    expect(Array.from(a.subarray(0, 16))).not.toEqual(Array.from(a.subarray(16, 32)));
  });

  it('rejects an unknown name, an unsupported input size and a wrong image length', async () => {
    await expect(backboneInfo({ name: 'resnet9' as never })).rejects.toMatchObject({ code: 'E_CONFIG', argument: 'backbone' });
    await expect(backboneInfo({ name: 'iresnet50', inputSize: 100 })).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(backboneInfo({ name: 'small', inputSize: 112 })).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(backboneInfo({ name: 'iresnet18', block: 'se' as never })).rejects.toMatchObject({ code: 'E_CONFIG' });
    await expect(backboneForward({ name: 'small' }, 1, new Float32Array(28 * 28 - 1), 1)).rejects.toMatchObject({ code: 'E_SHAPE' });
  });
});

describe.skipIf(twin === undefined)('the PyTorch twin (python/mvface_backbones.py)', () => {
  const entries = Object.entries(twin ?? {});

  it('covers every backbone', () => {
    expect(new Set(entries.map(([, e]) => e.config.name))).toEqual(new Set(backboneNames));
  });

  it.each(entries)('%s: same parameter count and state dict keys and shapes', async (_label, entry) => {
    const info = await backboneInfo(entry.config, { forward: false });
    expect(info.parameters).toBe(entry.parameters);
    expect(info.stateShapes).toEqual(entry.shapes);
  });
});

describe.skipIf(torchPython === undefined)('the PyTorch twin, forward', () => {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-twin-'));
  afterAll(() => fs.rmSync(runsDir, { recursive: true, force: true }));
  const configs: BackboneConfig[] = [
    { name: 'mobilefacenet', inputSize: 32, embeddingSize: 64 },
    { name: 'iresnet18', inputSize: 32, embeddingSize: 64 },
    { name: 'iresnet18', inputSize: 32, embeddingSize: 64, block: 'ir_se' },
  ];

  // A few training steps first, so that the batch norms' running statistics are the trained ones.
  it.each(configs.map((c) => [`${c.name}${c.block ? `-${c.block}` : ''}`, c] as const))(
    '%s: the twin gives the same embeddings from the exported weights',
    async (label, backbone) => {
      const data = { kind: 'synthetic', classes: 4, perClass: 4, height: 32, width: 32, channels: 3, seed: 2 } as const;
      const trainer = await Trainer.create({
        name: label,
        runsDir,
        backbone,
        head: { type: 'mv-arc' },
        data,
        epochs: 1,
        batchSize: 8,
        optimizer: { lr: 0.05 },
        seed: 3,
        workers: 1,
        device: 'cpu',
      });
      try {
        await trainer.fit();
        const n = 3;
        const images = Float32Array.from({ length: n * 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37) * 0.9);
        const ours = Array.from(await trainer.embed(images, n));
        const file = await trainer.exportModel(path.join(runsDir, `${label}.pt`));
        const theirs = twinEmbeddings(file, images, n);
        expect(theirs).toHaveLength(ours.length);
        const scale = Math.max(...theirs.map(Math.abs));
        expect(Math.max(...ours.map((v, i) => Math.abs(v - theirs[i]))) / scale).toBeLessThan(1e-5);
      } finally {
        trainer.dispose();
      }
    },
  );
});
