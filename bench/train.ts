/**
 * npm run bench -- train: CPU training throughput (samples/s) of MobileFaceNet at 112 x 112 with
 * mv-am, mvface (native data pipeline on synthetic identities, native step) against the same model,
 * head, batch and optimizer in PyTorch eager (bench/baselines/train_eager.py, one fixed batch, no
 * data loading) at the same thread count, from one run; in the contiguous layout and in channels-last
 * (NHWC on both sides); and mvface with its fused batch norm + PReLU + residual passes (fusedNorm).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import { Trainer } from '../lib/train/trainer';
import { median } from './memory';
import { printTable, python, type Row, saveResult } from './report';

interface Case {
  backbone: 'mobilefacenet' | 'small';
  inputSize: number;
  channels: 1 | 3;
  batch: number;
  channelsLast: boolean;
  fusedNorm?: boolean;
}

async function mvfaceSamplesPerSecond(c: Case, warmup: number, steps: number, classes: number): Promise<number> {
  const runsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mvface-bench-'));
  const trainer = await Trainer.create({
    name: 'bench',
    runsDir,
    backbone: { name: c.backbone, inputSize: c.inputSize, inChannels: c.channels, embeddingSize: 512 },
    head: { type: 'mv-am', mode: 'adaptive', t: 1.2 },
    data: {
      kind: 'synthetic',
      classes,
      perClass: Math.ceil(((warmup + steps + 1) * c.batch) / classes),
      height: c.inputSize,
      width: c.inputSize,
      channels: c.channels,
    },
    epochs: 1,
    batchSize: c.batch,
    optimizer: { lr: 0.01 },
    schedule: { type: 'constant' },
    flip: true,
    workers: 1,
    device: 'cpu',
    channelsLast: c.channelsLast,
    fusedNorm: c.fusedNorm ?? false,
  });
  const controller = new AbortController();
  let start = 0n;
  let end = 0n;
  try {
    await trainer.fit({
      signal: controller.signal,
      onStep: (s) => {
        if (s.step === warmup) start = process.hrtime.bigint();
        if (s.step === warmup + steps) {
          end = process.hrtime.bigint();
          controller.abort();
        }
      },
    });
  } finally {
    trainer.dispose();
    fs.rmSync(runsDir, { recursive: true, force: true });
  }
  return (steps * c.batch) / (Number(end - start) / 1e9);
}

export async function benchTrain(options: { steps?: number; rounds?: number } = {}): Promise<Row[]> {
  const rounds = options.rounds ?? 3;
  const threads = backendInfo().threads;
  const steps = options.steps ?? 8;
  const warmup = 2;
  const classes = 100;
  const mobile = { backbone: 'mobilefacenet', inputSize: 112, channels: 3, batch: 32 } as const;
  const cases: Case[] = [
    { ...mobile, channelsLast: false },
    { ...mobile, channelsLast: true },
  ];
  const rows: Row[] = [];
  const py = python();
  const script = path.join(__dirname, '..', '..', 'bench', 'baselines', 'train_eager.py');
  for (const c of cases) {
    // Rounds alternate the two, so that the machine's load hits both alike; medians are reported.
    const ours: number[] = [];
    const fused: number[] = [];
    const theirs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      if (py) {
        const out = execFileSync(
          py,
          [
            script,
            '--backbone',
            c.backbone,
            '--input-size',
            `${c.inputSize}`,
            '--channels',
            `${c.channels}`,
            '--batch',
            `${c.batch}`,
            '--classes',
            `${classes}`,
            '--threads',
            `${threads}`,
            '--warmup',
            `${warmup}`,
            '--steps',
            `${steps}`,
            ...(c.channelsLast ? ['--channels-last'] : []),
          ],
          { encoding: 'utf8' },
        );
        theirs.push(JSON.parse(out.trim().split('\n').pop()!).samplesPerSecond);
      }
      ours.push(await mvfaceSamplesPerSecond(c, warmup, steps, classes));
      fused.push(await mvfaceSamplesPerSecond({ ...c, fusedNorm: true }, warmup, steps, classes));
    }
    const name = `${c.backbone} ${c.inputSize}x${c.inputSize}x${c.channels}, batch ${c.batch}, mv-am, ${classes} classes${c.channelsLast ? ', channels-last' : ''}`;
    const base = theirs.length ? median(theirs) : undefined;
    rows.push({ case: name, variant: 'PyTorch eager (fixed batch)', samplesPerSecond: base, vsPyTorch: base ? 1 : undefined });
    rows.push({
      case: name,
      variant: 'mvface (native pipeline + step)',
      samplesPerSecond: median(ours),
      vsPyTorch: base ? median(ours) / base : undefined,
      vsModules: 1,
    });
    rows.push({
      case: name,
      variant: 'mvface, fused batch norm + PReLU + residual (fusedNorm)',
      samplesPerSecond: median(fused),
      vsPyTorch: base ? median(fused) / base : undefined,
      vsModules: median(fused) / median(ours),
    });
  }
  printTable(`CPU training throughput, ${threads} threads (median of ${rounds} rounds of ${steps} steps after ${warmup} warm-up)`, rows);
  saveResult('train', rows, { threads, steps, warmup, rounds });
  return rows;
}
