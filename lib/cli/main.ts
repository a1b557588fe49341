#!/usr/bin/env node
/** mvface: train | embed | export | eval | report | faces | compare | bench | info | build | demo. */
import { Command, Option } from 'commander';
import { packageVersion } from '../native/addon';
import { backendInfo } from '../native/backend';
import { buildAddon } from '../native/build';
import { registerBenchCommand } from './bench';
import { registerCompareCommand } from './compare';
import { registerEvalCommands } from './eval';
import { registerFacesCommand } from './faces';
import { deviceArg, headFromFlags, integerArg as integer, keyValues, numberArg as number, parseDataArg } from './args';
import { embedDataSet } from '../model/embed-data-set';
import { ProcessGroup } from '../train/distributed';
import { exitWithLauncher, launchLocal, withoutNproc } from './launch';
import { runDemo } from '../experiments/demo';
import { checkConfig, trainConfigJsonSchema, trainConfigSchema } from '../config/schema';
import { MvfaceError } from '../errors';
import { Model } from '../model/model';
import { exportOnnx } from '../model/onnx/export';
import { createProgress } from './progress';
import { readJson } from '../train/run-files';
import type { Schedule } from '../train/schedule';
import { backboneDefaults, headDefaults, optimizerDefaults, scheduleDefaults, trainDefaults } from '../config/defaults';
import { type Device, type TrainConfig, Trainer } from '../train/trainer';

const signalExitCodes: Record<string, number> = { SIGINT: 130, SIGTERM: 143 };

