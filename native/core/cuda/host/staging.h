#pragma once
// Host -> device transfer of a training batch: the images and labels, in page-locked (pinned)
// memory (copied there first unless the loader wrote them there: LoaderOptions::pinned), are sent
// with non_blocking copies on a side stream, so that the copy overlaps with whatever the compute
// stream still runs (the previous step's backward and update); the compute stream then waits for
// the copy through an event. Only in CUDA builds.
#include <ATen/ATen.h>

namespace mvface::cuda {

struct DeviceBatch {
  at::Tensor images, labels;
};

// `images` and `labels` are CPU tensors; the result lives on `device` and is safe to use on the
// device's current stream.
DeviceBatch stage_batch(const at::Tensor& images, const at::Tensor& labels, at::Device device);

}  // namespace mvface::cuda
