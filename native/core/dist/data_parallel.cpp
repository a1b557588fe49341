#include "dist/data_parallel.h"

#include <ATen/core/grad_mode.h>

namespace mvface::dist {
namespace {

struct Bucket {
  std::vector<at::Tensor> members;
  int64_t bytes = 0;
};

std::vector<Bucket> buckets_of(const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  std::vector<Bucket> buckets;
  for (const at::Tensor& t : tensors) {
    const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
    Bucket* open = buckets.empty() ? nullptr : &buckets.back();
    const bool fits = open && open->bytes + bytes <= bucket_bytes &&
                      open->members[0].scalar_type() == t.scalar_type() && open->members[0].device() == t.device();
    if (!fits) open = &buckets.emplace_back();
    open->members.push_back(t);
    open->bytes += bytes;
  }
  return buckets;
}

at::Tensor flatten(const std::vector<at::Tensor>& members) {
  std::vector<at::Tensor> flat;
  for (const at::Tensor& t : members) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

void unflatten_into(const at::Tensor& flat, const std::vector<at::Tensor>& members) {
  int64_t at = 0;
  for (const at::Tensor& t : members) {
    t.copy_(flat.narrow(0, at, t.numel()).view(t.sizes()));
    at += t.numel();
  }
}

}  // namespace

bool GradientAverager::planned_for(const std::vector<at::Tensor>& tensors) const {
  if (tensors.size() != sizes_.size()) return false;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    if (!t.sizes().equals(sizes_[i]) || t.scalar_type() != options_[i].dtype().toScalarType() ||
        t.device() != options_[i].device())
      return false;
  }
  return true;
}

void GradientAverager::plan(const std::vector<at::Tensor>& tensors) {
  options_.clear(), sizes_.clear(), members_.clear(), flats_.clear();
  for (const at::Tensor& t : tensors) options_.push_back(t.options()), sizes_.push_back(t.sizes().vec());
  size_t next = 0;
  for (const Bucket& b : buckets_of(tensors, bucket_bytes_)) {
    int64_t numel = 0;
    members_.emplace_back();
    for (const at::Tensor& t : b.members) members_.back().push_back(next++), numel += t.numel();
    flats_.push_back(at::empty({numel}, b.members[0].options()));
  }
}

void GradientAverager::average(Comm& comm, const std::vector<at::Tensor>& tensors) {
  if (comm.world_size() == 1) return;
  at::NoGradGuard no_grad;
  if (!planned_for(tensors)) plan(tensors);
  for (size_t b = 0; b < members_.size(); ++b) {
    std::vector<at::Tensor> flat;
    for (size_t i : members_[b]) flat.push_back(tensors[i].reshape({-1}));
    at::cat_out(flats_[b], flat);
  }
  comm.all_reduce_sum_each(flats_);
  for (size_t b = 0; b < members_.size(); ++b) {
    std::vector<at::Tensor> members;
    for (size_t i : members_[b]) members.push_back(tensors[i]);
    unflatten_into(flats_[b].div_(comm.world_size()), members);
  }
}

void broadcast_from_rank0(Comm& comm, const std::vector<at::Tensor>& tensors) {
  if (comm.world_size() == 1) return;
  at::NoGradGuard no_grad;
  for (const Bucket& b : buckets_of(tensors, 25 << 20)) {
    at::Tensor flat = flatten(b.members);
    comm.broadcast(flat, 0);
    unflatten_into(flat, b.members);
  }
}

}  // namespace mvface::dist
