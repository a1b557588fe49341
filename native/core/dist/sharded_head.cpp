#include "dist/sharded_head.h"

#include <cmath>
#include <limits>

#include "errors.h"
#include "loss/blocked_head.h"

namespace mvface::dist {
namespace {

using loss::RowTarget;

// Every row's target cosine: computed on the rank owning its class, summed across ranks.
std::vector<RowTarget> gathered_targets(Comm& comm, const loss::HeadParams& p, const at::Tensor& xhat,
                                        const at::Tensor& W, const at::Tensor& col, const at::Tensor& labels,
                                        int64_t first) {
  const at::Tensor local = labels - first;
  const at::Tensor mine = (local >= 0) & (local < W.size(0));
  const at::Tensor index = at::where(mine, local, at::zeros_like(local));
  at::Tensor raw = ((xhat * W.index_select(0, index)).sum(1) * col.index_select(0, index)).to(at::kDouble);
  raw = at::where(mine, raw, at::zeros_like(raw));
  comm.all_reduce_sum(raw);
  const at::Tensor g = raw.contiguous();
  std::vector<RowTarget> targets(g.size(0));
  const double* v = g.data_ptr<double>();
  for (size_t i = 0; i < targets.size(); ++i) {
    targets[i].live = !p.normalized || (v[i] > -1.0 && v[i] < 1.0);
    targets[i].g = p.normalized ? std::clamp(v[i], -1.0, 1.0) : v[i];
  }
  return targets;
}

// log-sum-exp over all ranks' negatives from each rank's own.
std::vector<double> combined_logsumexp(Comm& comm, const std::vector<double>& local) {
  constexpr double none = -std::numeric_limits<double>::infinity();
  at::Tensor m = at::tensor(local, at::kDouble);
  comm.all_reduce_max(m);
  at::Tensor s = at::tensor(local, at::kDouble);
  const double* mp = m.data_ptr<double>();
  double* sp = s.data_ptr<double>();
  for (int64_t i = 0; i < s.numel(); ++i) sp[i] = sp[i] == none ? 0.0 : std::exp(sp[i] - mp[i]);
  comm.all_reduce_sum(s);
  std::vector<double> out(local.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = mp[i] == none ? none : mp[i] + std::log(sp[i]);
  return out;
}

template <typename T>
loss::LossResult sharded_impl(Comm& comm, const loss::LossConfig& config, const at::Tensor& x_local,
                              const at::Tensor& w_in, int64_t first, int64_t classes, const at::Tensor& labels_local) {
  const at::Tensor x = comm.all_gather(x_local.contiguous());
  const at::Tensor labels = comm.all_gather(labels_local.to(at::kLong).contiguous());
  const at::Tensor W = w_in.contiguous();
  const int64_t B = x.size(0), b0 = comm.rank() * x_local.size(0), b = x_local.size(0);
  const loss::HeadParams p = loss::make_head_params(config);
  const bool normalized = config.normalized();

  const at::Tensor x_inv = loss::inverse_norms(x, "embeddings");
  const at::Tensor xhat = normalized ? x * x_inv.unsqueeze(1) : x;
  at::Tensor w_inv;
  if (normalized)
    w_inv = loss::inverse_norms(W, "weight");
  else
    loss::check_finite(W, "weight");
  const at::Tensor col = normalized ? w_inv : at::ones({W.size(0)}, W.options());
  const at::Tensor x_norm = config.type == loss::HeadType::SphereFace ? x.norm(2, {1}) : at::Tensor();

  loss::BlockedHead<T> head(p, xhat, W, col, labels, x_norm, 0, gathered_targets(comm, p, xhat, W, col, labels, first),
                            first);
  const std::vector<double> negatives = combined_logsumexp(comm, loss::negatives_logsumexp(head));
  std::vector<double> lse(B), z_target(B);
  std::vector<loss::RowCe> rows(B);
  head.with_block(0, [&](const loss::RowPass<T>& pass, int64_t, int64_t, const at::Tensor&) {
    for (int64_t i = 0; i < B; ++i) z_target[i] = pass.target_logit(i);
  });
  for (int64_t i = 0; i < B; ++i) {
    lse[i] = loss::log_add_exp(z_target[i], negatives[i]);
    rows[i].ce = lse[i] - z_target[i];
  }
  const loss::Reduction reduction = loss::reduce_rows(config, rows);

  at::Tensor grad_xhat = at::empty({B, W.size(1)}, x.options());
  at::Tensor grad_w = at::empty_like(W);
  loss::RowBackward back = loss::head_backward(head, reduction.weight, lse, W, xhat, grad_xhat, grad_w);
  comm.all_reduce_sum(grad_xhat);
  if (normalized) loss::normalize_backward_rows<T>(grad_w, W, w_inv, false);
  at::Tensor grad_x = grad_xhat.narrow(0, b0, b).contiguous();
  const at::Tensor x_mine = x.narrow(0, b0, b).contiguous(), inv_mine = x_inv.narrow(0, b0, b).contiguous();
  if (normalized) loss::normalize_backward_rows<T>(grad_x, x_mine, inv_mine, true);

  at::Tensor totals = at::tensor(back.expected, at::kDouble);
  comm.all_reduce_sum(totals);
  if (x_norm.defined()) {
    std::vector<double> norm_grad(b);
    head.with_block(0, [&](const loss::RowPass<T>& pass, int64_t, int64_t, const at::Tensor&) {
      for (int64_t i = 0; i < b; ++i)
        norm_grad[i] = pass.norm_gradient(b0 + i, reduction.weight[b0 + i], lse[b0 + i], totals[b0 + i].item<double>());
    });
    at::Tensor ng = at::tensor(norm_grad, at::kDouble).to(x.scalar_type());
    grad_x.add_(xhat.narrow(0, b0, b) * ng.unsqueeze(1));
  }
  at::Tensor hard = at::zeros({1}, at::kDouble);
  for (int64_t h : back.hard) hard[0] += static_cast<double>(h);
  comm.all_reduce_sum(hard);

  loss::LossResult r;
  r.loss = reduction.loss;
  r.grad_embeddings = grad_x;
  r.grad_weight = grad_w;
  r.hard_fraction = classes > 1 ? hard.item<double>() / (static_cast<double>(B) * (classes - 1)) : 0.0;
  double target_cos = 0;
  for (const RowTarget& t : head.targets()) target_cos += t.g;
  r.mean_target_cos = target_cos / B;
  return r;
}

}  // namespace

ClassShard shard_of(int64_t classes, int rank, int world) {
  const int64_t base = classes / world, extra = classes % world;
  return {rank * base + std::min<int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

loss::LossResult sharded_loss(Comm& comm, const loss::LossConfig& config, const at::Tensor& x_local,
                              const at::Tensor& weight_shard, int64_t shard_first, int64_t classes,
                              const at::Tensor& labels_local) {
  loss::validate_config(config);
  const ClassShard expected = shard_of(classes, comm.rank(), comm.world_size());
  if (shard_first != expected.first || weight_shard.size(0) != expected.count)
    fail("E_SHAPE", "weight",
         "rank " + std::to_string(comm.rank()) + " must hold classes [" + std::to_string(expected.first) + ", " +
             std::to_string(expected.first + expected.count) + ")");
  loss::validate_inputs(x_local, weight_shard, at::zeros_like(labels_local));
  const int64_t lo = labels_local.min().item<int64_t>(), hi = labels_local.max().item<int64_t>();
  if (lo < 0 || hi >= classes) fail("E_LABEL", "labels", "must be in [0, " + std::to_string(classes) + ")");
  if (x_local.scalar_type() == at::kDouble)
    return sharded_impl<double>(comm, config, x_local, weight_shard, shard_first, classes, labels_local);
  return sharded_impl<float>(comm, config, x_local, weight_shard, shard_first, classes, labels_local);
}

}  // namespace mvface::dist
