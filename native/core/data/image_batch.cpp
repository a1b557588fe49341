#include "data/image_batch.h"

#include <ATen/Parallel.h>

#include <string>

#include "data/decode.h"
#include "errors.h"

namespace mvface::data {
namespace {

// HWC uint8 -> CHW float, (x - 127.5) / 128.
void normalise_into(const Image& image, float* out) {
  const int64_t C = image.channels, H = image.height, W = image.width;
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int64_t c = 0; c < C; ++c) out[(c * H + y) * W + x] = (image.pixels[(y * W + x) * C + c] - 127.5f) / 128.0f;
}

at::Tensor normalised(const Image& image) {
  at::Tensor t = at::empty({image.channels, image.height, image.width}, at::kFloat);
  normalise_into(image, t.data_ptr<float>());
  return t;
}

std::string image_name(size_t i) { return "image " + std::to_string(i); }

Image decode_one(const std::vector<std::vector<uint8_t>>& encoded, size_t i, int channels) {
  const std::vector<uint8_t>& bytes = encoded[i];
  return decode_image(bytes.data(), bytes.size(), channels, image_name(i));
}

}  // namespace

at::Tensor decode_image_batch(const std::vector<std::vector<uint8_t>>& encoded, int channels, int64_t size) {
  check_channels(channels);
  if (size < 0 || size > 4096) fail("E_CONFIG", "size", "must be in [0, 4096]");
  if (encoded.empty()) fail("E_SHAPE", "buffers", "no images");
  const Image first = decode_one(encoded, 0, channels);
  const int64_t H = size ? size : first.height, W = size ? size : first.width;
  at::Tensor out = at::empty({static_cast<int64_t>(encoded.size()), channels, H, W}, at::kFloat);
  at::parallel_for(0, static_cast<int64_t>(encoded.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Image image = i == 0 ? first : decode_one(encoded, static_cast<size_t>(i), channels);
      if (image.height == H && image.width == W) {
        normalise_into(image, out.data_ptr<float>() + i * channels * H * W);
      } else if (size) {
        out[i].copy_(at::upsample_bilinear2d(normalised(image).unsqueeze(0), {H, W}, false).squeeze(0));
      } else {
        fail("E_SHAPE", image_name(static_cast<size_t>(i)),
             std::to_string(image.height) + " x " + std::to_string(image.width) + ", the first image is " +
                 std::to_string(H) + " x " + std::to_string(W) + " (pass a size to resize)");
      }
    }
  });
  return out;
}

at::Tensor align_image_batch(const std::vector<std::vector<uint8_t>>& encoded, int channels,
                             const std::vector<Landmarks>& landmarks, int64_t size) {
  check_channels(channels);
  if (size < 8 || size > 4096) fail("E_CONFIG", "size", "must be in [8, 4096]");
  if (encoded.empty()) fail("E_SHAPE", "buffers", "no images");
  if (landmarks.size() != encoded.size())
    fail("E_SHAPE", "landmarks",
         std::to_string(landmarks.size()) + " sets of landmarks for " + std::to_string(encoded.size()) + " images");
  const Landmarks target = arcface_template(size);
  std::vector<Similarity> to_image;
  for (const Landmarks& l : landmarks) to_image.push_back(fit_similarity(l, target).inverse());
  at::Tensor out = at::empty({static_cast<int64_t>(encoded.size()), channels, size, size}, at::kFloat);
  at::parallel_for(0, static_cast<int64_t>(encoded.size()), 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const Image image = decode_one(encoded, static_cast<size_t>(i), channels);
      warp_normalised(image, to_image[i], size, out.data_ptr<float>() + i * channels * size * size);
    }
  });
  return out;
}

}  // namespace mvface::data
