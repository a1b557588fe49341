#pragma once
// The head's classes in blocks, each block a RowPass: the fused CPU path's driver pieces, shared by
// the whole head (one block), the class-chunked head and the model-parallel (sharded) head.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "errors.h"
#include "loss/config.h"
#include "loss/loss.h"
#include "loss/reduction.h"
#include "loss/row_pass.h"

namespace mvface::loss {

struct RowCe {
  double ce = 0;  // the row's cross-entropy, lse - z_y (what the reductions read)
};

// Each row's target cosine x̂_i · ŵ_{y_i}, for labels given as indices into W.
template <typename T>
std::vector<RowTarget> target_cosines(const HeadParams& p, const at::Tensor& xhat, const at::Tensor& W,
                                      const at::Tensor& col_scale, const at::Tensor& labels) {
  const at::Tensor raw = (xhat * W.index_select(0, labels)).sum(1) * col_scale.index_select(0, labels);
  const T* v = raw.data_ptr<T>();
  std::vector<RowTarget> targets(raw.size(0));
  for (size_t i = 0; i < targets.size(); ++i) {
    const double g = v[i];
    targets[i].live = !p.normalized || (g > -1.0 && g < 1.0);
    targets[i].g = p.normalized ? std::clamp(g, -1.0, 1.0) : g;
  }
  return targets;
}

// The head's classes in blocks of K: a block's cosines are x̂ W_blockᵀ (B x K, before the column
// scale). With K = C (the default) there is one block, computed once; smaller K bounds the memory
// at B x K floats, the backward recomputing each block.
template <typename T>
class BlockedHead {
 public:
  // W holds classes [class_offset, class_offset + W.size(0)) of the head; labels are global ids.
  // targets: every row's target cosine (see target_cosines), wherever its class lives.
  BlockedHead(const HeadParams& p, const at::Tensor& xhat, const at::Tensor& W, const at::Tensor& col_scale,
              const at::Tensor& labels, const at::Tensor& row_norm, int64_t block, std::vector<RowTarget> targets,
              int64_t class_offset = 0)
      : p_(p),
        xhat_(xhat),
        W_(W),
        col_(col_scale),
        labels_(labels),
        row_norm_(row_norm),
        K_(block > 0 ? std::min<int64_t>(block, W.size(0)) : W.size(0)),
        offset_(class_offset),
        targets_(std::move(targets)) {}

  int64_t blocks() const { return (W_.size(0) + K_ - 1) / K_; }
  int64_t rows() const { return xhat_.size(0); }
  const std::vector<RowTarget>& targets() const { return targets_; }

  // Runs f(pass, c0, k, cosines) for block b; one block is computed once and kept.
  template <typename F>
  void with_block(int64_t b, F&& f) {
    const int64_t c0 = b * K_, k = std::min(K_, W_.size(0) - c0);
    at::Tensor cosines = blocks() == 1 && kept_.defined() ? kept_ : at::empty({rows(), k}, xhat_.options());
    if (!(blocks() == 1 && kept_.defined())) at::mm_out(cosines, xhat_, W_.narrow(0, c0, k).t());
    if (blocks() == 1) kept_ = cosines;
    RowPass<T> pass(p_, cosines.data_ptr<T>(), offset_ + c0, k, col_.data_ptr<T>() + c0, labels_.data_ptr<int64_t>(),
                    row_norm_.defined() ? row_norm_.data_ptr<T>() : nullptr, targets_);
    f(pass, c0, k, cosines);
  }

 private:
  HeadParams p_;
  at::Tensor xhat_, W_, col_, labels_, row_norm_, kept_;
  int64_t K_, offset_;
  std::vector<RowTarget> targets_;
};

// Per row over all blocks: sum of p_k value_k for sphereface, and hard negatives.
struct RowBackward {
  std::vector<double> expected;
  std::vector<int64_t> hard;
};

template <typename T>
std::vector<double> negatives_logsumexp(BlockedHead<T>& head) {
  std::vector<double> lse(head.rows(), -std::numeric_limits<double>::infinity());
  for (int64_t b = 0; b < head.blocks(); ++b) {
    head.with_block(b, [&](const RowPass<T>& pass, int64_t, int64_t, const at::Tensor&) {
      at::parallel_for(0, head.rows(), 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) lse[i] = log_add_exp(lse[i], pass.negatives_logsumexp(i));
      });
    });
  }
  return lse;
}