/**
 * An AbortSignal fired by the first SIGINT (Ctrl-C) or SIGTERM (docker stop, Kubernetes, SLURM); its
 * reason is the exit code to use. A second signal exits at once.
 */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\nmvface: ${signal}: stopping after this step and writing a checkpoint (again to quit now)\n`);
    controller.abort(signalExitCodes[signal]);
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, () => process.exit(signalExitCodes[s]));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return controller.signal;
}

/** The exit code of a run the signal cancelled: 130 after SIGINT, 143 after SIGTERM. */
function cancelledExitCode(signal: AbortSignal): number {
  return typeof signal.reason === 'number' ? signal.reason : 130;
}

interface TrainFlags {
  config?: string;
  name?: string;
  runsDir?: string;
  backbone?: string;
  embeddingSize?: number;
  inputSize?: number;
  channels?: number;
  head?: string;
  mode?: string;
  t?: number;
  scale?: number;
  margin?: number;
  easyMargin?: boolean;
  data?: string;
  evalData?: string;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  seed?: number;
  device?: Device;
  precision?: 'fp32' | 'bf16' | 'fp16';
  channelsLast?: boolean;
  fusedNorm?: boolean;
  cudnnBenchmark?: boolean;
  tf32?: boolean;
  cudaGraph?: boolean;
  sampleRate?: number;
  chunkClasses?: number;
  workers?: number;
  resume?: boolean;
  overwrite?: boolean;
  momentum?: number;
  weightDecay?: number;
  schedule?: 'cosine' | 'multistep' | 'poly' | 'constant';
  milestones?: number[];
  gamma?: number;
  minLr?: number;
  power?: number;
  warmupEpochs?: number;
  evalEvery?: number;
  evalBin?: string[];
  checkpointEverySteps?: number;
  checkpointEveryMinutes?: number;
  onCorrupt?: 'skip' | 'fail';
  nproc?: number;
  shardHead?: boolean;
  block?: 'ir' | 'ir_se';
  dropout?: number;
  norm?: 'batch' | 'none';
  headOption?: string[];
  numClasses?: number;
  flip?: boolean;
  syntheticOnDevice?: boolean;
  lossScale?: boolean;
  staticStep?: boolean;
  evalBatchSize?: number;
}

function scheduleFromFlags(f: TrainFlags): Schedule {
  const defined = <T extends object>(o: T) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  switch (f.schedule) {
    case 'multistep':
      if (!f.milestones) throw new MvfaceError('E_CONFIG', '--schedule multistep needs --milestones', 'milestones');
      return { type: 'multistep', milestones: f.milestones, ...defined({ gamma: f.gamma }) };
    case 'poly':
      return { type: 'poly', ...defined({ power: f.power }) };
    case 'constant':
      return { type: 'constant' };
    default:
      return { type: 'cosine', ...defined({ minLr: f.minLr }) };
  }
}

function trainConfig(f: TrainFlags): TrainConfig {
  const base: Partial<TrainConfig> = f.config ? readJson<TrainConfig>(f.config) : {};
  const c: Record<string, unknown> = { ...base };
  if (f.name !== undefined) c.name = f.name;
  if (f.runsDir !== undefined) c.runsDir = f.runsDir;
  const backbone = {
    name: f.backbone,
    embeddingSize: f.embeddingSize,
    inputSize: f.inputSize,
    inChannels: f.channels,
    block: f.block,
    dropout: f.dropout,
    norm: f.norm,
  };
  if (Object.values(backbone).some((v) => v !== undefined)) {
    c.backbone = { ...(base.backbone ?? {}), ...Object.fromEntries(Object.entries(backbone).filter(([, v]) => v !== undefined)) };
  }
  if (f.head) c.head = headFromFlags({ head: f.head, mode: f.mode, t: f.t, scale: f.scale, margin: f.margin, easyMargin: f.easyMargin });
  if (f.headOption) {
    if (c.head === undefined) throw new MvfaceError('E_CONFIG', '--head-option goes with --head or a --config file with a head', 'head');
    c.head = { ...(c.head as object), ...keyValues(f.headOption, '--head-option') };
  }
  if (f.data) c.data = parseDataArg(f.data);
  if (f.evalData) c.evalData = parseDataArg(f.evalData);
  if (f.epochs !== undefined) c.epochs = f.epochs;
  if (f.batchSize !== undefined) c.batchSize = f.batchSize;
  const optimizer = Object.fromEntries(Object.entries({ lr: f.lr, momentum: f.momentum, weightDecay: f.weightDecay }).filter(([, v]) => v !== undefined));
  if (Object.keys(optimizer).length) c.optimizer = { ...(base.optimizer ?? {}), ...optimizer };
  if (f.schedule !== undefined) c.schedule = scheduleFromFlags(f);
  else if ([f.milestones, f.gamma, f.minLr, f.power].some((v) => v !== undefined))
    throw new MvfaceError('E_CONFIG', '--milestones, --gamma, --min-lr and --power go with --schedule', 'schedule');
  if (f.warmupEpochs !== undefined) c.warmupEpochs = f.warmupEpochs;
  if ((f.evalEvery === undefined) !== (f.evalBin === undefined)) throw new MvfaceError('E_CONFIG', '--eval-every and --eval-bin go together', 'eval');
  if (f.evalEvery !== undefined && f.evalBin) {
    c.eval = {
      every: f.evalEvery,
      sets: f.evalBin.map((path) => ({ kind: 'bin', path })),
      ...(f.evalBatchSize !== undefined && { batchSize: f.evalBatchSize }),
    };
  } else if (f.evalBatchSize !== undefined) throw new MvfaceError('E_CONFIG', '--eval-batch-size goes with --eval-every and --eval-bin', 'eval');
  if (f.seed !== undefined) c.seed = f.seed;
  if (f.device) c.device = f.device;
  if (f.precision) c.precision = f.precision;
  if (f.channelsLast) c.channelsLast = true;
  if (f.fusedNorm !== undefined) c.fusedNorm = f.fusedNorm;
  if (f.cudnnBenchmark === false) c.cudnnBenchmark = false;
  if (f.tf32 !== undefined) c.tf32 = f.tf32;
  if (f.cudaGraph) c.cudaGraph = true;
  if (f.sampleRate !== undefined) c.sampleRate = f.sampleRate;
  if (f.chunkClasses !== undefined) c.chunkClasses = f.chunkClasses;
  if (f.workers !== undefined) c.workers = f.workers;
  if (f.checkpointEverySteps !== undefined) c.checkpointEverySteps = f.checkpointEverySteps;
  if (f.checkpointEveryMinutes !== undefined) c.checkpointEveryMinutes = f.checkpointEveryMinutes;
  if (f.onCorrupt !== undefined) c.onCorrupt = f.onCorrupt;
  if (f.shardHead) c.shardHead = true;
  if (f.numClasses !== undefined) c.numClasses = f.numClasses;
  if (f.flip === false) c.flip = false;
  if (f.syntheticOnDevice) c.syntheticOnDevice = true;
  if (f.lossScale !== undefined) c.lossScale = f.lossScale;
  if (f.staticStep) c.staticStep = true;
  for (const key of ['name', 'backbone', 'head', 'data', 'epochs']) {
    if (c[key] === undefined) throw new MvfaceError('E_CONFIG', `${key}: missing (give --${key} or a --config file)`, key);
  }
  return checkConfig(trainConfigSchema, c, '');
}

/** The process group of a torchrun-style launch (WORLD_SIZE > 1), else none. */
function joinIfLaunched(): ProcessGroup | undefined {
  return Number(process.env.WORLD_SIZE ?? 1) > 1 ? ProcessGroup.join() : undefined;
}

async function train(f: TrainFlags): Promise<void> {
  if (f.nproc !== undefined && f.nproc !== 1) {
    const config = trainConfig(f); // bad flags fail here, once, not in every rank
    console.error(`mvface: ${f.nproc} data-parallel processes, batch ${config.batchSize ?? trainDefaults.batchSize} each`);
    process.exitCode = await launchLocal({ nproc: f.nproc, argv: [process.argv[1], ...withoutNproc(process.argv.slice(2))] });
    return;
  }
  exitWithLauncher();
  const group = joinIfLaunched();
  const trainer = await Trainer.create(trainConfig(f), { resume: f.resume, overwrite: f.overwrite, processGroup: group });
  const main = trainer.isMain;
  const progress = main ? createProgress() : undefined;
  try {
    if (main)
      console.error(
        `mvface: ${trainer.paths.dir}, ${trainer.parameters.toLocaleString()} parameters, step ${trainer.step}/${trainer.totalSteps}${group ? `, ${group.worldSize} ranks` : ''}`,
      );
    const signal = interruptSignal();
    const r = await trainer.fit({ signal, onStep: progress?.step, onEpoch: progress?.epoch });
    progress?.stop();
    if (main) console.log(JSON.stringify(r, null, 2));
    if (r.cancelled) {
      if (main)
        console.error(`mvface: cancelled; resume with: mvface train --config ${trainer.paths.config} --resume${group ? ` --nproc ${group.worldSize}` : ''}`);
      process.exitCode = cancelledExitCode(signal);
    }
  } finally {
    progress?.stop();
    trainer.dispose();
    group?.dispose();
  }
}

async function embed(f: { run: string; data: string; out: string; batchSize: number; raw?: boolean; flip?: boolean; workers?: number }): Promise<void> {
  const model = await Model.load(f.run);
  try {
    const written = await embedDataSet(model, parseDataArg(f.data), f.out, {
      batchSize: f.batchSize,
      normalize: !f.raw,
      flip: f.flip ?? false,
      workers: f.workers,
    });
    console.error(`mvface: ${written.count} embeddings of size ${written.dim} in ${written.npy} (+ ${written.json})`);
  } finally {
    model.dispose();
  }
}

export function program(): Command {
  const p = new Command('mvface').description('Train face-recognition embedding models with MV-Softmax').version(packageVersion()).showHelpAfterError();
  p.command('info')
    .description('print the native backend: libtorch, BLAS, CUDA, threads')
    .action(() => {
      console.log(JSON.stringify(backendInfo(), null, 2));
    });
  p.command('build')
    .description('build the native addon where mvface is installed, against your libtorch (where no prebuilt binary matches)')
    .option('--libtorch <dir>', 'an unpacked libtorch (as LIBTORCH=<dir>)')
    .option('--pytorch', 'the libtorch of the installed PyTorch, CUDA included where it has it (as LIBTORCH_USE_PYTORCH=1)')
    .option('--jobs <n>', 'parallel compile jobs', integer)
    .action((f: { libtorch?: string; pytorch?: boolean; jobs?: number }) => {
      console.error(`mvface: ${buildAddon(f)}`);
      const info = backendInfo();
      console.log(
        `mvface: loaded ${info.binary.kind} ${info.binary.file}: libtorch ${info.libtorchVersion} (${info.libtorchTag}), CUDA ${info.cudaAvailable ? info.cudaDevices.join(', ') : 'none'}`,
      );
    });
  p.command('train')
    .description('train a model (flags, or a JSON config file with the TrainConfig fields)')
    .option('--config <file>', 'JSON TrainConfig; flags override it')
    .option('--name <name>', 'run name: the run folder is <runs-dir>/<name>')
    .option('--runs-dir <dir>', `folder of runs (default ${trainDefaults.runsDir})`)
    .option('--backbone <name>', 'mobilefacenet | iresnet18|34|50|100 | attention56 | small')
    .option('--embedding-size <n>', `embedding size (default ${backboneDefaults.embeddingSize})`, integer)
    .option('--input-size <n>', `input side in pixels (default ${backboneDefaults.inputSize}; small: ${backboneDefaults.small.inputSize})`, integer)
    .option('--channels <n>', `input channels (default ${backboneDefaults.inChannels}; small: ${backboneDefaults.small.inChannels})`, integer)
    .option('--head <type>', 'softmax | am | arc | combined | mv-am | mv-arc | sphereface | focal | hm')
    .option('--mode <mode>', `MV re-weighting: fixed | adaptive (default ${headDefaults.mode})`)
    .option('--t <t>', `MV re-weighting parameter (default ${headDefaults.t.fixed} fixed, ${headDefaults.t.adaptive} adaptive)`, number)
    .option('--scale <s>', `scale s (default ${headDefaults.scale})`, number)
    .option('--margin <m>', `margin m (default am ${headDefaults.amMargin}, arc ${headDefaults.arcMargin})`, number)
    .option('--easy-margin', "the authors' easy margin")
    .option('--head-option <key=value...>', 'any other head field, e.g. m1=1 m2=0.4 m3=0.1 (combined), m=3 (sphereface), gamma=1 (focal), ratio=0.8 (hm)')
    .addOption(new Option('--block <block>', `iresnet blocks (default ${backboneDefaults.block})`).choices(['ir', 'ir_se']))
    .option('--dropout <p>', `dropout before the embedding layer (default ${backboneDefaults.dropout})`, number)
    .addOption(new Option('--norm <norm>', `small backbone: its batch norms, or none (default ${backboneDefaults.norm})`).choices(['batch', 'none']))
    .option('--data <spec>', 'fashion-mnist[:train|test] | imagefolder:<dir> | recordio:<dir> | idx:<images>,<labels> | synthetic:classes=N,perClass=K,size=S')
    .option('--eval-data <spec>', 'closed-set accuracy after each epoch (same spec syntax)')
    .option('--epochs <n>', 'epochs', integer)
    .option('--batch-size <n>', `batch size (default ${trainDefaults.batchSize})`, integer)
    .option('--lr <lr>', `base learning rate (default ${optimizerDefaults.lr})`, number)
    .option('--momentum <m>', `SGD momentum (default ${optimizerDefaults.momentum})`, number)
    .option('--weight-decay <w>', `SGD weight decay, not on batch norms and biases (default ${optimizerDefaults.weightDecay})`, number)
    .addOption(
      new Option('--schedule <type>', `learning-rate schedule (default ${scheduleDefaults.type})`).choices(['cosine', 'multistep', 'poly', 'constant']),
    )
    .option('--milestones <epochs>', 'multistep: the epochs at which lr *= gamma, comma-separated', (v: string) => v.split(',').map(number))
    .option('--gamma <g>', `multistep: the factor at each milestone (default ${scheduleDefaults.gamma})`, number)
    .option('--min-lr <lr>', `cosine: the final learning rate (default ${scheduleDefaults.minLr})`, number)
    .option('--power <p>', `poly: the power (default ${scheduleDefaults.power})`, number)
    .option('--warmup-epochs <e>', `linear warm-up from 0, in epochs (default ${trainDefaults.warmupEpochs})`, number)
    .option('--eval-every <steps>', 'evaluate the --eval-bin sets every n steps during training (log.jsonl: event eval)', integer)
    .option('--eval-bin <files...>', 'InsightFace verification .bin sets for --eval-every')
    .option('--eval-batch-size <n>', 'images per native call in --eval-every', integer)
    .option('--num-classes <n>', "the head's classes; must agree with the data (default: the data set's)", integer)
    .option('--no-flip', 'no random horizontal flips of the training images')
    .option('--seed <n>', `seed (default ${trainDefaults.seed})`, integer)
    .option('--device <device>', `cpu | cuda | cuda:N | auto (default ${trainDefaults.device}; with --nproc, cuda is each process's own GPU)`, deviceArg)
    .addOption(
      new Option('--precision <p>', `autocast of the backbone: fp32 | bf16 | fp16 (CUDA) (default ${trainDefaults.precision})`).choices([
        'fp32',
        'bf16',
        'fp16',
      ]),
    )
    .option('--channels-last', 'NHWC images and convolution weights')
    .option('--fused-norm', 'batch norm, PReLU and residual add as one fused pass (default on the CPU, off on CUDA)')
    .option('--no-fused-norm', 'batch norm, PReLU and residual add as separate modules')
    .option('--no-cudnn-benchmark', "CUDA: cuDNN's heuristic convolution algorithms instead of timing them (on by default)")
    .option('--tf32', 'CUDA: TensorFloat-32 in convolutions and float32 matrix products (default: convolutions only)')
    .option('--no-tf32', 'CUDA: IEEE float32 in convolutions and matrix products')
    .option('--cuda-graph', 'CUDA: capture the step in CUDA graphs after 3 warm-up steps')
    .option('--static-step', 'the step a CUDA graph captures, run uncaptured')
    .option('--synthetic-on-device', 'CUDA, synthetic data: generate the batches on the GPU')
    .option('--loss-scale', 'dynamic loss scaling (default: on for fp16 only)')
    .option('--no-loss-scale', 'no loss scaling, also for fp16')
    .option('--sample-rate <r>', "Partial FC: each step uses the batch's classes and this share of the others (0 < r <= 1)", number)
    .option('--chunk-classes <k>', "the head's loss over chunks of k classes (a batch x k buffer)", integer)
    .option('--workers <n>', 'native decoding threads', integer)
    .option('--resume', "continue from the run folder's checkpoint")
    .option('--overwrite', 'start over in a run folder that already holds a run (deletes what it wrote)')
    .option(
      '--checkpoint-every-steps <n>',
      `also checkpoint every n steps (default: after each epoch and every ${trainDefaults.checkpointEveryMinutes} minutes)`,
      integer,
    )
    .option(
      '--checkpoint-every-minutes <n>',
      `also checkpoint when n minutes passed since the last one; 0: off (default ${trainDefaults.checkpointEveryMinutes})`,
      number,
    )
    .addOption(
      new Option('--on-corrupt <policy>', `a corrupt image: stop naming it (fail) or skip and count it (skip) (default ${trainDefaults.onCorrupt})`).choices([
        'fail',
        'skip',
      ]),
    )
    .option('--shard-head', 'with --nproc (or WORLD_SIZE): each process holds its shard of the class weights')
    .option(
      '--nproc <n>',
      'data parallel: N local processes (batch size per process); several machines: set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT',
      integer,
    )
    .action(train);
  p.command('embed')
    .description('embed a data set with a trained model; writes <out>.npy (count x dim float32, unit rows) and <out>.json (labels, images)')
    .requiredOption('--run <path>', 'run folder (runs/<name>), or a model.pt with its model.json')
    .requiredOption('--data <spec>', 'data spec, as for train')
    .requiredOption('--out <prefix>', 'output prefix')
    .option('--batch-size <n>', 'batch size', integer, 256)
    .option('--raw', 'the raw embeddings, not scaled to unit length')
    .option('--flip', 'average each image with its mirror image (as eval does)')
    .option('--workers <n>', 'native decoding threads', integer)
    .action(embed);
  p.command('export')
    .description('export a trained model as ONNX (dynamic batch, opset 17; the preprocessing in its metadata)')
    .requiredOption('--run <path>', 'run folder (runs/<name>), or a model.pt with its model.json')
    .requiredOption('--onnx <file>', 'the .onnx file to write')
    .action(async (f: { run: string; onnx: string }) => {
      console.error(`mvface: wrote ${await exportOnnx(f.run, f.onnx)}`);
    });
  p.command('schema')
    .description("print the JSON Schema of a run's config.json (for editors: $schema)")
    .action(() => console.log(JSON.stringify(trainConfigJsonSchema(), null, 2)));
  registerEvalCommands(p);
  registerFacesCommand(p);
  registerCompareCommand(p);
  registerBenchCommand(p);
  p.command('demo')
    .description('train the small net with mv-arc on Fashion-MNIST (CPU) and write runs/demo/summary.json')
    .option('--epochs <n>', 'epochs', integer)
    .action(async (f: { epochs?: number }) => {
      const signal = interruptSignal();
      const summary = await runDemo({ signal, epochs: f.epochs });
      console.log(JSON.stringify(summary, null, 2));
      if (summary.cancelled) process.exitCode = cancelledExitCode(signal);
    });
  return p;
}

if (require.main === module) {
  program()
    .parseAsync(process.argv)
    .catch((e: unknown) => {
      if (e instanceof MvfaceError) {
        console.error(`mvface: ${e.message} [${e.code}]`);
        process.exit(1);
      }
      throw e;
    });
}
