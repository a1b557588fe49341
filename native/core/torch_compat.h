#pragma once
// What differs between the libtorch releases mvface builds against (1.13 and 2.x), in one place.
#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <type_traits>
#include <utility>

#define MVFACE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace c10d {
class Backend;
class ProcessGroup;
}  // namespace c10d

namespace mvface::torch_compat {

// What ProcessGroupGloo derives from: c10d::ProcessGroup in 1.x, c10d::Backend from 2.0 (a
// ProcessGroup became a front for backends). Both have the collectives mvface uses.
#if TORCH_VERSION_MAJOR >= 2
using GlooGroup = c10d::Backend;
#else
using GlooGroup = c10d::ProcessGroup;
#endif

// Autocast: 2.4 made its state per device type and deprecated the CPU- and CUDA-specific calls.
inline bool autocast_enabled(at::DeviceType d) {
#if MVFACE_TORCH_AT_LEAST(2, 4)
  return at::autocast::is_autocast_enabled(d);
#else
  return d == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

inline at::ScalarType autocast_dtype(at::DeviceType d) {
#if MVFACE_TORCH_AT_LEAST(2, 4)
  return at::autocast::get_autocast_dtype(d);
#else
  return d == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
#endif
}

inline void set_autocast(at::DeviceType d, bool enabled, at::ScalarType dtype) {
#if MVFACE_TORCH_AT_LEAST(2, 4)
  at::autocast::set_autocast_dtype(d, dtype);
  at::autocast::set_autocast_enabled(d, enabled);
#else
  if (d == at::kCUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  }
#endif
}

// TCPStore: 2.4 made libuv its default backend, which some builds lack (Debian's 2.6 among them).
// The classic backend, the only one before 2.2, serves the few keys a rendezvous exchanges.
template <typename Options, typename = void>
struct HasUseLibUV : std::false_type {};
template <typename Options>
struct HasUseLibUV<Options, std::void_t<decltype(std::declval<Options&>().useLibUV)>> : std::true_type {};

template <typename Options>
void use_classic_tcp_store(Options& options) {
  if constexpr (HasUseLibUV<Options>::value) options.useLibUV = false;
}

// CUDA graph capture in thread-local mode (torch.cuda.graph's capture_error_mode="thread_local"):
// other threads may take page-locked memory meanwhile. libtorch 1.13's capture_begin takes no mode.
template <typename Graph, typename Mode>
void capture_begin_thread_local(Graph& graph, Mode thread_local_mode) {
#if TORCH_VERSION_MAJOR >= 2
  graph.capture_begin({0, 0}, thread_local_mode);
#else
  graph.capture_begin();
#endif
}

}  // namespace mvface::torch_compat