// Overwrites each block with dL/dc and accumulates dL/dx̂ (B x D) and dL/dW (C x D, before the
// normalisation backward).
template <typename T>
RowBackward head_backward(BlockedHead<T>& head, const std::vector<double>& weight, const std::vector<double>& lse,
                          const at::Tensor& W, const at::Tensor& xhat, at::Tensor& grad_xhat, at::Tensor& grad_w) {
  const int64_t B = head.rows();
  RowBackward back{std::vector<double>(B, 0.0), std::vector<int64_t>(B, 0)};
  for (int64_t b = 0; b < head.blocks(); ++b) {
    head.with_block(b, [&](const RowPass<T>& pass, int64_t c0, int64_t k, const at::Tensor& block) {
      at::parallel_for(0, B, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          const BlockGradient g = pass.write_gradient(i, weight[i], lse[i]);
          back.expected[i] += g.expected_value;
          back.hard[i] += g.hard;
        }
      });
      const at::Tensor Wb = W.narrow(0, c0, k);
      if (b == 0)
        at::mm_out(grad_xhat, block, Wb);
      else
        grad_xhat.addmm_(block, Wb);
      at::Tensor gw = grad_w.narrow(0, c0, k);
      at::mm_out(gw, block.t(), xhat);
    });
  }
  return back;
}

inline Reduction reduce_rows(const LossConfig& config, const std::vector<RowCe>& rows) {
  if (config.mining == Mining::Focal) return focal_weights(rows, config.focal_gamma);
  if (config.mining == Mining::HardMining) return hard_mining_weights(rows, config.hm_ratio);
  Reduction r;
  r.weight.assign(rows.size(), 1.0 / rows.size());
  for (const RowCe& row : rows) r.loss += row.ce / rows.size();
  return r;
}

// In place, per row: g <- (g - v̂ (v̂ · g)) * (scaled ? inv_norm : 1), the backward of
// v / max(‖v‖, eps). W's gradient arrives already scaled (the column scale is folded into dL/dc).
template <typename T>
void normalize_backward_rows(at::Tensor& grad, const at::Tensor& v, const at::Tensor& inv_norm, bool scaled) {
  const int64_t D = grad.size(1);
  T* g = grad.data_ptr<T>();
  const T* pv = v.data_ptr<T>();
  const T* inv = inv_norm.data_ptr<T>();
  at::parallel_for(0, grad.size(0), 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      T* gr = g + r * D;
      const T* vr = pv + r * D;
      const double s = inv[r];
      T dot = 0, sq = 0;
#pragma omp simd reduction(+ : dot, sq)
      for (int64_t d = 0; d < D; ++d) {
        dot += vr[d] * gr[d];
        sq += vr[d] * vr[d];
      }
      const bool projected = sq > kNormEps * kNormEps;  // ‖v‖ > eps: v̂ = v * s is a unit vector
      const T coef = static_cast<T>(projected ? dot * s * s : 0.0);
      const T out_scale = static_cast<T>(scaled ? s : 1.0);
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) gr[d] = (gr[d] - coef * vr[d]) * out_scale;
    }
  });
}

inline at::Tensor inverse_norms(const at::Tensor& v, const char* argument) {
  at::Tensor norms = v.norm(2, {1});
  if (!at::isfinite(norms).all().item<bool>()) {
    check_finite(v, argument);
    fail("E_NONFINITE", argument, "a row norm overflows (values too large)");
  }
  return norms.clamp_min(kNormEps).reciprocal();
}

}  // namespace mvface::loss
