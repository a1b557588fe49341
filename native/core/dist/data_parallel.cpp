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
    const bool fits = open && open->bytes + bytes <= bucket_bytes && open->members[0].scalar_type() == t.scalar_type() &&
                      open->members[0].device() == t.device();
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

void average_over_ranks(Comm& comm, const std::vector<at::Tensor>& tensors, int64_t bucket_bytes) {
  if (comm.world_size() == 1) return;
  at::NoGradGuard no_grad;
  std::vector<Bucket> buckets = buckets_of(tensors, bucket_bytes);
  std::vector<at::Tensor> flats;
  for (const Bucket& b : buckets) flats.push_back(flatten(b.members));
  comm.all_reduce_sum_each(flats);
  for (size_t i = 0; i < buckets.size(); ++i) unflatten_into(flats[i].div_(comm.world_size()), buckets[i].members);
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
