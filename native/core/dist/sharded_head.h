#pragma once
// The model-parallel head (as InsightFace's Partial FC on torch.distributed): rank r holds the class
// weights [offset, offset + C_r) of C, every rank its own B embeddings. Embeddings and labels are
// all-gathered; each sample's target cosine comes from the rank that owns its class (so the MV mask
// is exact); the softmax is completed with an all-reduced max and sum. The loss is the mean over the
// global batch, identical on every rank.
#include <ATen/ATen.h>

#include "dist/comm.h"
#include "loss/config.h"
#include "loss/loss.h"

namespace mvface::dist {

struct ShardedLossResult {
  loss::LossResult result;  // grad_embeddings: this rank's B x D; grad_weight: its C_r x D shard
};

// The contiguous block of classes rank `rank` of `world` owns: [first, first + count).
struct ClassShard {
  int64_t first = 0, count = 0;
};
ClassShard shard_of(int64_t classes, int rank, int world);

loss::LossResult sharded_loss(Comm& comm, const loss::LossConfig& config, const at::Tensor& x_local,
                              const at::Tensor& weight_shard, int64_t shard_first, int64_t classes,
                              const at::Tensor& labels_local);

}  // namespace mvface::dist
