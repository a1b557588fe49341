#pragma once
// Data sets as random-access sources of decoded images (uint8, HWC) and integer labels.
// Sources are read from several threads at once: load() and label() must be thread-safe.
// A corrupt or unreadable item throws mvface::Error E_IO naming the file or record.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mvface::data {

struct Shape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t pixels() const { return channels * height * width; }
};

struct Sample {
  std::vector<uint8_t> pixels;  // height x width x channels
  int64_t label = 0;
};

class Source {
 public:
  virtual ~Source() = default;
  virtual int64_t size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual Shape shape() const = 0;
  virtual int64_t label(int64_t i) const = 0;
  virtual Sample load(int64_t i) const = 0;
};

// The classes in [0, num_classes()) that no image carries: gaps in the labels (an IDX set's classes
// are its largest label + 1, so one stray label adds classes without images).
int64_t classes_without_images(const Source& source);

// MNIST-style IDX files (images idx3 ubyte, labels idx1 ubyte), gzipped or plain; read into memory.
std::shared_ptr<Source> open_idx(const std::string& images, const std::string& labels);

// root/<identity>/<image>.{jpg,jpeg,png}: classes are the folders sorted by name. Every image must
// decode to the size of the first one; `channels` is 1 (grey) or 3 (RGB).
std::shared_ptr<Source> open_image_folder(const std::string& root, int channels);

// InsightFace RecordIO: folder/train.rec, folder/train.idx and optionally folder/property.
std::shared_ptr<Source> open_recordio(const std::string& folder, int channels);

// Every field is given by the caller (TypeScript resolves the defaults).
struct SyntheticSpec {
  int64_t classes = 0, per_class = 0;
  int64_t height = 0, width = 0, channels = 0;
  uint64_t seed = 0;
};

// N classes x K images, each class a seeded pattern, each image a seeded variation of it.
std::shared_ptr<Source> make_synthetic(const SyntheticSpec& spec);

}  // namespace mvface::data
