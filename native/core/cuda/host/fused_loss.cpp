// The fused loss on CUDA, the twin of loss/fused_cpu.cpp. Memory beyond inputs and outputs: one
// B x C float32 buffer (cosines, then dL/dc in place), x̂ (B x D) and the C inverse norms of W.
// Ŵ is never materialised: the column scale 1/‖W_k‖ is applied inside the row pass and folded into
// dL/dc, so that the GEMMs use W itself. bfloat16 weights are read as float32 copies of bounded
// chunks of classes, so the arithmetic is float32 throughout.
#include "cuda/host/fused_loss.h"

#ifndef MVFACE_CUDA_EMULATION
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
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

// Calls f(c0, n, w32) for consecutive chunks of W's rows [c0, c0 + n), w32 those rows in float32:
// one view of all of W when it is float32, bounded copies when it is bfloat16.
template <typename F>
void for_each_class_chunk(const at::Tensor& W, F&& f) {
  const int64_t C = W.size(0);
  const bool fp32 = W.scalar_type() == at::kFloat;
  const int64_t rows = fp32 ? C : std::max<int64_t>(1, kChunkBytes / (W.size(1) * 4));
  for (int64_t c0 = 0; c0 < C; c0 += rows) {
    const int64_t n = std::min(rows, C - c0);
    const at::Tensor w = W.narrow(0, c0, n);
    f(c0, n, fp32 ? w : w.to(at::kFloat));
  }
}

// 1 / max(‖v_r‖, eps), after checking that every norm is finite (as inverse_norms on the CPU).
at::Tensor inverse_norms(const at::Tensor& norms, const at::Tensor& v, const char* argument) {
  if (!at::isfinite(norms).all().item<bool>()) {
    loss::check_finite(v, argument);
    fail("E_NONFINITE", argument, "a row norm overflows (values too large)");
  }
  return norms.clamp_min(loss::kNormEps).reciprocal();
}

class CudaLoss {
 public:
  CudaLoss(const LossConfig& config, const at::Tensor& x, const at::Tensor& W, const at::Tensor& labels)
      : config_(config),
        head_(loss::make_head_params(config)),
        x_(x.contiguous()),
        W_(W.contiguous()),
        labels_(labels.to(x.device(), at::kLong).contiguous()),
        f32_(x.options().dtype(at::kFloat)),
        device_(x.device().index()),
        stream_(current_stream(x)),
        B_(x.size(0)),
        C_(W.size(0)),
        D_(x.size(1)) {}

  LossResult run() {
    normalise_inputs();
    cosines();
    row_pass();
    gradients();
    return result();
  }

 private:
  bool sphereface() const { return config_.type == loss::HeadType::SphereFace; }

  void normalise_inputs() {
    x32_ = x_.to(at::kFloat);
    x_inv_ = inverse_norms(x32_.norm(2, {1}), x_, "embeddings");
    xhat_ = config_.normalized() ? x32_ * x_inv_.unsqueeze(1) : x32_;
    if (config_.normalized()) {
      w_inv_ = inverse_norms(weight_norms(), W_, "weight");
      col_ = w_inv_;
    } else {
      loss::check_finite(W_, "weight");
      col_ = at::ones({C_}, f32_);
    }
    if (sphereface()) x_norm_ = x32_.norm(2, {1});
  }

  at::Tensor weight_norms() {
    at::Tensor norms = at::empty({C_}, f32_);
    for_each_class_chunk(W_, [&](int64_t c0, int64_t n, const at::Tensor& w) {
      check(launch_row_norms(w.data_ptr<float>(), n, D_, norms.data_ptr<float>() + c0, device_, stream_),
            "row norms");
    });
    return norms;
  }

  void cosines() {
    buffer_ = at::empty({B_, C_}, f32_);
    for_each_class_chunk(W_, [&](int64_t c0, int64_t n, const at::Tensor& w) {
      at::Tensor out = buffer_.narrow(1, c0, n);
      at::mm_out(out, xhat_, w.t());
    });
  }

  RowPassArgs row_args() {
    const bool aligned = reinterpret_cast<uintptr_t>(buffer_.data_ptr()) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(col_.data_ptr()) % 16 == 0;
    const RowPlan plan = plan_rows(B_, C_, multiprocessor_count(device_), aligned);
    const int64_t parts = B_ * plan.segments;
    rows_ = at::empty({B_ * static_cast<int64_t>(sizeof(RowInfo))}, f32_.dtype(at::kByte));
    lse_parts_ = at::empty({parts, 2}, f32_);
    expected_parts_ = at::empty({parts}, f32_);
    hard_parts_ = at::empty({parts}, f32_.dtype(at::kInt));
    if (sphereface()) norm_grad_ = at::empty({B_}, f32_);
    RowPassArgs a{};
    a.head = head_;
    a.device = device_;
    a.B = B_;
    a.C = C_;
    a.plan = plan;
    a.buffer = buffer_.data_ptr<float>();
    a.col = col_.data_ptr<float>();
    a.labels = labels_.data_ptr<int64_t>();
    a.row_norm = sphereface() ? x_norm_.data_ptr<float>() : nullptr;
    a.rows = reinterpret_cast<RowInfo*>(rows_.data_ptr());
    a.lse_parts = reinterpret_cast<float2*>(lse_parts_.data_ptr<float>());
    a.expected_parts = expected_parts_.data_ptr<float>();
    a.hard_parts = hard_parts_.data_ptr<int>();
    a.norm_grad = sphereface() ? norm_grad_.data_ptr<float>() : nullptr;
    return a;
  }

