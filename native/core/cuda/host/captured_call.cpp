#include "cuda/host/captured_call.h"

#include <ATen/autocast_mode.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/core/Event.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "torch_compat.h"

namespace mvface::cuda {
namespace {

// `waiting` runs nothing more until `done` has finished what is queued on it now.
void order(const c10::cuda::CUDAStream& done, const c10::cuda::CUDAStream& waiting) {
  // c10's event rather than ATen/cuda/CUDAEvent.h, whose CUDAContext.h needs the cuSPARSE headers.
  c10::Event event(c10::DeviceType::CUDA);
  event.record(done.unwrap());
  event.block(waiting.unwrap());
}

// Autocast's cache of cast weights is off while capturing (as torch.cuda.graph asks): a cached cast
// made inside the capture would outlive it.
class AutocastCacheOff {
 public:
  AutocastCacheOff() : was_(at::autocast::is_autocast_cache_enabled()) {
    at::autocast::set_autocast_cache_enabled(false);
  }
  ~AutocastCacheOff() { at::autocast::set_autocast_cache_enabled(was_); }

 private:
  bool was_;
};

}  // namespace

struct CapturedCall::State {
  State(int device, int warmup)
      : device(device),
        warmup(warmup),
        stream(c10::cuda::getStreamFromPool(false, static_cast<c10::DeviceIndex>(device))) {}

  void capture(const std::function<void()>& body) {
    c10::cuda::device_synchronize();  // nothing else in flight while the capture starts (as torch.cuda.graph)
    const AutocastCacheOff no_cache;
    // Thread-local: the loader's threads may take page-locked memory from libtorch's host allocator
    // meanwhile. This thread makes no such call while capturing.
    torch_compat::capture_begin_thread_local(graph, cudaStreamCaptureModeThreadLocal);
    try {
      body();
    } catch (...) {
      try {
        graph.capture_end();
      } catch (...) {}
      graph.reset();
      throw;
    }
    graph.capture_end();
    captured = true;
  }

  const int device;
  const int warmup;
  int runs = 0;
  bool captured = false;
  c10::cuda::CUDAStream stream;
  at::cuda::CUDAGraph graph;
};

CapturedCall::CapturedCall(int device, int warmup_runs) : state_(std::make_unique<State>(device, warmup_runs)) {}
CapturedCall::~CapturedCall() = default;

bool CapturedCall::captured() const { return state_->captured; }

void CapturedCall::run(const std::function<void()>& body) {
  State& s = *state_;
  const c10::cuda::CUDAGuard device_guard(static_cast<c10::DeviceIndex>(s.device));
  const c10::cuda::CUDAStream caller = c10::cuda::getCurrentCUDAStream(static_cast<c10::DeviceIndex>(s.device));
  order(caller, s.stream);
  {
    const c10::cuda::CUDAStreamGuard on_side(s.stream);
    if (!s.captured && s.runs < s.warmup) {
      body();
    } else {
      if (!s.captured) s.capture(body);
      s.graph.replay();
    }
  }
  order(s.stream, caller);
  ++s.runs;
}

}  // namespace mvface::cuda
