#include "dist/comm.h"

#ifndef MVFACE_NO_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>
#include <string>

#include "errors.h"

namespace mvface::dist {
namespace {

int integer_env(const char* name, int fallback, int lo, int hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end != '\0' || n < lo || n > hi)
    fail(
        "E_CONFIG", name,
        std::string("must be an integer in [") + std::to_string(lo) + ", " + std::to_string(hi) + "], got '" + v + "'");
  return static_cast<int>(n);
}

void wait(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait()) fail("E_NATIVE", "collective", "a collective operation failed");
}

}  // namespace

Rendezvous rendezvous_from_environment() {
  Rendezvous r;
  r.world_size = integer_env("WORLD_SIZE", 1, 1, 1 << 16);
  r.rank = integer_env("RANK", 0, 0, r.world_size - 1);
  r.local_rank = integer_env("LOCAL_RANK", r.rank, 0, r.world_size - 1);
  r.master_port = integer_env("MASTER_PORT", 29500, 1, 65535);
  const int timeout_s =
      integer_env("MVFACE_DIST_TIMEOUT", static_cast<int>(r.timeout.count() / 1000), 1, 7 * 24 * 3600);
  r.timeout = std::chrono::milliseconds(int64_t{timeout_s} * 1000);
  if (const char* addr = std::getenv("MASTER_ADDR"); addr && *addr)
    r.master_addr = addr;
  else if (r.world_size > 1)
    fail("E_CONFIG", "MASTER_ADDR", "must be set when WORLD_SIZE > 1");
  return r;
}

Comm::Comm(const Rendezvous& r) : rank_(r.rank), world_size_(r.world_size), local_rank_(r.local_rank) {
#ifdef MVFACE_NO_GLOO
  fail("E_CONFIG", "processGroup",
       "this build of mvface has no Gloo (its libtorch came without gloo headers): multi-process training is "
       "not available; install libgloo-dev (or build against a libtorch with them) and rebuild");
#else
  c10d::TCPStoreOptions options;
  options.port = static_cast<std::uint16_t>(r.master_port);
  options.isServer = r.rank == 0;
  options.numWorkers = r.world_size;
  options.timeout = r.timeout;
  torch_compat::use_classic_tcp_store(options);
  try {
    store_ = c10::make_intrusive<c10d::TCPStore>(r.master_addr, options);
    auto gloo = c10d::ProcessGroupGloo::Options::create(r.timeout);
    gloo->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(r.master_addr));
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, r.rank, r.world_size, gloo);
  } catch (const std::exception& e) {
    fail("E_IO", "rendezvous",
         "rank " + std::to_string(r.rank) + " of " + std::to_string(r.world_size) + " could not join " + r.master_addr +
             ":" + std::to_string(r.master_port) + ": " + e.what());
  }
#endif
}

Comm::~Comm() = default;

void Comm::all_reduce_sum(at::Tensor& t) {
  std::vector<at::Tensor> ts{t};
  wait(group_->allreduce(ts, c10d::AllreduceOptions{c10d::ReduceOp::SUM}));
}

void Comm::all_reduce_sum_each(std::vector<at::Tensor>& tensors) {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    works.push_back(group_->allreduce(one, c10d::AllreduceOptions{c10d::ReduceOp::SUM}));
  }
  for (auto& w : works) wait(w);
}

void Comm::all_reduce_max(at::Tensor& t) {
  std::vector<at::Tensor> ts{t};
  wait(group_->allreduce(ts, c10d::AllreduceOptions{c10d::ReduceOp::MAX}));
}

at::Tensor Comm::all_gather(const at::Tensor& local) {
  std::vector<at::Tensor> input{local.contiguous()};
  std::vector<std::vector<at::Tensor>> output(1);
  for (int i = 0; i < world_size_; ++i) output[0].push_back(at::empty_like(input[0]));
  wait(group_->allgather(output, input));
  return at::cat(output[0], 0);
}

void Comm::broadcast(at::Tensor& t, int root) {
  std::vector<at::Tensor> ts{t};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  wait(group_->broadcast(ts, options));
}

void Comm::barrier() { wait(group_->barrier()); }

}  // namespace mvface::dist
