// The fused loss on CUDA, the twin of loss/fused_cpu.cpp. Memory beyond inputs and outputs: one
// B x C float32 buffer (cosines, then dL/dc in place), or B x K with chunks of K classes; x̂ (B x D)
// and the C inverse norms of W. Ŵ is never materialised: the column scale 1/‖W_k‖ is applied inside
// the row pass and folded into dL/dc, so that the GEMMs use W itself. bfloat16 weights are read as
// float32 copies of bounded chunks of classes, so the arithmetic is float32 throughout.
//
// Chunked (K < C), as the CPU's BlockedHead: the target cosines first (a gather of W at the labels,
// so that each row's MV comparison point is known before any chunk), then a statistics sweep over
// the chunks (cosines, online log-sum-exp), the mining weights, and a gradient sweep that
// recomputes each chunk's cosines, writes its dL/dc and adds its share of both gradients.
#include "cuda/host/fused_loss.h"

#ifndef MVFACE_CUDA_EMULATION
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "cuda/row_kernels.h"
#include "errors.h"
#include "loss/margin.h"
#include "loss/reduction.h"

namespace mvface::cuda {
namespace {

using loss::LossConfig;
using loss::LossResult;

constexpr int64_t kChunkBytes = int64_t{256} << 20;  // float32 copy of bfloat16 weight rows

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) fail("E_NATIVE", "", std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

#ifdef MVFACE_CUDA_EMULATION
// cuda/emulation/: CPU tensors, the kernels run on the CPU, no stream.
cudaStream_t current_stream(const at::Tensor&) { return nullptr; }
#else
cudaStream_t current_stream(const at::Tensor& x) {
  return c10::cuda::getCurrentCUDAStream(x.device().index()).stream();
}

void check_devices(const at::Tensor& x, const at::Tensor& W) {
  if (!x.is_cuda() || !W.is_cuda() || x.device() != W.device())
    fail("E_SHAPE", "weight", "embeddings and weight must be on the same CUDA device");
  if (x.scalar_type() != at::kFloat && x.scalar_type() != at::kBFloat16)
    fail("E_SHAPE", "embeddings", "dtype must be float32 or bfloat16 on CUDA");
}
#endif

// Rows of W (D wide) whose float32 copy fits kChunkBytes.
int64_t copy_rows(const at::Tensor& W) { return std::max<int64_t>(1, kChunkBytes / (W.size(1) * 4)); }

// A field of RowInfo as a B-long column of the rows' bytes (every field is 8 bytes wide but g_live).
static_assert(sizeof(RowInfo) % 8 == 0, "RowInfo is read as 8-byte columns");
at::Tensor row_field(const at::Tensor& rows, int64_t B, size_t offset, at::ScalarType type) {
  return rows.view(type)
      .view({B, static_cast<int64_t>(sizeof(RowInfo) / 8)})
      .select(1, static_cast<int64_t>(offset / 8));
}

// Classes per chunk: all C (one buffer, computed once) unless `requested` is in [1, C); bfloat16
// chunks also fit one float32 copy of their weight rows.
int64_t chunk_width(int64_t requested, const at::Tensor& W) {
  const int64_t C = W.size(0);
  if (requested <= 0 || requested >= C) return C;
  return W.scalar_type() == at::kFloat ? requested : std::min(requested, copy_rows(W));
}

// 1 / max(‖v_r‖, eps), after checking that every norm is finite (as inverse_norms on the CPU) unless
// `capturable` (no host read: a non-finite norm then makes the loss non-finite).
at::Tensor inverse_norms(const at::Tensor& norms, const at::Tensor& v, const char* argument, bool capturable) {
  if (!capturable && !at::isfinite(norms).all().item<bool>()) {
    loss::check_finite(v, argument);
    fail("E_NONFINITE", argument, "a row norm overflows (values too large)");
  }
  return norms.clamp_min(loss::kNormEps).reciprocal();
}

class CudaLoss {
 public:
  CudaLoss(const LossConfig& config, const at::Tensor& x, const at::Tensor& W, const at::Tensor& labels,
           const loss::FusedOptions& options)
      : config_(config),
        head_(loss::make_head_params(config)),
        x_(x.contiguous()),
        W_(W.contiguous()),
        labels_(labels.to(x.device(), at::kLong).contiguous()),
        f32_(x.options().dtype(at::kFloat)),
        device_(x.device().index()),
        stream_(current_stream(x)),
        multiprocessors_(multiprocessor_count(device_)),
        B_(x.size(0)),
        C_(W.size(0)),
        D_(x.size(1)),
        chunk_(chunk_width(options.block_classes, W)),
        capturable_(options.capturable) {
    if (capturable_ && config.mining != loss::Mining::None)
      fail("E_CONFIG", "mining", "focal and hm mining sort the rows on the host: they cannot run in a CUDA graph");
  }

  LossResult run() {
    normalise_inputs();
    allocate();
    stats_sweep();
    mining();
    gradient_sweep();
    return capturable_ ? device_result() : result();
  }

 private:
  bool sphereface() const { return config_.type == loss::HeadType::SphereFace; }
  bool chunked() const { return chunk_ < C_; }

  void normalise_inputs() {
    x32_ = x_.to(at::kFloat);
    x_inv_ = inverse_norms(x32_.norm(2, {1}), x_, "embeddings", capturable_);
    xhat_ = config_.normalized() ? x32_ * x_inv_.unsqueeze(1) : x32_;
    if (config_.normalized()) {
      w_inv_ = inverse_norms(weight_norms(), W_, "weight", capturable_);
      col_ = w_inv_;
    } else {
      if (!capturable_) loss::check_finite(W_, "weight");
      col_ = at::ones({C_}, f32_);
    }
    if (sphereface()) x_norm_ = x32_.norm(2, {1});
  }

  // Calls f(k0, m, w32) for consecutive pieces [k0, k0 + m) of classes [c0, c0 + n), w32 those rows
  // of W in float32: a view when W is float32, bounded copies when it is bfloat16.
  template <typename F>
  void weight_pieces(int64_t c0, int64_t n, F&& f) const {
    const bool fp32 = W_.scalar_type() == at::kFloat;
    const int64_t rows = fp32 ? n : copy_rows(W_);
    for (int64_t k0 = c0; k0 < c0 + n; k0 += rows) {
      const int64_t m = std::min(rows, c0 + n - k0);
      const at::Tensor w = W_.narrow(0, k0, m);
      f(k0, m, fp32 ? w : w.to(at::kFloat));
    }
  }

  at::Tensor weight_norms() {
    at::Tensor norms = at::empty({C_}, f32_);
    weight_pieces(0, C_, [&](int64_t k0, int64_t m, const at::Tensor& w) {
      check(launch_row_norms(w.data_ptr<float>(), m, D_, norms.data_ptr<float>() + k0, device_, stream_), "row norms");
    });
    return norms;
  }

  // x̂_i · W_{y_i} in float32, before the column scale: the chunked sweeps' buffer never holds
  // every class, so the targets come from a gather of W's rows at the labels (B x D).
  at::Tensor target_dots() const {
    const at::Tensor wy = W_.index_select(0, labels_).to(at::kFloat);
    return (xhat_ * wy).sum(1).contiguous();
  }

  // The per-row state, the pieces' partials (for the widest chunk's plan) and the buffer.
  void allocate() {
    int64_t segments = plan_rows(B_, chunk_, multiprocessors_, false).segments;
    if (C_ % chunk_)
      segments = std::max<int64_t>(segments, plan_rows(B_, C_ % chunk_, multiprocessors_, false).segments);
    parts_ = B_ * segments;
    rows_ = at::empty({B_ * static_cast<int64_t>(sizeof(RowInfo))}, f32_.dtype(at::kByte));
    lse_parts_ = at::empty({parts_, 2}, f32_);
    expected_parts_ = at::empty({parts_}, f32_);
    hard_parts_ = at::empty({parts_}, f32_.dtype(at::kInt));
    if (sphereface()) norm_grad_ = at::empty({B_}, f32_);
    if (chunked()) target_raw_ = target_dots();
    buffer_ = at::empty({B_ * chunk_}, f32_);
    RowPassArgs& a = base_;
    a = RowPassArgs{};
    a.head = head_;
    a.device = device_;
    a.B = B_;
    a.labels = labels_.data_ptr<int64_t>();
    a.target_raw = chunked() ? target_raw_.data_ptr<float>() : nullptr;
    a.row_norm = sphereface() ? x_norm_.data_ptr<float>() : nullptr;
    a.rows = reinterpret_cast<RowInfo*>(rows_.data_ptr());
    a.lse_parts = reinterpret_cast<float2*>(lse_parts_.data_ptr<float>());
    a.expected_parts = expected_parts_.data_ptr<float>();
    a.hard_parts = hard_parts_.data_ptr<int>();
    a.norm_grad = sphereface() ? norm_grad_.data_ptr<float>() : nullptr;
  }

  // The buffer as B x n, contiguous (the first B n floats).
  at::Tensor buffer_view(int64_t n) const { return buffer_.narrow(0, 0, B_ * n).view({B_, n}); }

  // Classes [c0, c0 + n): their cosines x̂ W_kᵀ (before the column scale) into the buffer.
  at::Tensor chunk_cosines(int64_t c0, int64_t n) {
    at::Tensor cosines = buffer_view(n);
    weight_pieces(c0, n, [&](int64_t k0, int64_t m, const at::Tensor& w) {
      at::Tensor out = cosines.narrow(1, k0 - c0, m);
      at::mm_out(out, xhat_, w.t());
    });
    return cosines;
  }

  RowPassArgs chunk_args(const at::Tensor& cosines, int64_t c0, int64_t n) const {
    RowPassArgs a = base_;
    const float* col = col_.data_ptr<float>() + c0;
    const bool aligned =
        reinterpret_cast<uintptr_t>(cosines.data_ptr()) % 16 == 0 && reinterpret_cast<uintptr_t>(col) % 16 == 0;
    a.C = n;
    a.class_offset = c0;
    a.plan = plan_rows(B_, n, multiprocessors_, aligned);
    if (B_ * a.plan.segments > parts_) fail("E_NATIVE", "", "CUDA loss: row plan wider than its buffers");
    a.buffer = cosines.data_ptr<float>();
    a.col = col;
    return a;
  }

  // Each row's target, then per chunk its cosines and their share of each row's log-sum-exp. With
  // one chunk the buffer keeps the cosines for the gradient sweep.
  void stats_sweep() {
    for (int64_t c0 = 0; c0 < C_; c0 += chunk_) {
      const int64_t n = std::min(chunk_, C_ - c0);
      const RowPassArgs a = chunk_args(chunk_cosines(c0, n), c0, n);
      if (c0 == 0) check(launch_row_prepare(a, stream_), "row preparation");
      check(launch_chunk_stats(a, c0 + n == C_, stream_), "row statistics");
    }
  }

  // Focal or hm: per-row weights from every row's CE (all chunks' statistics read back).
  void mining() {
    if (config_.mining == loss::Mining::None) return;
    const std::vector<RowInfo> rows = read_rows();
    reduction_ = config_.mining == loss::Mining::Focal ? loss::focal_weights(rows, config_.focal_gamma)
                                                       : loss::hard_mining_weights(rows, config_.hm_ratio);
    weights_ = at::tensor(reduction_.weight, at::TensorOptions().dtype(at::kDouble)).to(x_.device());
    base_.weights = weights_.data_ptr<double>();
  }

  std::vector<RowInfo> read_rows() const {
    const at::Tensor host = rows_.cpu();  // waits for the stream
    std::vector<RowInfo> rows(B_);
    std::memcpy(rows.data(), host.data_ptr(), rows.size() * sizeof(RowInfo));
    return rows;
  }

  // Per chunk (its cosines recomputed when chunked): dL/dc * col in place, then dL/dx̂ += G W_k
  // and dL/dW_k = Gᵀ x̂ through the normalisation backward.
  void gradient_sweep() {
    const bool fp32 = W_.scalar_type() == at::kFloat;
    at::Tensor grad_x = at::zeros({B_, D_}, f32_);
    grad_w_ = at::empty({C_, D_}, W_.options());
    for (int64_t c0 = 0; c0 < C_; c0 += chunk_) {
      const int64_t n = std::min(chunk_, C_ - c0);
      const at::Tensor g = chunked() ? chunk_cosines(c0, n) : buffer_view(n);
      check(launch_chunk_gradient(chunk_args(g, c0, n), c0 + n == C_, stream_), "row gradient");
      weight_pieces(c0, n, [&](int64_t k0, int64_t m, const at::Tensor& w) {
        const at::Tensor gk = g.narrow(1, k0 - c0, m);
        grad_x.addmm_(gk, w);
        at::Tensor gw = fp32 ? grad_w_.narrow(0, k0, m) : at::empty({m, D_}, f32_);
        at::mm_out(gw, gk.t(), xhat_);
        if (config_.normalized())
          check(launch_normalize_backward(gw.data_ptr<float>(), w.data_ptr<float>(), w_inv_.data_ptr<float>() + k0, m,
                                          D_, false, device_, stream_),
                "weight normalisation backward");
        if (!fp32) grad_w_.narrow(0, k0, m).copy_(gw);
      });
    }
    buffer_.reset();
    if (config_.normalized())
      check(launch_normalize_backward(grad_x.data_ptr<float>(), x32_.data_ptr<float>(), x_inv_.data_ptr<float>(), B_,
                                      D_, true, device_, stream_),
            "embedding normalisation backward");
    if (sphereface()) grad_x.add_(xhat_ * norm_grad_.unsqueeze(1));
    grad_x_ = grad_x.to(x_.scalar_type());
  }

  // Mean cosine of x_i and W_{y_i} for softmax, whose buffer holds raw logits (on the device).
  at::Tensor softmax_target_cos() const {
    const at::Tensor wy = W_.index_select(0, labels_).to(at::kFloat);
    const at::Tensor inv_wy = wy.norm(2, {1}).clamp_min(loss::kNormEps).reciprocal();
    return ((x32_ * wy).sum(1) * x_inv_ * inv_wy).mean();
  }

  // device_result()'s statistics read back (mining: the loss of its reduction, made on the host).
  LossResult result() const {
    LossResult r = device_result();
    const at::Tensor stats = r.stats.cpu();  // waits for the stream
    const double* v = stats.data_ptr<double>();
    r.loss = config_.mining != loss::Mining::None ? reduction_.loss : v[0];
    r.hard_fraction = v[1];
    r.mean_target_cos = v[2];
    return r;
  }

  // The loss (the mean CE; mining replaces it in result()), the hard fraction and the mean target
  // cosine, reduced on the device: nothing is read back.
  LossResult device_result() const {
    const at::Tensor ce = row_field(rows_, B_, offsetof(RowInfo, ce), at::kDouble);
    const at::Tensor hard = row_field(rows_, B_, offsetof(RowInfo, hard), at::kLong);
    const at::Tensor g = row_field(rows_, B_, offsetof(RowInfo, g), at::kDouble);
    const double pairs = C_ > 1 ? static_cast<double>(B_) * static_cast<double>(C_ - 1) : 1.0;
    const at::Tensor hard_fraction = C_ > 1 ? hard.sum().to(at::kDouble) / pairs : at::zeros({}, ce.options());
    const at::Tensor target_cos = config_.normalized() ? g.mean() : softmax_target_cos().to(at::kDouble);
    LossResult r;
    r.stats = at::stack({ce.mean(), hard_fraction, target_cos});
    r.grad_embeddings = grad_x_;
    r.grad_weight = grad_w_;
    return r;
  }

  const LossConfig config_;
  const loss::HeadParams head_;
  const at::Tensor x_, W_, labels_;
  const at::TensorOptions f32_;
  const int device_;
  const cudaStream_t stream_;
  const int multiprocessors_;
  const int64_t B_, C_, D_;
  const int64_t chunk_;  // classes per chunk; C_ when not chunked
  const bool capturable_;
  int64_t parts_ = 0;   // capacity of the *_parts arrays
  RowPassArgs base_{};  // the fields every chunk shares
  at::Tensor x32_, x_inv_, xhat_, w_inv_, col_, x_norm_, buffer_, target_raw_;
  at::Tensor rows_, lse_parts_, expected_parts_, hard_parts_, norm_grad_, weights_;
  at::Tensor grad_x_, grad_w_;
  loss::Reduction reduction_;
};

}  // namespace

LossResult fused_loss_cuda(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                           const at::Tensor& labels, const loss::FusedOptions& options) {
  if (options.block_classes < 0) fail("E_CONFIG", "chunkClasses", "must be >= 0 (0: all classes at once)");
#ifdef MVFACE_CUDA_EMULATION
  return CudaLoss(config, x, weight, labels, options).run();
#else
  check_devices(x, weight);
  const c10::cuda::CUDAGuard guard(x.device());
  return CudaLoss(config, x, weight, labels, options).run();
#endif
}

}  // namespace mvface::cuda
