#pragma once
// Runs the CUDA kernels of native/core/cuda on the CPU, for tests on machines without a GPU. Each
// CUDA thread of a block is a fiber (ucontext) on the calling thread; blocks run one after another;
// __syncthreads() and warp shuffles are barriers at which a fiber yields until its block or warp
// has arrived; __shared__ is static storage (one block at a time). Include before the kernels.
#include <cuda_runtime_api.h>
#include <ucontext.h>
#include <vector_functions.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

namespace emulation {

struct Barrier {
  unsigned count = 0, arrived = 0, generation = 0;
};

struct Fiber {
  ucontext_t context;
  std::vector<char> stack = std::vector<char>(256 << 10);
  bool done = false;
};

struct Block {
  ucontext_t scheduler;
  std::vector<Fiber> fibers;
  unsigned current = 0;
  Barrier all;
  std::vector<Barrier> warps;
  std::vector<uint64_t> lanes;  // one shuffle slot per thread
  const std::function<void()>* kernel = nullptr;
};

inline Block block;

inline void yield() { swapcontext(&block.fibers[block.current].context, &block.scheduler); }

inline void arrive_and_wait(Barrier& b) {
  const unsigned generation = b.generation;
  if (++b.arrived == b.count) {
    b.arrived = 0;
    ++b.generation;
    return;
  }
  while (b.generation == generation) yield();
}

inline void fiber_main() {
  (*block.kernel)();
  block.fibers[block.current].done = true;
}  // returns to uc_link: the scheduler

inline void start_fibers(unsigned threads) {
  block.all = {threads, 0, 0};
  block.warps.assign((threads + 31) / 32, Barrier{32, 0, 0});
  for (Fiber& f : block.fibers) {
    f.done = false;
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = f.stack.data();
    f.context.uc_stack.ss_size = f.stack.size();
    f.context.uc_link = &block.scheduler;
    makecontext(&f.context, fiber_main, 0);
  }
}

// kernel() in each of `threads` threads of each of `grid` blocks, as <<<grid, threads>>>.
// `threads` is a multiple of 32, as in every launch of the kernels emulated.
inline void launch(unsigned grid, unsigned threads, const std::function<void()>& kernel) {
  block.kernel = &kernel;
  block.fibers.resize(threads);
  block.lanes.assign(threads, 0);
  blockDim = dim3(threads);
  gridDim = dim3(grid);
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx = {b, 0, 0};
    start_fibers(threads);
    for (bool running = true; running;) {
      running = false;
      for (unsigned t = 0; t < threads; ++t) {
        if (block.fibers[t].done) continue;
        running = true;
        block.current = t;
        threadIdx = {t, 0, 0};
        swapcontext(&block.scheduler, &block.fibers[t].context);
      }
    }
  }
}

}  // namespace emulation

inline void __syncthreads() { emulation::arrive_and_wait(emulation::block.all); }

template <typename T>
T __shfl_xor_sync(unsigned, T v, int offset) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "a register-sized value");
  emulation::Block& b = emulation::block;
  const unsigned t = threadIdx.x, warp = t / 32, source = warp * 32 + ((t & 31) ^ static_cast<unsigned>(offset));
  std::memcpy(&b.lanes[t], &v, sizeof v);
  emulation::arrive_and_wait(b.warps[warp]);
  T other;
  std::memcpy(&other, &b.lanes[source], sizeof other);
  emulation::arrive_and_wait(b.warps[warp]);
  return other;
}

template <typename T>
T __ldg(const T* p) {
  return *p;
}
