#pragma once
// Runs the CUDA kernels of native/core/cuda on the CPU, for tests on machines without a GPU, and
// fails loudly on what a GPU would let pass silently. Each CUDA thread of a block is a fiber on the
// calling thread (started with ucontext, switched with __builtin_setjmp/__builtin_longjmp: no
// system call per switch); blocks run one after another; __shared__ is static storage (one block at
// a time). Include before the kernels.
//
// Scheduling: a fiber runs until it reaches a barrier (__syncthreads(), a warp shuffle) or ends
// the kernel. Each round resumes the fibers that may run, in the order of use_order(): thread-index
// order, reversed, or a seeded shuffle drawn afresh for every round (so every barrier generation
// starts its threads in a new order); the blocks of a launch run in the same kind of order. A race
// between threads with no barrier between them then gives wrong values under one order or another.
//
// Checked; a failure prints the block, the threads and file:line, then aborts:
//   - __syncthreads(): all the block's threads arrive from one call site (not from two branches),
//     and no thread ends the kernel while others wait at a barrier;
//   - __shfl_xor_sync(mask, v, offset): the caller and the lane it reads are in the mask; every
//     lane of the mask arrives from one call site with the same mask, none having ended or waiting
//     elsewhere; lanes outside the mask take no part (disjoint masks may shuffle side by side);
//   - vector accesses (vector_cast() of cuda/vector_cast.cuh) and __ldg: the address is aligned to
//     the access's size;
//   - a block whose every unfinished thread waits at a barrier that cannot complete: a deadlock.
//
// Orders: orders() reads MVFACE_EMULATION_ORDERS, a comma-separated list of forward, reverse and
// shuffle:SEED (default forward,reverse,shuffle:1,shuffle:2); the check programs run each case
// under each of them.
#include <cuda_runtime_api.h>
#include <ucontext.h>
#include <vector_functions.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <numeric>
#include <random>
#include <source_location>
#include <string>
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

// The order in which a round resumes a block's fibers, and a launch runs its blocks.
struct Order {
  enum class Kind { Forward, Reverse, Shuffle } kind = Kind::Forward;
  unsigned seed = 0;

  std::string name() const {
    if (kind == Kind::Forward) return "forward";
    if (kind == Kind::Reverse) return "reverse";
    return "shuffle:" + std::to_string(seed);
  }
};

inline Order parse_order(const std::string& word) {
  if (word == "forward") return {Order::Kind::Forward, 0};
  if (word == "reverse") return {Order::Kind::Reverse, 0};
  if (word.rfind("shuffle:", 0) == 0 && word.size() > 8 && word.find_first_not_of("0123456789", 8) == std::string::npos)
    return {Order::Kind::Shuffle, static_cast<unsigned>(std::stoul(word.substr(8)))};
  std::fprintf(stderr, "emulation: MVFACE_EMULATION_ORDERS: '%s' is not forward, reverse or shuffle:SEED\n",
               word.c_str());
  std::exit(2);
}

inline std::vector<Order> orders() {
  const char* set = std::getenv("MVFACE_EMULATION_ORDERS");
  const std::string list = set && *set ? set : "forward,reverse,shuffle:1,shuffle:2";
  std::vector<Order> parsed;
  for (size_t begin = 0; begin <= list.size();) {
    const size_t end = std::min(list.find(',', begin), list.size());
    parsed.push_back(parse_order(list.substr(begin, end - begin)));
    begin = end + 1;
  }
  return parsed;
}

enum class State { Runnable, AtBarrier, AtShuffle, Done };

struct Fiber {
  static constexpr size_t kStackBytes = 256 << 10;
  void* resume_point[5];  // __builtin_setjmp's buffer: where the fiber last yielded
  ucontext_t start;       // its first entry, into fiber_main()
  std::unique_ptr<char[]> stack = std::make_unique<char[]>(kStackBytes);
  bool started = false;
  State state = State::Runnable;
};

// One generation of __syncthreads(): the threads arrived, and the first one and where it was.
struct BlockBarrier {
  unsigned arrived = 0, first = 0;
  std::source_location site;
};

// The lanes of a warp at one shuffle (one call site, one mask), waiting for the rest of the mask.
struct ShuffleGroup {
  uint32_t mask = 0, arrived = 0;
  unsigned first = 0;
  std::source_location site;
};

