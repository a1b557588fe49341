#include <string>

#include "errors.h"
#include "loss/loss.h"

namespace mvface::loss {
namespace {

std::string dims(const at::Tensor& t) {
  std::string s;
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? " x " : "") + std::to_string(t.size(i));
  return s.empty() ? "a scalar" : s;
}

}  // namespace

void check_finite(const at::Tensor& t, const char* argument) {
  if (t.numel() == 0 || at::isfinite(t).all().item<bool>()) return;
  const bool has_nan = at::isnan(t).any().item<bool>();
  fail("E_NONFINITE", argument, has_nan ? "contains NaN" : "contains Inf");
}

void validate_shapes(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels) {
  if (x.dim() != 2 || x.size(0) < 1 || x.size(1) < 1)
    fail("E_SHAPE", "embeddings", "expected B x D with B, D >= 1, got " + dims(x));
  if (weight.dim() != 2 || weight.size(0) < 1 || weight.size(1) != x.size(1))
    fail("E_SHAPE", "weight", "expected C x " + std::to_string(x.size(1)) + " (D of embeddings), got " + dims(weight));
  if (x.scalar_type() != weight.scalar_type() || !at::isFloatingType(x.scalar_type()))
    fail("E_SHAPE", "weight", "embeddings and weight must share one floating dtype");
  if (labels.dim() != 1 || labels.size(0) != x.size(0))
    fail("E_SHAPE", "labels", "expected " + std::to_string(x.size(0)) + " labels (one per row), got " + dims(labels));
  if (labels.scalar_type() != at::kInt && labels.scalar_type() != at::kLong)
    fail("E_LABEL", "labels", "must be integers (int32 or int64)");
}

void check_label_range(const at::Tensor& labels, int64_t classes) {
  if (labels.numel() == 0) return;
  const int64_t lo = labels.min().item<int64_t>(), hi = labels.max().item<int64_t>();
  if (lo < 0 || hi >= classes)
    fail("E_LABEL", "labels",
         "must be in [0, " + std::to_string(classes) + "), found " + std::to_string(lo < 0 ? lo : hi));
}

void validate_inputs(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& labels) {
  validate_shapes(x, weight, labels);
  check_label_range(labels, weight.size(0));
  check_finite(x, "embeddings");
}

}  // namespace mvface::loss
