/**
 * Multi-process training pieces on libtorch's c10d (Gloo): join the process group described by
 * torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), pass it to
 * Trainer.create for data-parallel training, or compute the model-parallel MV-Softmax head, class
 * weights sharded by rank.
 */
import type { NativeComm } from '../native/types';
import { type HeadConfig, type LossResult, resolveHeadConfig } from '../loss/margin-loss';
import { type Matrix, toLabels } from '../loss/matrix';
import { native } from '../native/addon';

/** The contiguous classes [first, first + count) that `rank` of `worldSize` holds. */
export function classShard(classes: number, rank: number, worldSize: number): { first: number; count: number } {
  const base = Math.floor(classes / worldSize);
  const extra = classes % worldSize;
  return { first: rank * base + Math.min(rank, extra), count: base + (rank < extra ? 1 : 0) };
}

export class ProcessGroup {
  private constructor(private readonly comm: NativeComm) {}

  /** The native object, for the Trainer (data parallel). */
  get nativeHandle(): NativeComm {
    return this.comm;
  }

  /** Joins the group (blocks until every rank has joined, or fails with an IoError after the timeout). */
  static join(): ProcessGroup {
    return new ProcessGroup(new (native().NativeComm)());
  }

  get rank(): number {
    return this.comm.info().rank;
  }

  get worldSize(): number {
    return this.comm.info().worldSize;
  }

  /** This rank's index on its machine (LOCAL_RANK): the GPU a CUDA trainer of this rank uses. */
  get localRank(): number {
    return this.comm.info().localRank;
  }

  /**
   * The head's loss over the global batch (every rank's embeddings), with this rank's B x D
   * embeddings and its shard of the class weights (classShard(classes, rank, worldSize)). The loss is
   * the same on every rank; gradients are for this rank's embeddings and shard.
   */
  shardedLoss(config: HeadConfig, embeddings: Matrix, weightShard: Matrix, classes: number, labels: ArrayLike<number>): Promise<LossResult> {
    return this.comm.shardedLoss(resolveHeadConfig(config), embeddings, weightShard, classes, toLabels(labels));
  }

  allReduceSum(values: Float32Array): Promise<Float32Array> {
    return this.comm.allReduceSum({ data: values, rows: 1, cols: values.length });
  }

  dispose(): void {
    this.comm.dispose();
  }
}
