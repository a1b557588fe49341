/**
 * node dist/bench/norm-gpu.js: the fused batch norm (+ PReLU) (+ residual add) against the modules
 * (libtorch's batch_norm, prelu and add under bf16 autocast, as the trainer runs them), forward and
 * backward, at the shapes of IResNet-50's layers (batch 256, 112 x 112 input), NCHW and channels-last,
 * side by side from one run (scripts/gpu-check.sh runs it). Each ratio is the modules' time over the
 * fused kernels' (> 1: fused is faster); `saved` is what the forward keeps for the backward.
 * Writes bench/results/gpu-norm-<date>-<card>.md.
 *   --repeats n (default 20) --out dir --fp32
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import { native } from '../lib/native/addon';
import type { NormBenchCase } from '../lib/native/types';
import { flagValue as value } from './argv';
import { formatTable, type Row } from './report';

// IResNet-50 at 112 x 112: the stem and bn2 + PReLU of layer1's first block at 112, then each stage's
// bn2 + PReLU and bn3 + residual add at its resolution.
const layers: Array<Omit<NormBenchCase, 'N' | 'dtype' | 'channelsLast' | 'repeats'> & { what: string }> = [
  { what: 'stem / layer1 bn2 + PReLU', C: 64, H: 112, W: 112, prelu: true, residual: false },
  { what: 'layer1 bn3 + residual', C: 64, H: 56, W: 56, prelu: false, residual: true },
  { what: 'layer2 bn2 + PReLU', C: 128, H: 28, W: 28, prelu: true, residual: false },
  { what: 'layer3 bn2 + PReLU (14 blocks)', C: 256, H: 14, W: 14, prelu: true, residual: false },
  { what: 'layer3 bn3 + residual (14 blocks)', C: 256, H: 14, W: 14, prelu: false, residual: true },
  { what: 'layer4 bn2 + PReLU', C: 512, H: 7, W: 7, prelu: true, residual: false },
];

/** The fused batch norm against the modules (flags as above); `npm run bench -- norm` runs it. */
export function benchNormGpu(argv: string[] = []): void {
  const info = backendInfo();
  if (!info.cudaAvailable) throw new Error('bench/norm-gpu: no CUDA device visible to the addon (build against a CUDA libtorch)');
  const repeats = Number(value(argv, '--repeats') ?? 20);
  const dtype = argv.includes('--fp32') ? 'fp32' : 'bf16';
  const N = 256;
  const card = (info.cudaDevices[0] ?? 'gpu')
    .replace(/^NVIDIA\s+/, '')
    .replace(/[^\w.-]+/g, '-')
    .toLowerCase();
  const dir = value(argv, '--out') ?? path.join(__dirname, '..', '..', 'bench', 'results');
  const file = path.join(dir, `gpu-norm-${new Date().toISOString().slice(0, 10)}-${card}${dtype === 'fp32' ? '-fp32' : ''}.md`);
  const title = `Batch norm (+ PReLU) (+ residual), forward + backward, ${dtype}, on ${info.cudaDevices[0]} (libtorch ${info.libtorchVersion}; median of ${repeats} samples of 10 steps each)`;
  const rows: Row[] = [];
  // Written after every layer, so that a time limit keeps what was measured.
  const save = () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(file, `# Fused batch norm benchmark\n\n${title}\n\n${formatTable(rows)}\n`);
  };
  for (const channelsLast of [false, true]) {
    for (const { what, ...layer } of layers) {
      const c: NormBenchCase = { N, ...layer, dtype, channelsLast, repeats };
      const [modules, fused] = native().cudaNormBench(c);
      rows.push({
        layer: `${what}: ${N}x${layer.C}x${layer.H}x${layer.W}${channelsLast ? ', channels-last' : ''}`,
        'modules ms': modules.medianMs,
        'fused ms': fused.medianMs,
        'modules / fused': modules.medianMs / fused.medianMs,
        'saved MiB (modules)': modules.savedBytes / 2 ** 20,
        'saved MiB (fused)': fused.savedBytes / 2 ** 20,
      });
      console.log(formatTable([rows[rows.length - 1]]).split('\n')[2]);
      save();
    }
  }
  console.log(`\n${title}\n${formatTable(rows)}\n\nsaved ${path.relative(process.cwd(), file)}`);
}

if (require.main === module) {
  try {
    benchNormGpu(process.argv.slice(2));
  } catch (e) {
    console.error(e);
    process.exit(1);
  }
}
