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
 * `mvface bench train --device cuda --json` in a child process. Writes bench/results/gpu-train-<date>-<card>.md (and .json).
 *   --steps n --warmup n --memory-steps n --backbones iresnet50,mobilefacenet --no-compile --no-graph --out dir
 *   --channels-last (NHWC on both sides: mvface's channelsLast and train_eager.py --channels-last)
 *   --no-loader (skip the first model's row fed by the native RecordIO JPEG loader)
 *   --no-fused (skip the rows with the fused batch norm + PReLU + residual kernels, eager and in graphs)
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendInfo } from '../lib/backend';
import type { TrainBenchResult } from '../lib/bench-train';
import { formatTable, python, type Row } from './report';
import { runJson } from './run-json';

interface PyTorchRun {
  samplesPerSecond: number;
  stepMs: number;
  peakBytes: number;
  warmupSeconds: number;
  torch: string;
}

const script = path.join(__dirname, '..', '..', 'bench', 'baselines', 'train_eager.py');
const mib = (b: number | undefined) => (b === undefined ? undefined : Math.round(b / 2 ** 20));

/**
 * `mvface bench train --device cuda --json` with these flags, in a child process, so that a failing
 * run (a capture, a CUDA error) costs its row and not the table. Undefined when it wrote no result.
 */
function mvfaceRun(label: string, flags: string[], timeoutMs: number): TrainBenchResult | undefined {
  const file = path.join(os.tmpdir(), `mvface-train-gpu-${process.pid}-${label}.json`);
  const cli = path.join(__dirname, '..', 'lib', 'cli.js');
  try {
    execFileSync(process.execPath, [cli, 'bench', 'train', '--device', 'cuda', ...flags, '--json', file], { stdio: ['ignore', 'inherit', 'inherit'], timeout: timeoutMs });
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

function value(argv: string[], flag: string): string | undefined {
  const at = argv.lastIndexOf(flag);  // the last one wins (gpu-check appends overrides)
  return at >= 0 ? argv[at + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const info = backendInfo();
  if (!info.cudaAvailable) throw new Error('bench/train-gpu: no CUDA device visible to the addon (build against a CUDA libtorch)');
  const steps = Number(value(argv, '--steps') ?? 30);
  const warmup = Number(value(argv, '--warmup') ?? 10);
  const memorySteps = Number(value(argv, '--memory-steps') ?? 2000);
  const backbones = (value(argv, '--backbones') ?? 'iresnet50,mobilefacenet').split(',');
  const compile = !argv.includes('--no-compile');
  const graph = !argv.includes('--no-graph');
  const channelsLast = argv.includes('--channels-last');
  const loaderRow = !argv.includes('--no-loader');
  const fusedRows = !argv.includes('--no-fused');
  const batch = 256;
  const classes = 1000;
  const threads = os.cpus().length;
  const py = python();
  const rows: Row[] = [];
  const json: Record<string, unknown> = { steps, warmup, batch, classes, device: info.cudaDevices[0], libtorch: info.libtorchVersion };
  let iresnetRate: number | undefined;
  let pipeline: TrainBenchResult['pipeline'];
  let memoryLine = memorySteps > 0 ? 'long run: not reached' : 'long run: not run (--memory-steps 0)';
  const dir = value(argv, '--out') ?? path.join(__dirname, '..', '..', 'bench', 'results');
  const card = (info.cudaDevices[0] ?? 'gpu').replace(/^NVIDIA\s+/, '').replace(/[^\w.-]+/g, '-').toLowerCase();
  const file = path.join(dir, `gpu-train-${new Date().toISOString().slice(0, 10)}-${card}${channelsLast ? '-nhwc' : ''}`);
  const title = `GPU training throughput on ${info.cudaDevices[0]} (libtorch ${info.libtorchVersion}; ${warmup} warm-up + ${steps} timed steps, ${classes} classes; ratios = mvface's samples/s, without and with CUDA graphs, over the row's)`;
  // Written after every part, so that a run stopped by a time limit still leaves what it measured.
  const save = () => {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(`${file}.md`, `# GPU training benchmark\n\n${title}\n\n${formatTable(rows)}\n\n${memoryLine}\n`);
    fs.writeFileSync(`${file}.json`, `${JSON.stringify(json, null, 2)}\n`);
  };

  for (const backbone of backbones) {
    const name = `${backbone} 112x112, batch ${batch}, bf16, mv-arc${channelsLast ? ', channels-last' : ''}`;
    const args = [script, '--device', 'cuda', '--backbone', backbone, '--batch', `${batch}`, '--classes', `${classes}`, '--head', 'mv-arc',
      '--precision', 'bf16', '--threads', `${threads}`, '--warmup', `${warmup}`, '--steps', `${steps}`, ...(channelsLast ? ['--channels-last'] : [])];
    const eager = py ? runJson<PyTorchRun>(py, args, threads, 240_000) : undefined;
    const compiled = py && compile ? runJson<PyTorchRun>(py, [...args, '--compile'], threads, 400_000) : undefined;
    const first = backbone === backbones[0];
    const common = ['--backbone', backbone, '--batch', `${batch}`, '--precision', 'bf16', '--classes', `${classes}`, '--steps', `${steps}`, '--warmup', `${warmup}`,
      ...(channelsLast ? ['--channels-last'] : [])];
    const ours = mvfaceRun(backbone, [...common, '--pipeline', first ? 'recordio' : 'none'], 300_000);
    const graphed = graph ? mvfaceRun(`${backbone}-graph`, [...common, '--pipeline', 'none', '--cuda-graph'], 300_000) : undefined;
    // The same step fed by the native loader decoding RecordIO JPEGs: the input pipeline overlapped with training.
    const fed = first && loaderRow ? mvfaceRun(`${backbone}-recordio`, [...common, '--pipeline', 'none', '--source', 'recordio'], 300_000) : undefined;
    // The fused batch norms (fusedNorm), eagerly and in CUDA graphs.
    const fused = fusedRows ? mvfaceRun(`${backbone}-fused`, [...common, '--pipeline', 'none', '--fused-norm'], 300_000) : undefined;
    const fusedGraphed = fusedRows && graph ? mvfaceRun(`${backbone}-fused-graph`, [...common, '--pipeline', 'none', '--fused-norm', '--cuda-graph'], 300_000) : undefined;
    if (backbone === 'iresnet50') iresnetRate = ours?.samplesPerSecond;
    if (first) pipeline = ours?.pipeline;
    json[backbone] = { mvface: ours, mvfaceGraph: graphed, mvfaceRecordio: fed, mvfaceFused: fused, mvfaceFusedGraph: fusedGraphed, eager, compiled };
    const ratios = (rate: number | undefined) => ({
      'mvface / this': rate && ours && ours.samplesPerSecond / rate,
      'mvface graph / this': rate && graphed && graphed.samplesPerSecond / rate,
      ...(fusedRows && { 'fused + graph / this': rate && fusedGraphed && fusedGraphed.samplesPerSecond / rate }),
    });
    rows.push({ case: name, variant: 'PyTorch eager', samplesPerSecond: eager?.samplesPerSecond, peakMiB: mib(eager?.peakBytes), ...ratios(eager?.samplesPerSecond) });
    rows.push({ case: name, variant: 'PyTorch torch.compile', samplesPerSecond: compiled?.samplesPerSecond, peakMiB: mib(compiled?.peakBytes), ...ratios(compiled?.samplesPerSecond) });
    const oursVariant = ours ? 'mvface (GPU-generated batches, native step from Node)' : 'mvface: FAILED (see the log)';
    rows.push({ case: name, variant: oursVariant, samplesPerSecond: ours?.samplesPerSecond, peakMiB: mib(ours?.peakMemory.bytes), 'Node ms/step': ours?.split.restMs, ...ratios(ours?.samplesPerSecond) });
    if (first && loaderRow) {
      const variant = fed ? `mvface, fed by the RecordIO JPEG loader (${fed.workers} decoding threads, pinned upload)` : 'mvface, fed by the RecordIO JPEG loader: FAILED (see the log)';
      rows.push({ case: name, variant, samplesPerSecond: fed?.samplesPerSecond, peakMiB: mib(fed?.peakMemory.bytes), 'Node ms/step': fed?.split.restMs, 'mvface / this': ours && fed && ours.samplesPerSecond / fed.samplesPerSecond });
    }
    if (graph) {
      const variant = graphed ? `mvface, step in CUDA graphs (${graphed.graphSteps} of ${graphed.steps} timed steps replayed)` : 'mvface, step in CUDA graphs: FAILED (see the log)';
      rows.push({ case: name, variant, samplesPerSecond: graphed?.samplesPerSecond, peakMiB: mib(graphed?.peakMemory.bytes), 'Node ms/step': graphed?.split.restMs, ...ratios(graphed?.samplesPerSecond) });
    }
    const fusedRow = (run: TrainBenchResult | undefined, what: string) => {
      // A run whose trainer did not turn the fused norms on is not a fused row.
      const variant = run?.fusedNorm ? `mvface, ${what}` : run ? `mvface, ${what}: NOT FUSED (fusedNorm off)` : `mvface, ${what}: FAILED (see the log)`;
      rows.push({ case: name, variant, samplesPerSecond: run?.samplesPerSecond, peakMiB: mib(run?.peakMemory.bytes), 'Node ms/step': run?.split.restMs, ...ratios(run?.samplesPerSecond) });
    };
    if (fusedRows) fusedRow(fused, 'fused batch norm + PReLU + residual kernels');
    if (fusedRows && graph) fusedRow(fusedGraphed, `fused batch norms, step in CUDA graphs (${fusedGraphed?.graphSteps ?? 0} replayed)`);
    save();
  }
  if (pipeline) {
    const consumer = iresnetRate ?? (rows.find((r) => String(r.variant).startsWith('mvface'))?.samplesPerSecond as number);
    rows.push({ case: `input pipeline alone: ${pipeline.kind} JPEG 112x112 decode + flip + normalise, ${pipeline.workers} threads`, variant: `vs the ${iresnetRate ? 'iresnet50' : backbones[0]} step's consumption`, samplesPerSecond: pipeline.samplesPerSecond, peakMiB: undefined, 'mvface / this': consumer ? pipeline.samplesPerSecond / consumer : undefined });
  }
  save();
  if (memorySteps > 0) {
    const flags = ['--backbone', 'mobilefacenet', '--batch', `${batch}`, '--precision', 'bf16', '--classes', `${classes}`, '--steps', '1', '--warmup', '1',
      '--pipeline', 'none', '--memory-steps', `${memorySteps}`];
    const m = mvfaceRun('memory', flags, 600_000)?.memoryCheck;
    json.memoryCheck = m;
    memoryLine = m
      ? `long run: ${m.steps} MobileFaceNet steps (batch ${batch}, bf16): host RSS ${(m.rssGrowthBytes / 2 ** 20).toFixed(1)} MiB, device allocated ${((m.deviceGrowthBytes ?? 0) / 2 ** 20).toFixed(1)} MiB from step ${m.samples.find((s) => s.step >= m.steps * 0.1)?.step} to ${m.steps}: ${m.flat ? 'flat' : 'GROWING'}`
      : 'long run: FAILED (see the log)';
  }
  save();
  console.log(`\n${title}\n${formatTable(rows)}\n${memoryLine}\n`);
  console.log(`saved ${path.relative(process.cwd(), file)}.md`);
  if (memorySteps > 0 && !(json.memoryCheck as { flat?: boolean } | undefined)?.flat) process.exitCode = 1;
}

main(process.argv.slice(2)).catch((e) => {
  console.error(e);
  process.exit(1);
});
