/**
 * Reading checkpoints through PyTorch's own torch.load, and exported models through the PyTorch twin
 * (python/mvface_backbones.py), where a python3 with torch is at hand. torch.load runs with
 * weights_only=True, PyTorch's default from 2.6 (1.13 has the argument too): the files must open
 * without TorchScript's globals.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The first python3 here with torch (Debian's python3-torch); undefined if none. */
export const torchPython = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch']).status === 0);

/** A tensor of a checkpoint, flattened: `pick` is a Python expression on `c`, the loaded dict. */
export function checkpointValues(file: string, pick: string): number[] {
  const script = `import sys, json, torch; c = torch.load(sys.argv[1], weights_only=True); print(json.dumps((${pick}).flatten().tolist()))`;
  const r = spawnSync(torchPython!, ['-c', script, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}

/** The twin's embeddings of `images` (n x C x H x W) with the weights of an exported model. */
export function twinEmbeddings(modelFile: string, images: Float32Array, n: number): number[] {
  const script = `
import sys, json, torch
sys.path.insert(0, sys.argv[1])
import mvface_backbones as backbones
model_file, images_file, n = sys.argv[2], sys.argv[3], int(sys.argv[4])
config = json.load(open(model_file[:-3] + '.json'))
model = backbones.build_config(config['backbone'])
model.load_state_dict(torch.load(model_file, weights_only=True))
model.eval()
i = config['input']
x = torch.tensor(json.load(open(images_file)), dtype=torch.float32).view(n, i['channels'], i['height'], i['width'])
with torch.no_grad():
    print(json.dumps(model(x).flatten().tolist()))
`;
  const imagesFile = `${modelFile}.images.json`;
  fs.writeFileSync(imagesFile, JSON.stringify(Array.from(images)));
  const twins = path.resolve(__dirname, '..', 'python');
  const r = spawnSync(torchPython!, ['-c', script, twins, modelFile, imagesFile, String(n)], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}
