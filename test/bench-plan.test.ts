/** What `npm run bench -- [names] [flags]` runs (bench/plan.ts): names, device and the GPU tables' flags. */
import { describe, expect, it } from 'vitest';
import { fits } from '../bench/loss-cuda';
import { planBenches } from '../bench/plan';

describe('npm run bench: the plan', () => {
  it('runs loss, train and scale by default, on the GPU where the addon sees one', () => {
    expect(planBenches([], false)).toEqual({ names: ['loss', 'train', 'scale'], device: 'cpu', flags: [] });
    expect(planBenches([], true)).toEqual({ names: ['loss', 'train', 'scale'], device: 'cuda', flags: [] });
  });

  it('takes the names before the first flag and passes the flags on', () => {
    expect(planBenches(['train', 'norm', '--no-compile', '--memory-steps', '500'], true)).toEqual({
      names: ['train', 'norm'],
      device: 'cuda',
      flags: ['--no-compile', '--memory-steps', '500'],
    });
    expect(planBenches(['train', '--device', 'cpu'], true)).toEqual({ names: ['train'], device: 'cpu', flags: ['--device', 'cpu'] });
  });

  it('refuses unknown names, GPU-only names without a GPU, and a bad --device', () => {
    expect(() => planBenches(['trian'], true)).toThrow(/unknown benchmark trian; available: loss, train, scale, dp, heads, train-head, embed, norm/);
    expect(() => planBenches(['norm'], false)).toThrow(/unknown benchmark norm \(norm: a CUDA device only\)/);
    expect(() => planBenches(['norm', '--device', 'cpu'], true)).toThrow(/norm: a CUDA device only/);
    expect(() => planBenches(['train', '--device', 'cuda'], false)).toThrow(/sees no CUDA device.*LIBTORCH_USE_PYTORCH=1/);
    expect(() => planBenches(['train', '--device', 'tpu'], true)).toThrow(/--device takes cpu or cuda, got tpu/);
    expect(() => planBenches(['train', '--device'], true)).toThrow(/--device takes cpu or cuda, got nothing/);
  });
});

describe('GPU loss benchmark: sizes that do not fit the card are skipped', () => {
  const h100 = 79e9,
    h200 = 140e9; // free bytes, about
  const at = (C: number) => ({ B: 512, D: 512, C });

  it('runs the fused path at 10M classes on an H100, not the GEMM floor (two 20 GB B x C buffers beside 41 GB of W and its gradient)', () => {
    expect(fits('fused', at(10_000_000), h100)).toBeUndefined();
    expect(fits('floor', at(10_000_000), h100)).toMatch(/^skipped: needs about 76 GiB, 74 GiB free$/);
    expect(fits('floor', at(10_000_000), h200)).toBeUndefined();
  });

  it('fits everything at 100k and 1M classes on an H100', () => {
    for (const C of [100_000, 1_000_000]) {
      for (const v of ['fused', 'chunked', 'floor', 'eager', 'compile'] as const) expect(fits(v, at(C), h100)).toBeUndefined();
    }
  });
});
