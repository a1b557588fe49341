#pragma once
// The fused CUDA row pass over a B x C float32 buffer of cosines x̂_i · W_k, with plain device
// pointers and no ATen: it compiles with nvcc alone (CI, no GPU). The math is the loss of the README as the
// CPU path writes it: target_margin() of loss/margin.h per row (double), the element function of
// loss/row_kernel.h per element (float32), an online log-sum-exp, dL/dc written in place.
//
// Each row is cut into `segments` pieces, one thread block each, so that small batches still fill
// the GPU. Phases, all on one stream:
//   prepare:  per row, the target's margin; the running (max, sum) starts at the target's term.
//   stats:    per piece, a partial (max, sum); per row, merged into the running state; after the
//             last chunk, lse and CE.
//   (host:    mining weights from the CEs, when focal or hm is on)
//   gradient: per piece, dL/dc * col written over the buffer; per row, hard count and sum of
//             p_k value_k accumulated; after the last chunk, the norm gradient.
// The buffer holds either all C classes (one chunk) or one chunk of them, [class_offset,
// class_offset + C): the class-chunked loss runs stats over every chunk, then gradient over every
// chunk with its cosines recomputed, so that the buffer is B x chunk. Labels stay global ids.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "loss/margin.h"

namespace mvface::cuda {

// One row's values, in double like the CPU's RowPass::Row. Read back by the host at the end.
struct RowInfo {
  double g;  // target cosine, clamped to [-1, 1] (raw for softmax)
  double mu, tau, dtau;
  double scale;             // s, ‖x_i‖ (sphereface) or 1 (softmax)
  double z_target;          // scale * tau
  double lse, ce;           // log-sum-exp of the row and its cross-entropy
  double p_target;          // softmax probability of the target
  double norm_grad;         // dL/d‖x_i‖ (sphereface)
  double run_max, run_sum;  // online log-sum-exp over the chunks so far, target term included
  double expected;          // sum of p_k value_k over the negatives of the chunks so far
  long long hard;           // negatives flagged mis-classified
  int g_live;               // the clamp passes gradient to g
};

constexpr int kRowPassThreads = 256;  // threads per block of the element sweeps

// How rows are cut into thread blocks.
struct RowPlan {
  int segments;         // blocks per row
  int64_t segment_len;  // classes per block (a multiple of 4)
  bool vectorized;      // float4 loads (C % 4 == 0 and 16-byte aligned buffers)
};

struct RowPassArgs {
  loss::HeadParams head;
  int device;
  int64_t B, C;          // C: the classes in the buffer (its row length)
  int64_t class_offset;  // the head's id of the buffer's class 0 (0 unless chunked)
  RowPlan plan;
  float* buffer;            // B x C: cosines in, dL/dc * col out
  const float* col;         // C: 1 / ‖W_k‖ (ones for softmax) of the buffer's classes
  const int64_t* labels;    // B: the head's class ids
  const float* target_raw;  // B: x̂_i · W_{y_i} before the column scale, or nullptr to read it
                            // from the buffer (which then holds every class). Read by prepare.
  const float* row_norm;    // B: ‖x_i‖ for sphereface, else unused
  const double* weights;    // B: dL/dCE_i, or nullptr for the plain mean (1 / B)
  RowInfo* rows;            // B
  float2* lse_parts;        // B x segments: (max, sum of exp(z - max))
  float* expected_parts;    // B x segments: sum of p_k * value_k over negatives
  int* hard_parts;          // B x segments
  float* norm_grad;         // B: RowInfo::norm_grad as float, for the embedding gradient
};

int multiprocessor_count(int device);
RowPlan plan_rows(int64_t B, int64_t C, int multiprocessors, bool aligned);

// Each returns the first CUDA error of its launches (cudaSuccess when all went in).
// Per row: target margin, RowInfo reset. `a` as for the first chunk (class_offset 0): a.col is
// read at the labels, so it must run over every class; with a.target_raw == nullptr the buffer
// must hold every class, its cosines in.
cudaError_t launch_row_prepare(const RowPassArgs& a, cudaStream_t stream);
// The chunk's partial log-sum-exp merged into each row's; `last`: lse, CE and p_target computed.
cudaError_t launch_chunk_stats(const RowPassArgs& a, bool last, cudaStream_t stream);
// The chunk's dL/dc * col in place, its hard counts and expected values accumulated per row;
// `last`: the norm gradient computed. Needs every row's lse (all chunks' stats) and the weights.
cudaError_t launch_chunk_gradient(const RowPassArgs& a, bool last, cudaStream_t stream);

// The whole head in one buffer (B x C, class_offset 0).
inline cudaError_t launch_row_stats(const RowPassArgs& a, cudaStream_t stream) {
  if (cudaError_t e = launch_row_prepare(a, stream); e != cudaSuccess) return e;
  return launch_chunk_stats(a, true, stream);
}
inline cudaError_t launch_row_gradient(const RowPassArgs& a, cudaStream_t stream) {
  return launch_chunk_gradient(a, true, stream);
}

// ‖v_r‖ for each of `rows` rows of length D.
cudaError_t launch_row_norms(const float* v, int64_t rows, int64_t D, float* norms, int device, cudaStream_t stream);
// In place per row r: g_r <- (g_r - v̂_r (v̂_r · g_r)) * (scaled ? inv_r : 1), the backward of
// v / max(‖v‖, eps), as normalize_backward_rows in loss/fused_cpu.cpp.
cudaError_t launch_normalize_backward(float* grad, const float* v, const float* inv, int64_t rows, int64_t D,
                                      bool scaled, int device, cudaStream_t stream);

}  // namespace mvface::cuda
