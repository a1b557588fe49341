#pragma once
// Batches generated where the model trains, for pure compute benchmarks: uniform images in the
// loader's value range [-1, 1) and uniform labels, drawn on the device (no host work, no copy).
#include <ATen/ATen.h>

#include "backbones/backbone.h"
#include "data/loader.h"

namespace mvface::train {

// E_CONFIG (argument "batchSize") unless batch_size >= 1.
data::Batch device_synthetic_batch(const backbones::BackboneOptions& backbone, int64_t num_classes, int64_t batch_size,
                                   at::Device device, int64_t index);

}  // namespace mvface::train
