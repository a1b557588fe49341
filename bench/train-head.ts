/**
 * npm run bench -- train-head: training throughput with a large head on this machine, from one run:
 * the whole head against chunkClasses and Partial FC (sampleRate 0.1), the small net at 32 x 32 so
 * that the head's share of the step is large (200,000 classes, D = 512, batch 64). Rounds alternate;
 * the median per variant is reported with its ratio to the whole head, and the peak RSS.
 */
import * as os from 'node:os';
import { benchTrainStep, type TrainBenchOptions } from '../lib/bench/train-bench';
import { median } from './memory';
import { printTable, type Row, saveResult } from './report';

const classes = 200_000;
const batch = 64;
const base: TrainBenchOptions = { backbone: 'small', inputSize: 32, batch, classes, steps: 6, warmup: 2, device: 'cpu', pipeline: 'none' };

export async function benchTrainHead(rounds = 3): Promise<Row[]> {
  const variants: Array<[string, TrainBenchOptions]> = [
    ['whole head', {}],
    ['chunkClasses 16384', { chunkClasses: 16_384 }],
    ['Partial FC, sampleRate 0.1', { sampleRate: 0.1 }],
  ];
  const rates: number[][] = variants.map(() => []);
  const peaks: number[][] = variants.map(() => []);
  for (let r = 0; r < rounds; r++) {
    for (const [i, [, over]] of variants.entries()) {
      const result = await benchTrainStep({ ...base, ...over });
      rates[i].push(result.samplesPerSecond);
      peaks[i].push(result.peakMemory.bytes);
    }
  }
  const whole = median(rates[0]);
  const rows: Row[] = variants.map(([variant], i) => ({
    case: `small 32x32, batch ${batch}, mv-arc, ${classes} classes, D 512`,
    variant,
    samplesPerSecond: Number(median(rates[i]).toFixed(1)),
    vsWholeHead: Number((median(rates[i]) / whole).toFixed(3)),
    peakRssMiB: Math.round(median(peaks[i]) / 2 ** 20),
  }));
  printTable(`training with a large head on the CPU, ${os.availableParallelism()} cores (median of ${rounds} alternating rounds)`, rows);
  saveResult('train-head', rows, { classes, batch, rounds });
  return rows;
}
