#pragma once
// Row weights dL/dCE_i and the loss for the mining reductions (focal, hard mining), from the rows'
// cross-entropies: shared by the CPU and CUDA paths. `Rows` is any vector of structs with `.ce`.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

namespace mvface::loss {

struct Reduction {
  std::vector<double> weight;
  double loss = 0;
};

template <typename Rows>
Reduction focal_weights(const Rows& rows, double gamma) {
  const double B = static_cast<double>(rows.size());
  Reduction r;
  r.weight.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const double ce = rows[i].ce, p = std::exp(-ce), q = 1.0 - p;
    r.loss += std::pow(q, gamma) * ce / B;
    const double tail = (ce > 0 && gamma > 0) ? gamma * p * std::pow(q, gamma - 1.0) * ce : 0.0;
    r.weight[i] = (std::pow(q, gamma) + tail) / B;
  }
  return r;
}

template <typename Rows>
Reduction hard_mining_weights(const Rows& rows, double ratio) {
  const int64_t B = static_cast<int64_t>(rows.size());
  const int64_t keep = std::max<int64_t>(1, static_cast<int64_t>(std::floor(ratio * B + 1e-9)));
  std::vector<int64_t> order(B);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return rows[a].ce > rows[b].ce; });
  Reduction r;
  r.weight.assign(B, 0.0);
  for (int64_t j = 0; j < keep; ++j) {
    r.weight[order[j]] = 1.0 / keep;
    r.loss += rows[order[j]].ce / keep;
  }
  return r;
}

}  // namespace mvface::loss
