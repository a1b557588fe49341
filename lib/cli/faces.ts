/** The CLI's `faces` command: writes the synthetic face identity data set. */
import { type Command, Option } from 'commander';
import { integerArg as integer, keyValues, numberArg as number } from './args';
import { faceDefaults, familyFeatures, generateFaces, type Variation, variationAtOne } from '../data/faces';

interface FacesFlags {
  out: string;
  identities: number;
  images: number;
  seed: number;
  size: number;
  difficulty: number;
  variation?: string[];
  familySize: number;
  familyTraits: number;
  format: 'png' | 'jpg';
  heldOut: number;
  overwrite?: boolean;
  concurrency?: number;
}

/** A line rewritten in place on a TTY; otherwise a line every 10%. */
function progressLine(stream: NodeJS.WriteStream = process.stderr): { update(done: number, total: number): void; end(): void } {
  const started = Date.now();
  let lastDecile = -1;
  let drawn = false;
  return {
    update(done, total) {
      const seconds = (Date.now() - started) / 1000;
      const line = `mvface faces: ${done}/${total} images (${Math.floor((100 * done) / total)}%), ${(done / Math.max(seconds, 1e-3)).toFixed(0)} images/s`;
      if (stream.isTTY) {
        if (done === total || done % 20 === 0) {
          stream.write(`\r${line}`);
          drawn = true;
        }
        return;
      }
      const decile = Math.floor((10 * done) / total);
      if (decile > lastDecile) {
        stream.write(`${line}\n`);
        lastDecile = decile;
      }
    },
    end() {
      if (drawn) stream.write('\n');
    },
  };
}

async function facesCommand(f: FacesFlags): Promise<void> {
  const controller = new AbortController();
  const onInterrupt = (): void => {
    process.stderr.write('\nmvface faces: stopping (the folder is left incomplete; run again with --overwrite)\n');
    controller.abort();
  };
  process.once('SIGINT', onInterrupt);
  const progress = progressLine();
  try {
    const r = await generateFaces({
      root: f.out,
      identities: f.identities,
      imagesPerIdentity: f.images,
      seed: f.seed,
      size: f.size,
      difficulty: f.difficulty,
      ...(f.variation && { variation: keyValues(f.variation, '--variation') as Partial<Variation> }),
      familySize: f.familySize,
      familyTraits: f.familyTraits,
      format: f.format,
      heldOut: f.heldOut,
      overwrite: f.overwrite,
      concurrency: f.concurrency,
      signal: controller.signal,
      onProgress: progress.update,
    });
    progress.end();
    console.log(JSON.stringify(r, null, 2));
    const sets = r.train && r.test ? `--data imagefolder:${r.train.root} (held out: imagefolder:${r.test.root})` : `--data imagefolder:${r.root}`;
    console.error(`mvface faces: train with ${sets}`);
  } catch (e) {
    progress.end();
    if (controller.signal.aborted) {
      process.exitCode = 130;
      return;
    }
    throw e;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

export function registerFacesCommand(p: Command): void {
  p.command('faces')
    .description('write a synthetic face identity data set (facesjs faces in varied pose, light, colour, blur, noise, occlusion) as an ImageFolder')
    .requiredOption('--out <dir>', 'output folder: <dir>/<identity>/<k>.png, or <dir>/train and <dir>/test with --held-out')
    .requiredOption('--identities <n>', 'identities in all', integer)
    .requiredOption('--images <n>', 'images per identity', integer)
    .option('--seed <n>', 'seed: the same seed writes the same bytes', integer, faceDefaults.seed)
    .option('--size <n>', 'image side in pixels', integer, faceDefaults.size)
    .option('--difficulty <d>', 'scales every variation range: 0 none, 1 hard', number, faceDefaults.difficulty)
    .option('--variation <key=value...>', `one range instead of the difficulty's, e.g. blur=0 occlusion=0.3 (keys: ${Object.keys(variationAtOne).join(', ')})`)
    .option(
      '--family-size <n>',
      'identities per family: members share all but --family-traits facial features (1: no families)',
      integer,
      faceDefaults.familySize,
    )
    .option('--family-traits <n>', `features each family member has of its own (1 to ${familyFeatures.length})`, integer, faceDefaults.familyTraits)
    .addOption(new Option('--format <format>', 'image format').choices(['png', 'jpg']).default(faceDefaults.format))
    .option('--held-out <n>', 'identities written to <dir>/test, disjoint from <dir>/train', integer, faceDefaults.heldOut)
    .option('--overwrite', 'replace an earlier output of this command in <dir>')
    .option('--concurrency <n>', 'images rendered at once (default: cores)', integer)
    .action(facesCommand);
}
