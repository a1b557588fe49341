/** A trained run folder (config.json + checkpoint.pt) as a flip-averaged embedding model. */
import * as path from 'node:path';
import type { DataLoader } from './data';
import { type EmbedFn, type Embeddings, flipAveragedEmbeddings, flipAveragedLoader, type ImageShape } from './embeddings';
import { readJson, runPaths } from './run-files';
import { type TrainConfig, Trainer } from './trainer';

export class Embedder {
  /** Raw embeddings (no flip, not normalised), one native call. */
  readonly embedRaw: EmbedFn;

  private constructor(private readonly trainer: Trainer) {
    this.embedRaw = (images, count) => trainer.embed(images, count);
  }

  /** Loads the run's last checkpoint (the run's training data must be readable, as for `mvface embed`). */
  static async open(runDir: string, options: { workers?: number } = {}): Promise<Embedder> {
    const config = readJson<TrainConfig>(runPaths(runDir).config);
    const workers = options.workers ?? config.workers;
    const trainer = await Trainer.create({ ...config, name: path.basename(runDir), runsDir: path.dirname(runDir), workers }, { resume: true });
    return new Embedder(trainer);
  }

  /** A view of a trainer in memory; dispose() disposes the trainer. */
  static of(trainer: Trainer): Embedder {
    return new Embedder(trainer);
  }

  get input(): ImageShape {
    const { channels, height, width } = this.trainer.dataInfo;
    return { channels, height, width };
  }

  /** The training step of the checkpoint. */
  get step(): number {
    return this.trainer.step;
  }

  get runDir(): string {
    return this.trainer.paths.dir;
  }

  /** normalize(e(x) + e(flip(x))) of `count` images (count x C x H x W, normalised as the loader does). */
  embed(images: Float32Array, count: number, batchSize = 256): Promise<Embeddings> {
    return flipAveragedEmbeddings(this.embedRaw, images, count, this.input, batchSize);
  }

  /** Flip-averaged embeddings of a loader's whole epoch, in order, with its labels. */
  embedLoader(loader: DataLoader): Promise<Embeddings & { labels: Int32Array }> {
    return flipAveragedLoader(this.embedRaw, loader);
  }

  dispose(): void {
    this.trainer.dispose();
  }
}
