#pragma once
// The fused batch norm's arguments: the shape, how the passes cut it, and plain pointers to the
// tensors, shared by the CUDA kernels (cuda/norm_kernels.h) and the CPU ones (norm/norm_cpu.h).
// See cuda/norm_kernels.h for the passes.
#include <math.h>

#include <algorithm>
#include <cstdint>

#ifdef __CUDACC__
#define MVFACE_NORM_HOST_DEVICE __host__ __device__
#else
#define MVFACE_NORM_HOST_DEVICE
#endif

namespace mvface::norm {

enum class NormDtype { kFloat32, kBFloat16 };

constexpr int kNormThreads = 256;

// x is N x C x H x W, NCHW-contiguous (inner = H*W) or channels-last (inner = 1: N*H*W rows of C),
// under 2^31 elements (the kernels index in 32 bits).
struct NormShape {
  uint32_t C = 0;
  uint32_t positions = 0;  // N*H*W: values per channel
  uint32_t inner = 1;      // H*W (NCHW) or 1 (channels-last: N*H*W rows of C)
  // Elements per load, `vec` consecutive ones: in NCHW one channel's, in channels-last consecutive
  // channels of one row, in every pass.
  int vec = 1;
  // The reductions: in channels-last (`rows`) each thread loads vec channels of a row and
  // `row_threads` threads (<= 32) span a block's `tile` = row_threads x vec channels; in NCHW a
  // block has one channel (tile 1) and each load is vec positions of it.
  bool rows = false;
  int row_threads = 1, tile = 1;
  int splits = 1;        // blocks per channel tile in the reductions
  int apply_blocks = 1;  // blocks of the element-wise passes
  // A grid-stride step of the element-wise passes, `step` elements: step_c channels and step_k
  // inner offsets on (k carries into c), so that no thread divides after its first element.
  uint32_t step = 0, step_c = 0, step_k = 0;
  // A step of a reduction's thread, lanes x (positions per load): step_o outer and step_ko inner.
  uint32_t step_o = 0, step_ko = 0;
};

// The widest load of <= 16 bytes that `alignment` (of every pointer, in bytes) allows and that
// stays within one channel (NCHW: divides H*W) or one row (channels-last: divides C).
inline int widest_load(int64_t within, int element_bytes, int alignment) {
  int v = 16 / element_bytes;
  while (v > 1 && (within % v != 0 || v * element_bytes > alignment)) v /= 2;
  return v;
}

// Positions a reduction thread loads at once: vec in NCHW, one row in channels-last.
MVFACE_NORM_HOST_DEVICE inline int load_positions(const NormShape& s) { return s.rows ? 1 : s.vec; }

inline int row_threads_for(int64_t C, int vec) {
  int threads = 1;
  while (threads < 32 && int64_t{threads} * vec < C) threads *= 2;
  return threads;
}

// Enough blocks to fill `multiprocessors`, each thread of a reduction summing >= 16 positions.
inline NormShape plan_norm(int64_t N, int64_t C, int64_t HW, bool channels_last, int element_bytes, int alignment,
                           int multiprocessors) {
  NormShape s;
  s.C = static_cast<uint32_t>(C);
  s.positions = static_cast<uint32_t>(N * HW);
  s.inner = static_cast<uint32_t>(channels_last ? 1 : HW);
  s.vec = widest_load(channels_last ? C : HW, element_bytes, alignment);
  s.rows = channels_last;
  s.row_threads = channels_last ? row_threads_for(C, s.vec) : 1;
  s.tile = channels_last ? s.row_threads * s.vec : 1;
  const int64_t tiles = (C + s.tile - 1) / s.tile, lanes = kNormThreads / s.row_threads;
  const int64_t wanted = int64_t{multiprocessors} * 8;
  const int64_t most = std::max<int64_t>(1, s.positions / (lanes * load_positions(s) * 16));
  s.splits = static_cast<int>(std::clamp<int64_t>((wanted + tiles - 1) / tiles, 1, most));
  const int64_t loads = N * HW * C / s.vec;
  s.apply_blocks = static_cast<int>(
      std::clamp<int64_t>((loads + kNormThreads - 1) / kNormThreads, 1, int64_t{multiprocessors} * 16));
  const int64_t step = int64_t{s.apply_blocks} * kNormThreads * s.vec;
  s.step = static_cast<uint32_t>(step);
  s.step_c = static_cast<uint32_t>(step / s.inner % C);
  s.step_k = static_cast<uint32_t>(step % s.inner);
  const int64_t reduce_step = lanes * load_positions(s);
  s.step_o = static_cast<uint32_t>(reduce_step / s.inner);
  s.step_ko = static_cast<uint32_t>(reduce_step % s.inner);
  return s;
}

struct NormArgs {
  NormShape shape;
  NormDtype dtype = NormDtype::kFloat32;
  const void* x = nullptr;
  const float* weight = nullptr;  // C: gamma
  const float* bias = nullptr;    // C: beta
  const float* alpha = nullptr;   // PReLU slopes (C, or 1 with alpha_stride 0), or nullptr: none
  int64_t alpha_stride = 1;
  float eps = 1e-5f, momentum = 0.1f;
  float* running_mean = nullptr;  // C, or nullptr: not tracked
  float* running_var = nullptr;
  float* mean = nullptr;           // C: the batch mean (forward writes it, backward reads it)
  float* invstd = nullptr;         // C: 1 / sqrt(biased variance + eps)
  float* coef = nullptr;           // 3 x C workspace: scale (weight / std), mean of dy, mean of dy x̂
  float* parts = nullptr;          // 3 x splits x C workspace
  const void* residual = nullptr;  // forward: added to the output, or nullptr
  void* out = nullptr;             // forward: the output, x's layout and type
  const void* grad_out = nullptr;  // backward: dL/d out, x's layout and type
  void* grad_x = nullptr;          // backward
  float* grad_weight = nullptr;    // C each; grad_alpha per channel (summed by the caller when
  float* grad_bias = nullptr;      // the slope is shared)
  float* grad_alpha = nullptr;
};

// Channel c's statistics from its mean and biased variance over n values, as PyTorch's training-
// mode BatchNorm: the mean and 1 / sqrt(var + eps) stored, the running mean and (unbiased) variance
// moved by the momentum. Shared by the CUDA kernels and the CPU passes.
MVFACE_NORM_HOST_DEVICE inline void store_statistics(const NormArgs& a, int64_t c, double mean, double var, double n) {
  a.mean[c] = static_cast<float>(mean);
  a.invstd[c] = 1.0f / sqrtf(static_cast<float>(var) + a.eps);
  if (!a.running_mean) return;
  const float m = a.momentum;
  a.running_mean[c] = (1.0f - m) * a.running_mean[c] + m * static_cast<float>(mean);
  a.running_var[c] = (1.0f - m) * a.running_var[c] + m * static_cast<float>(var * n / (n - 1.0));
}

}  // namespace mvface::norm
