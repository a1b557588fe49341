#pragma once
// Collective communication between training processes on libtorch's c10d: rendezvous through a
// TCPStore (rank 0 hosts it), Gloo for CPU tensors. Set up from torchrun's environment variables.
#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "torch_compat.h"

namespace c10d {
class Store;
}  // namespace c10d

namespace mvface::dist {

using torch_compat::GlooGroup;

struct Rendezvous {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  // Joining, and any one collective (a rank may be busy alone meanwhile: evaluating, writing a
  // checkpoint). PyTorch's default, 30 minutes; MVFACE_DIST_TIMEOUT (seconds) sets it.
  std::chrono::milliseconds timeout{30 * 60 * 1000};
};

// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, MVFACE_DIST_TIMEOUT; E_CONFIG naming the
// variable when one is missing or invalid (WORLD_SIZE unset means a single process).
Rendezvous rendezvous_from_environment();

class Comm {
 public:
  explicit Comm(const Rendezvous& r);
  ~Comm();
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }  // this rank's index on its machine (its GPU)

  void all_reduce_sum(at::Tensor& t);
  // One all-reduce per tensor, all in flight together, then waits for every one.
  void all_reduce_sum_each(std::vector<at::Tensor>& tensors);
  void all_reduce_max(at::Tensor& t);
  // Concatenates every rank's `local` (equal shapes) along dim 0, in rank order.
  at::Tensor all_gather(const at::Tensor& local);
  void broadcast(at::Tensor& t, int root);
  void barrier();

 private:
  int rank_, world_size_, local_rank_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<GlooGroup> group_;
};

}  // namespace mvface::dist
