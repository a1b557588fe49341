// The fused CPU path. Memory beyond inputs and outputs: one B x C buffer (cosines, then dL/dc in
// place), or B x K with class blocks of K; x̂ (B x D) and the C inverse norms of W. Ŵ is never
// materialised: the column scale 1/‖W_k‖ is applied inside the row pass, and folded into dL/dc so
// that both gradient GEMMs use W itself.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <type_traits>
#include <vector>

#include "errors.h"
#include "loss/blocked_head.h"
#include "loss/loss.h"
#include "loss/margin.h"
#include "loss/reduction.h"
#include "loss/row_kernel.h"
#ifdef MVFACE_WITH_CUDA
#include "cuda/host/fused_loss.h"
#endif

namespace mvface::loss {
namespace {

template <typename T>
LossResult fused_impl(const LossConfig& config, const at::Tensor& x_in, const at::Tensor& w_in,
                      const at::Tensor& labels_in, const FusedOptions& options) {
  const at::Tensor x = x_in.contiguous(), W = w_in.contiguous();
  const at::Tensor labels = labels_in.to(at::kLong).contiguous();
  const int64_t B = x.size(0), C = W.size(0);
  const HeadParams p = make_head_params(config);
  const bool normalized = config.normalized();

  const at::Tensor x_inv = inverse_norms(x, "embeddings");
  const at::Tensor xhat = normalized ? x * x_inv.unsqueeze(1) : x;
  at::Tensor w_inv;
  if (normalized)
    w_inv = inverse_norms(W, "weight");
  else
    check_finite(W, "weight");
  const at::Tensor col_scale = normalized ? w_inv : at::ones({C}, W.options());
  const at::Tensor x_norm = config.type == HeadType::SphereFace ? x.norm(2, {1}) : at::Tensor();

  BlockedHead<T> head(p, xhat, W, col_scale, labels, x_norm, options.block_classes,
                      target_cosines<T>(p, xhat, W, col_scale, labels));
  const std::vector<double> negatives = negatives_logsumexp(head);
  std::vector<double> lse(B), z_target(B);
  std::vector<RowCe> rows(B);
  head.with_block(0, [&](const RowPass<T>& pass, int64_t, int64_t, const at::Tensor&) {
    for (int64_t i = 0; i < B; ++i) z_target[i] = pass.target_logit(i);
  });
  for (int64_t i = 0; i < B; ++i) {
    lse[i] = log_add_exp(z_target[i], negatives[i]);
    rows[i].ce = lse[i] - z_target[i];
  }
  const Reduction reduction = reduce_rows(config, rows);

  at::Tensor grad_x = at::empty({B, W.size(1)}, x.options());
  at::Tensor grad_w = at::empty({C, W.size(1)}, W.options());
  const RowBackward back = head_backward(head, reduction.weight, lse, W, xhat, grad_x, grad_w);
  if (normalized) {
    normalize_backward_rows<T>(grad_w, W, w_inv, false);
    normalize_backward_rows<T>(grad_x, x, x_inv, true);
  }
  if (x_norm.defined()) {
    std::vector<double> norm_grad(B);
    head.with_block(0, [&](const RowPass<T>& pass, int64_t, int64_t, const at::Tensor&) {
      for (int64_t i = 0; i < B; ++i)
        norm_grad[i] = pass.norm_gradient(i, reduction.weight[i], lse[i], back.expected[i]);
    });
    at::Tensor ng = at::tensor(norm_grad, x.options().dtype(at::kDouble)).to(x.scalar_type());
    grad_x.add_(xhat * ng.unsqueeze(1));
  }

  LossResult result;
  result.loss = reduction.loss;
  int64_t hard = 0;
  double target_cos = 0;
  for (int64_t i = 0; i < B; ++i) {
    hard += back.hard[i];
    target_cos += head.targets()[i].g;
  }
  result.hard_fraction = C > 1 ? static_cast<double>(hard) / (static_cast<double>(B) * (C - 1)) : 0.0;
  result.mean_target_cos = target_cos / B;
  if (!normalized)
    result.mean_target_cos = (x.mul(W.index_select(0, labels)).sum(1) * x_inv *
                              W.index_select(0, labels).norm(2, {1}).clamp_min(kNormEps).reciprocal())
                                 .mean()
                                 .item<double>();
  result.grad_embeddings = grad_x;
  result.grad_weight = grad_w;
  return result;
}

}  // namespace

LossResult fused_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels,
                      const FusedOptions& options) {
  validate_config(config);
#ifdef MVFACE_WITH_CUDA
  if (x.is_cuda() || weight.is_cuda()) {
    if (options.capturable)
      validate_shapes(x, weight, labels);
    else
      validate_inputs(x, weight, labels);
    return cuda::fused_loss_cuda(config, x, weight, labels, options);
  }
#endif
  validate_inputs(x, weight, labels);
  if (options.block_classes < 0) fail("E_CONFIG", "chunkClasses", "must be >= 0 (0: all classes at once)");
  LossResult r;
  if (x.scalar_type() == at::kDouble)
    r = fused_impl<double>(config, x, weight, labels, options);
  else if (x.scalar_type() == at::kFloat)
    r = fused_impl<float>(config, x, weight, labels, options);
  else
    fail("E_SHAPE", "embeddings", "dtype must be float32 or float64");
  if (options.capturable) r.stats = at::tensor({r.loss, r.hard_fraction, r.mean_target_cos}, at::kDouble);
  return r;
}

void gemm_floor(const at::Tensor& xhat, const at::Tensor& what, at::Tensor& buffer, at::Tensor& grad_x,
                at::Tensor& grad_w) {
  at::mm_out(buffer, xhat, what.t());
  at::mm_out(grad_x, buffer, what);
  at::mm_out(grad_w, buffer.t(), xhat);
}

}  // namespace mvface::loss
