/**
 * The head comparison's two configurations. `cpu` fits a 2-core machine (45 minutes measured):
 * 32 x 32 faces, 1,000 training identities in families of 4 near-identical ones, the small net.
 * `gpu` scales faces, identities and backbone (112 x 112, MobileFaceNet, 2,000 training identities) for
 * one GPU: 30 runs of 96,000 samples, about 5 minutes at 10,000 samples/s (an estimate: not yet run).
 * Both train the margin heads and the four MV-Softmax heads on 5 seeds, for paired differences.
 */
import * as path from 'node:path';
import type { BackboneConfig } from '../model/backbones';
import { type CompareConfig, defaultHeads, type FacesSetup } from './compare';

export const comparePresets = ['cpu', 'gpu'] as const;
const allPairsLimit = 3000;
export type ComparePreset = (typeof comparePresets)[number];

interface PresetShape {
  faces: Omit<FacesSetup, 'root'>;
  backbone: BackboneConfig;
  epochs: number;
  batchSize: number;
}

const shapes: Record<ComparePreset, PresetShape> = {
  cpu: {
    faces: { identities: 1200, heldOut: 200, imagesPerIdentity: 10, size: 32, difficulty: 0.6, familySize: 4, familyTraits: 2, seed: 1 },
    backbone: { name: 'small', inputSize: 32, inChannels: 3, embeddingSize: 128 },
    epochs: 8,
    batchSize: 128,
  },
  gpu: {
    faces: { identities: 2300, heldOut: 300, imagesPerIdentity: 12, size: 112, difficulty: 0.6, familySize: 4, familyTraits: 2, seed: 1 },
    backbone: { name: 'mobilefacenet', embeddingSize: 512 },
    epochs: 4,
    batchSize: 256,
  },
};

export function comparePreset(preset: ComparePreset, where: { facesRoot: string; runsDir: string }): { config: CompareConfig; faces: FacesSetup } {
  const shape = shapes[preset];
  const faces: FacesSetup = { root: where.facesRoot, ...shape.faces };
  const f = shape.faces;
  const config: CompareConfig = {
    heads: defaultHeads.filter((h) => h.name !== 'softmax'),
    seeds: [1, 2, 3, 4, 5],
    datasets: [
      {
        name: `faces ${f.size}px, ${f.identities - f.heldOut} train / ${f.heldOut} held-out identities in families of ${f.familySize}`,
        train: { kind: 'imagefolder', root: path.join(where.facesRoot, 'train') },
        test: { kind: 'imagefolder', root: path.join(where.facesRoot, 'test') },
        backbone: shape.backbone,
        epochs: shape.epochs,
        pairs: 6000,
        // All pairs of up to 3,000 held-out images (all 2,000 for cpu): TAR at FAR 1e-4 then rests on 199 or more false accepts.
        allPairsImages: Math.min(allPairsLimit, f.heldOut * f.imagesPerIdentity),
      },
    ],
    batchSize: shape.batchSize,
    lr: 0.1,
    schedule: { type: 'cosine' },
    runsDir: where.runsDir,
  };
  return { config, faces };
}
