// MNIST-style IDX: magic 0x00 0x00 <type 0x08 = ubyte> <ndims>, ndims big-endian u32 sizes, data.
#include <algorithm>

#include "data/decode.h"
#include "data/source.h"
#include "errors.h"

namespace mvface::data {
namespace {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> bytes;  // the whole file; data starts at `offset`
  size_t offset = 0;
  const uint8_t* data() const { return bytes.data() + offset; }
};

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

IdxArray read_idx(const std::string& path) {
  IdxArray a;
  a.bytes = maybe_gunzip(read_file(path), path);
  const auto& b = a.bytes;
  if (b.size() < 4 || b[0] != 0 || b[1] != 0) fail("E_IO", path, "not an IDX file (bad magic)");
  if (b[2] != 0x08) fail("E_IO", path, "unsupported IDX element type (only unsigned bytes, 0x08)");
  const size_t ndims = b[3];
  a.offset = 4 + 4 * ndims;
  if (ndims == 0 || b.size() < a.offset) fail("E_IO", path, "truncated IDX header");
  size_t count = 1;
  for (size_t d = 0; d < ndims; ++d) {
    a.dims.push_back(big_endian_u32(&b[4 + 4 * d]));
    count *= static_cast<size_t>(a.dims.back());
  }
  if (b.size() - a.offset < count)
    fail("E_IO", path, "truncated: the header promises " + std::to_string(count) + " bytes of data");
  return a;
}

class IdxSource : public Source {
 public:
  IdxSource(const std::string& images_path, const std::string& labels_path)
      : images_(read_idx(images_path)), labels_(read_idx(labels_path)) {
    const auto& d = images_.dims;
    if (d.size() != 3 && !(d.size() == 4 && (d[3] == 1 || d[3] == 3)))
      fail("E_IO", images_path, "expected images of shape N x H x W or N x H x W x C (C = 1 or 3)");
    shape_ = {d.size() == 4 ? d[3] : 1, d[1], d[2]};
    if (labels_.dims.size() != 1) fail("E_IO", labels_path, "expected a 1-dimensional label file");
    if (labels_.dims[0] != d[0])
      fail("E_IO", labels_path,
           std::to_string(labels_.dims[0]) + " labels for " + std::to_string(d[0]) + " images in " + images_path);
    const uint8_t* l = labels_.data();
    num_classes_ = d[0] == 0 ? 0 : *std::max_element(l, l + d[0]) + 1;
  }

  int64_t size() const override { return images_.dims[0]; }
  int64_t num_classes() const override { return num_classes_; }
  Shape shape() const override { return shape_; }
  int64_t label(int64_t i) const override { return labels_.data()[i]; }

  Sample load(int64_t i) const override {
    const uint8_t* begin = images_.data() + i * shape_.pixels();
    return {std::vector<uint8_t>(begin, begin + shape_.pixels()), label(i)};
  }

 private:
  IdxArray images_, labels_;
  Shape shape_;
  int64_t num_classes_ = 0;
};

}  // namespace

std::shared_ptr<Source> open_idx(const std::string& images, const std::string& labels) {
  return std::make_shared<IdxSource>(images, labels);
}

}  // namespace mvface::data
