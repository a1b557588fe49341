/**
 * node dist/bench/train-gpu.js: GPU training throughput, side by side from one run (scripts/gpu-check.sh
 * runs it): IResNet-50 and MobileFaceNet at 112 x 112, batch 256, bf16, mv-arc, 1000 classes:
 * mvface (batches generated on the GPU, the native step from Node; also with the step captured in
 * CUDA graphs, --no-graph to skip) against the same model, head,
 * batch, precision and optimizer in PyTorch eager and with torch.compile
 * (bench/baselines/train_eager.py --device cuda [--compile]), as ratios; the input pipeline alone
 * (RecordIO JPEG decode + flip + normalise on every core) against what the IResNet-50 step consumes,
 * and the IResNet-50 step fed by that loader (its ratio: GPU-generated batches over loader-fed);
 * and a long run (2,000 MobileFaceNet steps) sampling host RSS and device memory. Each mvface run is
 * `mvface bench train --device cuda --json` in a child process. Writes bench/results/gpu-train-<date>-<card>.md (and .json)
 * after every run, in this order: per model mvface, PyTorch eager, graphs, fused; the long run;
 * torch.compile; the loader-fed row. So a time limit cuts the slowest parts first.
 *   --steps n --warmup n --memory-steps n --backbones iresnet50,mobilefacenet --no-compile --no-graph --out dir
 *   --batch n (256) --device cpu (a rehearsal of the flow on a machine without a GPU, no graphs)
 *   --channels-last (NHWC on both sides: mvface's channelsLast and train_eager.py --channels-last)
 *   --no-loader (skip the first model's row fed by the native RecordIO JPEG loader)
 *   --no-fused (skip the rows with the fused batch norm + PReLU + residual kernels, eager and in graphs)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo } from '../lib/native/backend';
import type { TrainBenchResult } from '../lib/bench/train-bench';
import { flagValue as value } from './argv';
import { formatTable, python } from './report';
import { type Measured, modelRows, type PyTorchRun } from './train-gpu-table';
import { runJson } from './run-json';

const script = path.join(__dirname, '..', '..', 'bench', 'baselines', 'train_eager.py');

/**
 * `mvface bench train --json` with these flags (--device among them), in a child process, so that a failing
 * run (a capture, a CUDA error) costs its row and not the table. Undefined when it wrote no result.
 */
