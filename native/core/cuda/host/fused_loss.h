#pragma once
// The fused loss on CUDA tensors (built only with a CUDA libtorch): the cosine GEMM and the two
// gradient GEMMs through libtorch (cuBLAS), the row pass of cuda/row_kernels.h between them.
// Embeddings and weight in float32 or bfloat16 (one dtype); the logits buffer is float32.
// Gradients come back on the device, in the inputs' dtype. options.block_classes = K in [1, C):
// classes in chunks of K (a B x K buffer instead of B x C, cosines recomputed in the backward),
// the same result.
#include "loss/loss.h"

namespace mvface::cuda {

loss::LossResult fused_loss_cuda(const loss::LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                                 const at::Tensor& labels, const loss::FusedOptions& options = {});

}  // namespace mvface::cuda
