/** Reading checkpoints through PyTorch's own torch.load, where a python3 with torch is at hand. */
import { spawnSync } from 'node:child_process';

/** The first python3 here with torch (Debian's python3-torch); undefined if none. */
export const torchPython = ['python3', '/usr/bin/python3'].find((p) => spawnSync(p, ['-c', 'import torch']).status === 0);

/** A tensor of a checkpoint, flattened: `pick` is a Python expression on `c`, the loaded dict. */
export function checkpointValues(file: string, pick: string): number[] {
  const script = `import sys, json, torch; c = torch.load(sys.argv[1]); print(json.dumps((${pick}).flatten().tolist()))`;
  const r = spawnSync(torchPython!, ['-c', script, file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout);
}
