// root/<identity>/<image>.{jpg,jpeg,png}; identities sorted by folder name, images by file name.
#include <algorithm>
#include <filesystem>

#include "data/decode.h"
#include "data/source.h"
#include "errors.h"

namespace mvface::data {
namespace {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories) {
  std::vector<fs::path> out;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (directories ? entry.is_directory() : (entry.is_regular_file() && is_image_file(entry.path())))
      out.push_back(entry.path());
  }
  if (error) fail("E_IO", dir.string(), "cannot list the folder: " + error.message());
  std::sort(out.begin(), out.end());
  return out;
}

class ImageFolderSource : public Source {
 public:
  ImageFolderSource(const std::string& root, int channels) {
    check_channels(channels);
    if (!fs::is_directory(root)) fail("E_IO", root, "not a folder (expected root/<identity>/<image>.jpg)");
    std::vector<fs::path> classes = sorted_entries(root, true);
    for (size_t c = 0; c < classes.size(); ++c) {
      for (auto& file : sorted_entries(classes[c], false)) {
        files_.push_back(file.string());
        labels_.push_back(static_cast<int64_t>(c));
      }
    }
    if (files_.empty()) fail("E_IO", root, "no .jpg, .jpeg or .png images in its sub-folders");
    num_classes_ = static_cast<int64_t>(classes.size());
    shape_ = probe_shape(channels);
  }

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  Shape shape() const override { return shape_; }
  int64_t label(int64_t i) const override { return labels_[i]; }

  Sample load(int64_t i) const override {
    Image image = decode(i, shape_.channels);
    if (image.height != shape_.height || image.width != shape_.width) {
      fail("E_SHAPE", files_[i],
           "is " + std::to_string(image.width) + "x" + std::to_string(image.height) + ", expected " +
               std::to_string(shape_.width) + "x" + std::to_string(shape_.height) +
               " like the rest of the set (images are not resized: align and crop them first)");
    }
    return {std::move(image.pixels), labels_[i]};
  }

 private:
  Image decode(int64_t i, int64_t channels) const {
    std::vector<uint8_t> bytes = read_file(files_[i]);
    return decode_image(bytes.data(), bytes.size(), static_cast<int>(channels), files_[i]);
  }

  // The size of the first image that decodes; corrupt ones are left to the loader's onCorrupt.
  Shape probe_shape(int channels) const {
    for (size_t i = 0; i < files_.size(); ++i) {
      try {
        Image image = decode(static_cast<int64_t>(i), channels);
        return {channels, image.height, image.width};
      } catch (const Error&) {}
    }
    fail("E_IO", files_.front(), "no image in the set decodes");
  }

  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  int64_t num_classes_ = 0;
  Shape shape_;
};

}  // namespace

std::shared_ptr<Source> open_image_folder(const std::string& root, int channels) {
  return std::make_shared<ImageFolderSource>(root, channels);
}

}  // namespace mvface::data
