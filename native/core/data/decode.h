#pragma once
// File reading, gzip and JPEG/PNG decoding for the sources. No ATen here.
#include <cstdint>
#include <string>
#include <vector>

namespace mvface::data {

struct Image {
  int64_t height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // height x width x channels
};

// Throws E_IO naming `path` when it is missing or unreadable.
std::vector<uint8_t> read_file(const std::string& path);

// Inflates `bytes` when they start with the gzip magic; returns them unchanged otherwise.
std::vector<uint8_t> maybe_gunzip(std::vector<uint8_t> bytes, const std::string& name);

// Decodes JPEG or PNG (detected by magic bytes) to `channels` (1 or 3) channels.
// Throws E_IO naming `name` when the bytes are not a complete, valid image.
Image decode_image(const uint8_t* bytes, size_t size, int channels, const std::string& name);

// Throws E_CONFIG unless channels is 1 or 3.
void check_channels(int64_t channels);

}  // namespace mvface::data