struct Warp {
  uint32_t ended = 0;                  // lanes that have ended the kernel
  std::vector<ShuffleGroup> shuffles;  // in flight: disjoint masks, or the warp deadlocks
  uint64_t value[32], result[32];      // each lane's value, and the one it read
  unsigned source[32];                 // the lane each lane reads
};

struct Block {
  void* scheduler[5];                          // __builtin_setjmp's buffer in resume()
  std::vector<std::unique_ptr<Fiber>> fibers;  // grown as launches need, reused by every block
  unsigned threads = 0, current = 0, ended = 0, first_ended = 0;
  BlockBarrier barrier;
  std::vector<Warp> warps;
  std::vector<unsigned> round;  // the fibers this round resumes, in order
  const std::function<void()>* kernel = nullptr;
  Order order;
  std::mt19937 random;
};

inline Block block;

// Runs the kernels that follow under `order`, its shuffles seeded afresh.
inline void use_order(const Order& order) {
  block.order = order;
  block.random.seed(order.seed);
}

[[noreturn, gnu::format(printf, 1, 2)]] inline void fail(const char* pattern, ...) {
  char text[2048];
  va_list args;
  va_start(args, pattern);
  std::vsnprintf(text, sizeof text, pattern, args);
  va_end(args);
  std::fflush(stdout);
  std::fprintf(stderr, "emulation: %s (block %u of %u, thread order %s)\n", text, blockIdx.x, gridDim.x,
               block.order.name().c_str());
  std::abort();
}

// file:line:column
inline std::string at(const std::source_location& s) {
  return std::string(s.file_name()) + ":" + std::to_string(s.line()) + ":" + std::to_string(s.column());
}

inline bool same_site(const std::source_location& a, const std::source_location& b) {
  return a.line() == b.line() && a.column() == b.column() && std::strcmp(a.file_name(), b.file_name()) == 0;
}

inline Fiber& current() { return *block.fibers[block.current]; }

[[gnu::noinline]] inline void jump(void** to) { __builtin_longjmp(to, 1); }

// To the scheduler; returns when it resumes this fiber.
[[gnu::noinline]] inline void yield() {
  if (__builtin_setjmp(current().resume_point) == 0) jump(block.scheduler);
}

// Runs fiber t until it yields.
[[gnu::noinline]] inline void resume(unsigned t) {
  block.current = t;
  threadIdx = {t, 0, 0};
  Fiber& f = *block.fibers[t];
  if (__builtin_setjmp(block.scheduler) == 0) {
    if (f.started) jump(f.resume_point);
    f.started = true;
    setcontext(&f.start);
  }
}

// The shuffle in flight in the caller's warp whose mask names the caller, if any.
inline const ShuffleGroup* shuffle_naming(unsigned t) {
  for (const ShuffleGroup& g : block.warps[t / 32].shuffles)
    if (g.mask >> (t & 31) & 1) return &g;
  return nullptr;
}

inline void end_thread() {
  const unsigned t = threadIdx.x;
  const BlockBarrier& b = block.barrier;
  if (b.arrived)
    fail("thread %u ended the kernel while %u thread(s) wait at __syncthreads() %s (thread %u first)", t, b.arrived,
         at(b.site).c_str(), b.first);
  if (const ShuffleGroup* g = shuffle_naming(t))
    fail("lane %u of warp %u ended the kernel while lanes %#x wait for it at __shfl_xor_sync %s (mask %#x)", t & 31,
         t / 32, g->arrived, at(g->site).c_str(), g->mask);
  block.warps[t / 32].ended |= 1u << (t & 31);
  if (block.ended++ == 0) block.first_ended = t;
  current().state = State::Done;
  yield();
}

// The kernel in every block a launch gives this fiber; the fibers outlive launches.
inline void fiber_main() {
  for (;;) {
    (*block.kernel)();
    end_thread();
  }
}

inline void add_fiber() {
  auto f = std::make_unique<Fiber>();
  getcontext(&f->start);
  f->start.uc_stack.ss_sp = f->stack.get();
  f->start.uc_stack.ss_size = Fiber::kStackBytes;
  f->start.uc_link = nullptr;  // fiber_main() never returns
  makecontext(&f->start, fiber_main, 0);
  block.fibers.push_back(std::move(f));
}