  void row_pass() {
    RowPassArgs a = row_args();
    check(launch_row_stats(a, stream_), "row statistics");
    if (config_.mining != loss::Mining::None) {
      const std::vector<RowInfo> rows = read_rows();
      reduction_ = config_.mining == loss::Mining::Focal ? loss::focal_weights(rows, config_.focal_gamma)
                                                         : loss::hard_mining_weights(rows, config_.hm_ratio);
      weights_ = at::tensor(reduction_.weight, at::TensorOptions().dtype(at::kDouble)).to(x_.device());
      a.weights = weights_.data_ptr<double>();
    }
    check(launch_row_gradient(a, stream_), "row gradient");
  }

  std::vector<RowInfo> read_rows() const {
    const at::Tensor host = rows_.cpu();  // waits for the stream
    std::vector<RowInfo> rows(B_);
    std::memcpy(rows.data(), host.data_ptr(), rows.size() * sizeof(RowInfo));
    return rows;
  }

  void gradients() {
    const bool fp32 = W_.scalar_type() == at::kFloat;
    at::Tensor grad_x = at::zeros({B_, D_}, f32_);
    grad_w_ = at::empty({C_, D_}, W_.options());
    for_each_class_chunk(W_, [&](int64_t c0, int64_t n, const at::Tensor& w) {
      const at::Tensor g = buffer_.narrow(1, c0, n);
      grad_x.addmm_(g, w);
      at::Tensor gw = fp32 ? grad_w_.narrow(0, c0, n) : at::empty({n, D_}, f32_);
      at::mm_out(gw, g.t(), xhat_);
      if (config_.normalized())
        check(launch_normalize_backward(gw.data_ptr<float>(), w.data_ptr<float>(),
                                        w_inv_.data_ptr<float>() + c0, n, D_, false, device_, stream_),
              "weight normalisation backward");
      if (!fp32) grad_w_.narrow(0, c0, n).copy_(gw);
    });
    buffer_.reset();
    if (config_.normalized())
      check(launch_normalize_backward(grad_x.data_ptr<float>(), x32_.data_ptr<float>(),
                                      x_inv_.data_ptr<float>(), B_, D_, true, device_, stream_),
            "embedding normalisation backward");
    if (sphereface()) grad_x.add_(xhat_ * norm_grad_.unsqueeze(1));
    grad_x_ = grad_x.to(x_.scalar_type());
  }

  // Mean cosine of x_i and W_{y_i} for softmax, whose buffer holds raw logits.
  double softmax_target_cos() const {
    const at::Tensor wy = W_.index_select(0, labels_).to(at::kFloat);
    const at::Tensor inv_wy = wy.norm(2, {1}).clamp_min(loss::kNormEps).reciprocal();
    return ((x32_ * wy).sum(1) * x_inv_ * inv_wy).mean().item<double>();
  }

  LossResult result() const {
    const std::vector<RowInfo> rows = read_rows();
    LossResult r;
    int64_t hard = 0;
    double target_cos = 0;
    for (const RowInfo& row : rows) {
      hard += row.hard;
      target_cos += row.g;
      r.loss += row.ce / B_;
    }
    if (config_.mining != loss::Mining::None) r.loss = reduction_.loss;
    r.hard_fraction = C_ > 1 ? static_cast<double>(hard) / (static_cast<double>(B_) * (C_ - 1)) : 0.0;
    r.mean_target_cos = config_.normalized() ? target_cos / B_ : softmax_target_cos();
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
  const int64_t B_, C_, D_;
  at::Tensor x32_, x_inv_, xhat_, w_inv_, col_, x_norm_, buffer_;
  at::Tensor rows_, lse_parts_, expected_parts_, hard_parts_, norm_grad_, weights_;
  at::Tensor grad_x_, grad_w_;
  loss::Reduction reduction_;
};

}  // namespace

LossResult fused_loss_cuda(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                           const at::Tensor& labels) {
#ifdef MVFACE_CUDA_EMULATION
  return CudaLoss(config, x, weight, labels).run();
#else
  check_devices(x, weight);
  const c10::cuda::CUDAGuard guard(x.device());
  return CudaLoss(config, x, weight, labels).run();
#endif
}

}  // namespace mvface::cuda
