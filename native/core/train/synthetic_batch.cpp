#include "train/synthetic_batch.h"

#include "errors.h"

namespace mvface::train {

data::Batch device_synthetic_batch(const backbones::BackboneOptions& backbone, int64_t num_classes, int64_t batch_size,
                                   at::Device device, int64_t index) {
  if (batch_size < 1) fail("E_CONFIG", "batchSize", "must be an integer >= 1");
  const at::TensorOptions on = at::TensorOptions().device(device);
  data::Batch b;
  b.images =
      at::empty({batch_size, backbone.in_channels, backbone.input_size, backbone.input_size}, on.dtype(at::kFloat))
          .uniform_(-1, 1);
  b.labels = at::randint(num_classes, {batch_size}, on.dtype(at::kLong));
  b.index = index;
  return b;
}

}  // namespace mvface::train
