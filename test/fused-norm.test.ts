/**
 * The fused batch norm (+ PReLU, + residual) is the CPU's default in training: its CPU passes
 * against libtorch in float64, values and gradients, op by op and through whole backbones. The
 * checks are native (native/core/cuda/checks/norm_checks.cpp, shared with the GPU's and the emulated
 * kernels' checks); a clone's build makes the program that runs them on the CPU.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const program = path.resolve(__dirname, '..', process.env.MVFACE_BUILD_DIR ?? 'build', 'Release', 'mvface_check_norm_cpu');

describe('the fused batch norm on the CPU', () => {
  it('matches libtorch in float64: outputs, input and parameter gradients, MobileFaceNet and IResNet-18 gradients; refuses what it cannot run', () => {
    expect(fs.existsSync(program), `${program} is missing: build with node scripts/build-native.js`).toBe(true);
    const r = spawnSync(program, { encoding: 'utf8', timeout: 120_000 });
    const summary = /fused batch norm: (\d+) of (\d+) checks passed/.exec(r.stdout);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('FAIL'))).toEqual([]);
    expect([r.status, r.signal]).toEqual([0, null]);
    expect(summary?.[1]).toBe(summary?.[2]);
    expect(Number(summary?.[2])).toBeGreaterThanOrEqual(9 * 24 + 2); // 9 shapes x 24 variants, the two backbones
  });
});
