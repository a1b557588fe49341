/** Every head of the SPEC, each mode and easy margin, and the mining baselines: the loss tests' cases. */
import type { HeadConfig } from '../lib/loss/margin-loss';

const margins: HeadConfig[] = [
  { type: 'am' },
  { type: 'arc' },
  { type: 'combined' },
  { type: 'mv-am', mode: 'fixed' },
  { type: 'mv-am', mode: 'adaptive' },
  { type: 'mv-arc', mode: 'fixed' },
  { type: 'mv-arc', mode: 'adaptive' },
];

export const allHeads: HeadConfig[] = [
  { type: 'softmax' },
  ...margins,
  ...margins.map((h) => ({ ...h, easyMargin: true }) as HeadConfig),
  { type: 'sphereface', lambda: 5 },
  { type: 'sphereface', m: 3, iteration: 100 },
  { type: 'mv-arc', mode: 'adaptive', mining: { type: 'focal' } },
  { type: 'mv-am', mode: 'fixed', mining: { type: 'hm', ratio: 0.75 } },
  { type: 'focal', gamma: 2 },
  { type: 'hm', base: { type: 'arc' } },
];
