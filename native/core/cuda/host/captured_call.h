#pragma once
// One CUDA graph around a callable, PyTorch's recipe for capturing a whole training step: the first
// `warmup_runs` calls run it eagerly on a side stream (cuBLAS, cuDNN and autograd set themselves up
// there), the next call captures it on that stream and replays the graph, and every later call only
// replays. The callable must read nothing back to the host and must read and write tensors that
// outlive the graph (static inputs written before each run, outputs read after it). The caller's
// stream and the side stream are ordered both ways by events. Built only with a CUDA libtorch; the
// header itself needs no CUDA.
#include <functional>
#include <memory>

namespace mvface::cuda {

class CapturedCall {
 public:
  CapturedCall(int device, int warmup_runs);
  ~CapturedCall();
  CapturedCall(const CapturedCall&) = delete;
  CapturedCall& operator=(const CapturedCall&) = delete;

  void run(const std::function<void()>& body);
  bool captured() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace mvface::cuda
