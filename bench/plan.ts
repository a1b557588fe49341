/**
 * What `npm run bench -- [names] [flags]` runs: the names before the first flag, and the device.
 * Where the addon sees a CUDA device, `loss`, `train` and `norm` run their GPU tables unless
 * `--device cpu` says otherwise; the other benchmarks run on the CPU either way.
 */
import { flagValue } from './argv';

export const cpuBenches = ['loss', 'train', 'scale', 'dp', 'heads', 'train-head', 'embed'] as const;
export const gpuBenches = ['loss', 'train', 'norm'] as const;
export const defaultBenches = ['loss', 'train', 'scale'];

export interface BenchPlan {
  names: string[];
  device: 'cpu' | 'cuda';
  /** The flags after the names, for the GPU tables (e.g. --no-compile --memory-steps 500). */
  flags: string[];
}

export function planBenches(args: string[], cudaAvailable: boolean): BenchPlan {
  const firstFlag = args.findIndex((a) => a.startsWith('--'));
  const names = firstFlag < 0 ? args : args.slice(0, firstFlag);
  const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
  const asked = askedDevice(flags);
  if (asked === 'cuda' && !cudaAvailable) {
    throw new Error('npm run bench: --device cuda, but the addon sees no CUDA device (build it against a CUDA libtorch: LIBTORCH_USE_PYTORCH=1)');
  }
  const device = asked ?? (cudaAvailable ? 'cuda' : 'cpu');
  const known: readonly string[] = device === 'cuda' ? [...new Set([...cpuBenches, ...gpuBenches])] : cpuBenches;
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) {
    const gpuOnly = unknown.filter((n) => (gpuBenches as readonly string[]).includes(n));
    const why = gpuOnly.length ? ` (${gpuOnly.join(', ')}: a CUDA device only)` : '';
    throw new Error(`npm run bench: unknown benchmark ${unknown.join(', ')}${why}; available: ${known.join(', ')}`);
  }
  return { names: names.length ? names : defaultBenches, device, flags };
}

function askedDevice(flags: string[]): 'cpu' | 'cuda' | undefined {
  if (!flags.includes('--device')) return undefined;
  const asked = flagValue(flags, '--device');
  if (asked === 'cpu' || asked === 'cuda') return asked;
  throw new Error(`npm run bench: --device takes cpu or cuda, got ${asked ?? 'nothing'}`);
}
