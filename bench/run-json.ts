/** Runs a benchmark worker (node or python) and returns the JSON object on its last output line. */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

// Large blocks always mmapped and returned on free, so that peak RSS above the baseline is the
// step's own memory rather than what the allocator kept from the warm-up step.
const mallocEnv = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };

/** `timeoutMs`: the worker is killed past it, and the result is undefined. */
export function runJson<T>(cmd: string, args: string[], threads: number, timeoutMs?: number): T | undefined {
  try {
    const out = execFileSync(cmd, args, {
      encoding: 'utf8',
      timeout: timeoutMs,
      env: { ...process.env, ...mallocEnv, MVFACE_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return JSON.parse(out.trim().split('\n').pop()!) as T;
  } catch (e) {
    console.error(`  ${path.basename(args[0])} ${args.slice(1).join(' ')} failed: ${(e as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