function mvfaceRun(label: string, flags: string[], timeoutMs: number): TrainBenchResult | undefined {
  const file = path.join(os.tmpdir(), `mvface-train-gpu-${process.pid}-${label}.json`);
  const cli = path.join(__dirname, '..', 'lib', 'cli', 'main.js');
  try {
    execFileSync(process.execPath, [cli, 'bench', 'train', ...flags, '--json', file], { stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMs });
  } catch (e) {
    // A growing memory series exits 1 after writing its result; anything else left no file.
    if (!fs.existsSync(file)) {
      console.error(`  mvface bench train (${label}) failed: ${(e as Error).message.split('\n')[0]}`);
      return undefined;
    }
  }
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as TrainBenchResult;
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** The GPU training table (flags as above); `npm run bench -- train` runs it where the addon sees a GPU. */
export async function benchTrainGpu(argv: string[] = []): Promise<void> {
  const info = backendInfo();
  // --device cpu rehearses the whole flow on a machine without a GPU (small --batch; no graphs there).
  const device = value(argv, '--device') ?? 'cuda';
  if (device !== 'cuda' && device !== 'cpu') throw new Error(`bench/train-gpu: --device cuda or cpu, got ${device}`);
  if (device === 'cuda' && !info.cudaAvailable) throw new Error('bench/train-gpu: no CUDA device visible to the addon (build against a CUDA libtorch)');
  const steps = Number(value(argv, '--steps') ?? 30);
  const warmup = Number(value(argv, '--warmup') ?? 10);
  const memorySteps = Number(value(argv, '--memory-steps') ?? 2000);
  const backbones = (value(argv, '--backbones') ?? 'iresnet50,mobilefacenet').split(',');
  const batch = Number(value(argv, '--batch') ?? 256);
  const compile = !argv.includes('--no-compile');
  const options = { graph: !argv.includes('--no-graph') && device === 'cuda', fused: !argv.includes('--no-fused'), loader: !argv.includes('--no-loader') };
  const channelsLast = argv.includes('--channels-last');
  const classes = 1000;
  const threads = os.cpus().length;
  const py = python();
  const measured = new Map<string, Measured>(backbones.map((b) => [b, {}]));
  const json: Record<string, unknown> = { steps, warmup, batch, classes, device: info.cudaDevices[0] ?? 'cpu', libtorch: info.libtorchVersion };
  let memoryLine = memorySteps > 0 ? 'long run: not reached' : 'long run: not run (--memory-steps 0)';
  const dir = value(argv, '--out') ?? path.join(__dirname, '..', '..', 'bench', 'results');
  const card = (info.cudaDevices[0] ?? (device === 'cpu' ? 'cpu-rehearsal' : 'gpu'))
    .replace(/^NVIDIA\s+/, '')
    .replace(/[^\w.-]+/g, '-')
    .toLowerCase();
  const file = path.join(dir, `gpu-train-${new Date().toISOString().slice(0, 10)}-${card}${channelsLast ? '-nhwc' : ''}`);
  const title = `GPU training throughput on ${info.cudaDevices[0] ?? device} (libtorch ${info.libtorchVersion}; ${warmup} warm-up + ${steps} timed steps, ${classes} classes; ratios = mvface's samples/s, without and with CUDA graphs, over the row's)`;
  const caseName = (backbone: string) => `${backbone} 112x112, batch ${batch}, bf16, mv-arc${channelsLast ? ', channels-last' : ''}`;
  const table = () => {
    const rows = backbones.flatMap((b) =>
      modelRows(caseName(b), measured.get(b)!, { ...options, loader: options.loader && b === backbones[0], cuda: device === 'cuda', compile }),
    );
    const first = measured.get(backbones[0])!.ours;
    if (first?.pipeline) {
      const consumer = measured.get('iresnet50')?.ours?.samplesPerSecond ?? first.samplesPerSecond;
      const by = measured.get('iresnet50')?.ours ? 'iresnet50' : backbones[0];
      rows.push({
        case: `input pipeline alone: ${first.pipeline.kind} JPEG 112x112 decode + flip + normalise, ${first.pipeline.workers} threads`,
        variant: `vs the ${by} step's consumption`,
        samplesPerSecond: first.pipeline.samplesPerSecond,
        peakMiB: undefined,
        'mvface / this': first.pipeline.samplesPerSecond / consumer,
      });
    }
    return formatTable(rows);
  };
  // Written after every run, so that a run stopped by a time limit still leaves what it measured.
  const save = () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${file}.md`, `# GPU training benchmark\n\n${title}\n\n${table()}\n\n${memoryLine}\n`);
    fs.writeFileSync(`${file}.json`, `${JSON.stringify({ ...json, ...Object.fromEntries(measured) }, null, 2)}\n`);
  };
  const measure = <K extends keyof Measured>(backbone: string, key: K, run: () => Measured[K] | undefined) => {
    measured.get(backbone)![key] = run() ?? null;
    save();
  };
  const pytorchArgs = (backbone: string) => [
    script,
    '--device',
    device,
    '--backbone',
    backbone,
    '--batch',
    `${batch}`,
    '--classes',
    `${classes}`,
    '--head',
    'mv-arc',
    '--precision',
    'bf16',
    '--threads',
    `${threads}`,
    '--warmup',
    `${warmup}`,
    '--steps',
    `${steps}`,
    ...(channelsLast ? ['--channels-last'] : []),
  ];
  const common = (backbone: string) => [
    '--device',
    device,
    '--backbone',
    backbone,
    '--batch',
    `${batch}`,
    '--precision',
    'bf16',
    '--classes',
    `${classes}`,
    '--steps',
    `${steps}`,
    '--warmup',
    `${warmup}`,
    ...(channelsLast ? ['--channels-last'] : []),
  ];
  save();

  // The cheap runs first, for every model; then the memory run; then torch.compile (minutes of
  // compiling) and the loader-fed row, so that a time limit cuts the least.
  for (const backbone of backbones) {
    const first = backbone === backbones[0];
    measure(backbone, 'ours', () => mvfaceRun(backbone, [...common(backbone), '--no-fused-norm', '--pipeline', first ? 'recordio' : 'none'], 300_000));
    if (py) measure(backbone, 'eager', () => runJson<PyTorchRun>(py, pytorchArgs(backbone), threads, 240_000));
    if (options.graph)
      measure(backbone, 'graphed', () =>
        mvfaceRun(`${backbone}-graph`, [...common(backbone), '--no-fused-norm', '--pipeline', 'none', '--cuda-graph'], 300_000),
      );
    if (options.fused) measure(backbone, 'fused', () => mvfaceRun(`${backbone}-fused`, [...common(backbone), '--pipeline', 'none', '--fused-norm'], 300_000));
    if (options.fused && options.graph) {
      measure(backbone, 'fusedGraphed', () =>
        mvfaceRun(`${backbone}-fused-graph`, [...common(backbone), '--pipeline', 'none', '--fused-norm', '--cuda-graph'], 300_000),
      );
    }
  }
  if (memorySteps > 0) {
    const flags = [
      '--device',
      device,
      '--backbone',
      'mobilefacenet',
      '--batch',
      `${batch}`,
      '--precision',
      'bf16',
      '--classes',
      `${classes}`,
      '--steps',
      '1',
      '--warmup',
      '1',
      '--pipeline',
      'none',
      '--memory-steps',
      `${memorySteps}`,
    ];
    const m = mvfaceRun('memory', flags, 600_000)?.memoryCheck;
    json.memoryCheck = m;
    const onDevice = m?.deviceGrowthBytes === undefined ? '' : `, device allocated ${(m.deviceGrowthBytes / 2 ** 20).toFixed(1)} MiB`;
    memoryLine = m
      ? `long run: ${m.steps} MobileFaceNet steps (batch ${batch}, bf16): host RSS ${(m.rssGrowthBytes / 2 ** 20).toFixed(1)} MiB${onDevice} from step ${m.samples.find((s) => s.step >= m.steps * 0.1)?.step} to ${m.steps}: ${m.flat ? 'flat' : 'GROWING'}`
      : 'long run: FAILED (see the log)';
    save();
  }
  for (const backbone of backbones) {
    if (py && compile) measure(backbone, 'compiled', () => runJson<PyTorchRun>(py, [...pytorchArgs(backbone), '--compile'], threads, 400_000));
  }
  // The first model's step fed by the native loader decoding RecordIO JPEGs: the input pipeline overlapped with training.
  if (options.loader)
    measure(backbones[0], 'fed', () =>
      mvfaceRun(`${backbones[0]}-recordio`, [...common(backbones[0]), '--no-fused-norm', '--pipeline', 'none', '--source', 'recordio'], 300_000),
    );
  console.log(`\n${title}\n${table()}\n${memoryLine}\n`);
  console.log(`saved ${path.relative(process.cwd(), file)}.md`);
  if (memorySteps > 0 && !(json.memoryCheck as { flat?: boolean } | undefined)?.flat) process.exitCode = 1;
}

if (require.main === module) {
  benchTrainGpu(process.argv.slice(2)).catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
