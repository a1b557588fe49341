#pragma once
// Encoded images (JPEG/PNG bytes in memory) -> one N x C x H x W float32 tensor, normalised like the
// loader: (x - 127.5) / 128. Used by evaluation sets (InsightFace .bin, LFW pairs).
#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "data/align.h"

namespace mvface::data {

// size > 0: every image is resized (bilinear) to size x size. size == 0: every image must have the
// size of the first, else E_SHAPE naming the image. A corrupt image: E_IO naming "image <i>".
// Decodes in parallel on ATen's intra-op threads.
at::Tensor decode_image_batch(const std::vector<std::vector<uint8_t>>& encoded, int channels, int64_t size);

// Each image warped to a size x size face aligned to the ArcFace template by its five landmarks
// (image i's are landmarks[i]); N x C x size x size, normalised as above.
at::Tensor align_image_batch(const std::vector<std::vector<uint8_t>>& encoded, int channels,
                             const std::vector<Landmarks>& landmarks, int64_t size);

}  // namespace mvface::data
