/** A flip-averaged embedding model over a saved Model or a Trainer in memory. */
import type { DataLoader } from '../data/loader';
import { type EmbedFn, type Embeddings, flipAveragedEmbeddings, flipAveragedLoader, type ImageShape } from './flip-embeddings';
import { Model } from '../model/model';
import type { Trainer } from '../train/trainer';

export class Embedder {
  private constructor(
    /** Raw embeddings (no flip, not normalised), one native call. */
    readonly embedRaw: EmbedFn,
    readonly input: ImageShape,
    /** The training step of the weights. */
    readonly step: number,
    private readonly release: () => void,
  ) {}

  /** A run folder's model (model.pt, or its last checkpoint): needs no training data, writes nothing. */
  static async open(runDir: string): Promise<Embedder> {
    return Embedder.ofModel(await Model.load(runDir));
  }

  /** A view of a model; dispose() disposes the model. */
  static ofModel(model: Model): Embedder {
    return new Embedder(model.embedRaw, model.input, model.step, () => model.dispose());
  }

  /** A view of a trainer in memory; dispose() disposes the trainer. */
  static of(trainer: Trainer): Embedder {
    const { channels, height, width } = trainer.dataInfo;
    return new Embedder(
      (images, count) => trainer.embed(images, count),
      { channels, height, width },
      trainer.step,
      () => trainer.dispose(),
    );
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
    this.release();
  }
}