inline void arrange(std::vector<unsigned>& items) {
  if (block.order.kind == Order::Kind::Reverse) std::reverse(items.begin(), items.end());
  if (block.order.kind == Order::Kind::Shuffle) std::shuffle(items.begin(), items.end(), block.random);
}

[[noreturn]] inline void fail_deadlock() {
  std::string waits;
  const BlockBarrier& b = block.barrier;
  if (b.arrived) waits += " " + std::to_string(b.arrived) + " thread(s) at __syncthreads() " + at(b.site) + ";";
  for (size_t w = 0; w < block.warps.size(); ++w) {
    for (const ShuffleGroup& g : block.warps[w].shuffles) {
      char lanes[64];
      std::snprintf(lanes, sizeof lanes, "lanes %#x of mask %#x", g.arrived, g.mask);
      waits += " warp " + std::to_string(w) + ": " + lanes + " at __shfl_xor_sync " + at(g.site) + ";";
    }
  }
  fail("deadlock: %u of %u threads ended, the rest wait:%s", block.ended, block.threads, waits.c_str());
}

// The block's fibers from the kernel's start to its end, round by round.
inline void run_block() {
  block.ended = 0;
  block.barrier = {};
  for (Warp& w : block.warps) {
    w.ended = 0;
    w.shuffles.clear();
  }
  for (unsigned t = 0; t < block.threads; ++t) block.fibers[t]->state = State::Runnable;
  while (block.ended < block.threads) {
    block.round.clear();
    for (unsigned t = 0; t < block.threads; ++t)
      if (block.fibers[t]->state == State::Runnable) block.round.push_back(t);
    if (block.round.empty()) fail_deadlock();
    arrange(block.round);
    for (const unsigned t : block.round) resume(t);
  }
}

// kernel() in each of `threads` threads of each of `grid` blocks, as <<<grid, threads>>>.
inline void launch(unsigned grid, unsigned threads, const std::function<void()>& kernel) {
  if (threads == 0 || threads % 32 || threads > 1024)
    fail("a launch of %u threads per block: whole warps only", threads);
  while (block.fibers.size() < threads) add_fiber();
  block.kernel = &kernel;
  block.threads = threads;
  block.warps.resize(threads / 32);
  blockDim = dim3(threads);
  gridDim = dim3(grid);
  std::vector<unsigned> blocks(grid);
  std::iota(blocks.begin(), blocks.end(), 0u);
  arrange(blocks);
  for (const unsigned b : blocks) {
    blockIdx = {b, 0, 0};
    run_block();
  }
}

inline void check_barrier(const BlockBarrier& b, const std::source_location& where) {
  const unsigned t = threadIdx.x;
  if (block.ended)
    fail("thread %u at __syncthreads() %s after %u thread(s) of its block ended the kernel (thread %u first)", t,
         at(where).c_str(), block.ended, block.first_ended);
  if (b.arrived && !same_site(b.site, where))
    fail("__syncthreads() from two call sites: thread %u at %s, thread %u at %s", b.first, at(b.site).c_str(), t,
         at(where).c_str());
  if (const ShuffleGroup* g = shuffle_naming(t))
    fail("thread %u at __syncthreads() %s while lanes %#x of its warp wait for it at __shfl_xor_sync %s", t,
         at(where).c_str(), g->arrived, at(g->site).c_str());
}

inline void sync_block(const std::source_location& where) {
  BlockBarrier& b = block.barrier;
  check_barrier(b, where);
  if (b.arrived == 0) {
    b.site = where;
    b.first = threadIdx.x;
  }
  current().state = State::AtBarrier;
  if (++b.arrived == block.threads) {
    b.arrived = 0;
    for (unsigned u = 0; u < block.threads; ++u) block.fibers[u]->state = State::Runnable;
  }
  yield();
}

// Fails unless every lane of the mask may arrive: the caller and its source are in it, and none of
// its lanes has ended or waits at __syncthreads().
inline void check_mask(const Warp& warp, uint32_t mask, unsigned lane, unsigned source,
                       const std::source_location& where) {
  const unsigned w = threadIdx.x / 32;
  if (!(mask >> lane & 1))
    fail("lane %u of warp %u at __shfl_xor_sync %s is outside its mask %#x", lane, w, at(where).c_str(), mask);
  if (!(mask >> source & 1))
    fail("lane %u of warp %u at __shfl_xor_sync %s reads lane %u, outside the mask %#x", lane, w, at(where).c_str(),
         source, mask);
  if (mask & warp.ended)
    fail("lane %u of warp %u at __shfl_xor_sync %s waits for lanes %#x of its mask %#x, which ended the kernel", lane,
         w, at(where).c_str(), mask & warp.ended, mask);
  for (unsigned l = 0; l < 32 && block.barrier.arrived; ++l)
    if ((mask >> l & 1) && block.fibers[w * 32 + l]->state == State::AtBarrier)
      fail("lane %u of warp %u at __shfl_xor_sync %s waits for lane %u, which waits at __syncthreads() %s", lane, w,
           at(where).c_str(), l, at(block.barrier.site).c_str());
}

// The caller's group (call site and mask), new or in flight; fails where it and a group in flight
// wait for each other, or share the site with overlapping masks.
inline ShuffleGroup& join_shuffle(Warp& warp, uint32_t mask, unsigned lane, const std::source_location& where) {
  const unsigned w = threadIdx.x / 32;
  ShuffleGroup* joined = nullptr;
  for (ShuffleGroup& g : warp.shuffles) {
    if (same_site(g.site, where) && g.mask == mask)
      joined = &g;
    else if ((g.mask >> lane & 1) && (g.arrived & mask))
      fail("warp %u shuffles at two call sites: lanes %#x at %s (mask %#x) wait for lane %u at %s (mask %#x)", w,
           g.arrived, at(g.site).c_str(), g.mask, lane, at(where).c_str(), mask);
    else if (same_site(g.site, where) && (g.mask & mask))
      fail("warp %u at __shfl_xor_sync %s with two masks: lane %u %#x, lane %u %#x", w, at(where).c_str(), g.first,
           g.mask, lane, mask);
  }
  if (joined) return *joined;
  warp.shuffles.push_back({mask, 0, lane, where});
  return warp.shuffles.back();
}

// Every lane of a complete group reads its source; the group leaves the warp's shuffles.
inline void complete_shuffle(Warp& warp, const ShuffleGroup& g) {
  const unsigned base = threadIdx.x / 32 * 32;
  for (unsigned l = 0; l < 32; ++l) {
    if (!(g.mask >> l & 1)) continue;
    warp.result[l] = warp.value[warp.source[l]];
    block.fibers[base + l]->state = State::Runnable;
  }
  warp.shuffles.erase(warp.shuffles.begin() + (&g - warp.shuffles.data()));
}

// The value of lane `lane ^ offset` once every lane of the mask has arrived.
inline uint64_t shuffle_xor(uint32_t mask, uint64_t value, int offset, int width, const std::source_location& where) {
  const unsigned t = threadIdx.x, lane = t & 31;
  if (width != 32 || offset < 0 || offset > 31)
    fail("__shfl_xor_sync %s: offset %d, width %d (emulated: offsets 0 to 31 over 32 lanes)", at(where).c_str(), offset,
         width);
  Warp& warp = block.warps[t / 32];
  const unsigned source = lane ^ static_cast<unsigned>(offset);
  check_mask(warp, mask, lane, source, where);
  ShuffleGroup& g = join_shuffle(warp, mask, lane, where);
  warp.value[lane] = value;
  warp.source[lane] = source;
  g.arrived |= 1u << lane;
  current().state = State::AtShuffle;
  if (g.arrived == g.mask) complete_shuffle(warp, g);
  yield();
  return warp.result[lane];
}

inline void check_aligned(const void* p, size_t bytes, const std::source_location& where) {
  if (reinterpret_cast<uintptr_t>(p) % bytes)
    fail("thread %u: a %zu-byte access at %p, not aligned to its size, at %s", threadIdx.x, bytes, p,
         at(where).c_str());
}

}  // namespace emulation

inline void __syncthreads(std::source_location where = std::source_location::current()) {
  emulation::sync_block(where);
}

template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int offset, int width = 32,
                  std::source_location where = std::source_location::current()) {
  static_assert(sizeof(T) <= sizeof(uint64_t), "a register-sized value");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof v);
  bits = emulation::shuffle_xor(mask, bits, offset, width, where);
  T other;
  std::memcpy(&other, &bits, sizeof other);
  return other;
}

template <typename T>
T __ldg(const T* p, std::source_location where = std::source_location::current()) {
  emulation::check_aligned(p, sizeof(T), where);
  return *p;
}
