// InsightFace RecordIO (MXNet's format, see DESIGN.md): train.rec, train.idx ("key\toffset" lines)
// and an optional property file "num_classes,height,width". When record 0 carries a header
// (flag > 0), its labels are [first identity record, end of identity records] and the images are
// the records 1 .. labels[0] - 1, as insightface reads them.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "data/decode.h"
#include "data/source.h"
#include "errors.h"

namespace mvface::data {
namespace {

constexpr uint32_t kMagic = 0xCED7230A;
constexpr size_t kHeaderBytes = 24;  // u32 flag, f32 label, u64 id, u64 id2

struct Record {
  uint32_t flag = 0;
  std::vector<float> labels;
  std::vector<uint8_t> payload;
  size_t image_offset = 0;  // where the image bytes start inside payload
};

template <typename T>
T read_le(const uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

class RecordFile {
 public:
  explicit RecordFile(std::string path) : path_(std::move(path)), fd_(::open(path_.c_str(), O_RDONLY)) {
    if (fd_ < 0) fail("E_IO", path_, std::string("cannot open the file: ") + std::strerror(errno));
  }
  ~RecordFile() { ::close(fd_); }
  RecordFile(const RecordFile&) = delete;
  RecordFile& operator=(const RecordFile&) = delete;

  std::string name(uint64_t key) const { return path_ + " record " + std::to_string(key); }

  // header_only reads just enough for the flag and the first label.
  Record read(uint64_t key, uint64_t offset, bool header_only) const {
    uint8_t head[8];
    read_exact(head, sizeof head, offset, key);
    if (read_le<uint32_t>(head) != kMagic)
      fail("E_IO", name(key), "bad record magic (corrupt file or wrong offset in train.idx)");
    const uint32_t length_and_flag = read_le<uint32_t>(head + 4);
    if (length_and_flag >> 29) fail("E_IO", name(key), "split (multi-part) records are not supported");
    const size_t length = length_and_flag & ((1u << 29) - 1);
    if (length < kHeaderBytes) fail("E_IO", name(key), "record shorter than its 24-byte header");
    Record r;
    r.payload.resize(header_only ? std::min(length, kHeaderBytes + 4) : length);
    read_exact(r.payload.data(), r.payload.size(), offset + 8, key);
    parse_header(r, key, header_only);
    return r;
  }

 private:
  void read_exact(uint8_t* out, size_t size, uint64_t offset, uint64_t key) const {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::pread(fd_, out + done, size - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("E_IO", name(key), std::string("read error: ") + std::strerror(errno));
      if (n == 0) fail("E_IO", name(key), "truncated (the file ends inside the record)");
      done += static_cast<size_t>(n);
    }
  }

  // flag == 0: the header's label field is the label; flag > 0: `flag` float labels follow it.
  void parse_header(Record& r, uint64_t key, bool header_only) const {
    const uint8_t* p = r.payload.data();
    r.flag = read_le<uint32_t>(p);
    r.image_offset = kHeaderBytes + 4 * size_t(r.flag);
    if (r.flag == 0) {
      r.labels.push_back(read_le<float>(p + 4));
      return;
    }
    const size_t complete = header_only ? kHeaderBytes + 4 : r.image_offset;
    if (r.payload.size() < complete) fail("E_IO", name(key), "record ends before its labels");
    const size_t count = std::min<size_t>(r.flag, (r.payload.size() - kHeaderBytes) / 4);
    for (size_t i = 0; i < count; ++i) r.labels.push_back(read_le<float>(p + kHeaderBytes + 4 * i));
  }

  std::string path_;
  int fd_;
};

std::map<uint64_t, uint64_t> read_index(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  std::istringstream lines(std::string(bytes.begin(), bytes.end()));
  std::map<uint64_t, uint64_t> offsets;
  std::string line;
  for (int n = 1; std::getline(lines, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    uint64_t key, offset;
    if (!(fields >> key >> offset)) fail("E_IO", path, "line " + std::to_string(n) + " is not 'key<TAB>offset'");
    offsets[key] = offset;
  }
  return offsets;
}

struct Property {
  int64_t classes = 0, height = 0, width = 0;
};

Property read_property(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  std::string text(bytes.begin(), bytes.end());
  std::replace(text.begin(), text.end(), ',', ' ');
  Property p;
  std::istringstream fields(text);
  if (!(fields >> p.classes >> p.height >> p.width) || p.classes <= 0 || p.height <= 0 || p.width <= 0)
    fail("E_IO", path, "expected 'num_classes,height,width'");
  return p;
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

class RecordIoSource : public Source {
 public:
  RecordIoSource(const std::string& folder, int channels) : rec_(folder + "/train.rec"), channels_(channels) {
    check_channels(channels);
    const std::map<uint64_t, uint64_t> offsets = read_index(folder + "/train.idx");
    select_images(offsets);
    if (images_.empty()) fail("E_IO", folder + "/train.idx", "lists no image records");
    const std::string property = folder + "/property";
    if (file_exists(property)) {
      Property p = read_property(property);
      num_classes_ = p.classes;
      shape_ = {channels, p.height, p.width};
    } else {
      if (num_classes_ == 0) num_classes_ = max_label() + 1;
      shape_ = probe_shape();
    }
  }

  int64_t size() const override { return static_cast<int64_t>(images_.size()); }
  int64_t num_classes() const override { return num_classes_; }
  Shape shape() const override { return shape_; }

  int64_t label(int64_t i) const override {
    return static_cast<int64_t>(rec_.read(images_[i].key, images_[i].offset, true).labels.at(0));
  }

  Sample load(int64_t i) const override {
    auto [image, label] = decode(i);
    if (image.height != shape_.height || image.width != shape_.width) {
      fail("E_SHAPE", rec_.name(images_[i].key),
           "image is " + std::to_string(image.width) + "x" + std::to_string(image.height) + ", expected " +
               std::to_string(shape_.width) + "x" + std::to_string(shape_.height));
    }
    return {std::move(image.pixels), label};
  }

 private:
  struct Entry {
    uint64_t key, offset;
  };

  std::pair<Image, int64_t> decode(int64_t i) const {
    const Entry& e = images_[i];
    Record r = rec_.read(e.key, e.offset, false);
    if (r.image_offset >= r.payload.size()) fail("E_IO", rec_.name(e.key), "record holds no image bytes");
    const uint8_t* bytes = r.payload.data() + r.image_offset;
    Image image = decode_image(bytes, r.payload.size() - r.image_offset, channels_, rec_.name(e.key));
    return {std::move(image), static_cast<int64_t>(r.labels.at(0))};
  }

  void select_images(const std::map<uint64_t, uint64_t>& offsets) {
    uint64_t end = UINT64_MAX;
    auto header = offsets.find(0);
    if (header != offsets.end()) {
      Record r = rec_.read(0, header->second, false);
      if (r.flag > 0) {
        end = static_cast<uint64_t>(r.labels.at(0));
        if (r.labels.size() >= 2) num_classes_ = static_cast<int64_t>(r.labels[1]) - static_cast<int64_t>(r.labels[0]);
      }
    }
    for (const auto& [key, offset] : offsets) {
      const bool is_header = key == 0 && end != UINT64_MAX;
      if (!is_header && key < end) images_.push_back({key, offset});
    }
  }

  int64_t max_label() const {
    int64_t best = -1;
    for (int64_t i = 0; i < size(); ++i) best = std::max(best, label(i));
    return best;
  }

  Shape probe_shape() const {
    for (int64_t i = 0; i < size(); ++i) {
      try {
        Image image = decode(i).first;
        return {channels_, image.height, image.width};
      } catch (const Error&) {}
    }
    fail("E_IO", rec_.name(images_.front().key), "no record in the set decodes");
  }

  RecordFile rec_;
  int channels_;
  std::vector<Entry> images_;
  int64_t num_classes_ = 0;
  Shape shape_;
};

}  // namespace

std::shared_ptr<Source> open_recordio(const std::string& folder, int channels) {
  return std::make_shared<RecordIoSource>(folder, channels);
}

}  // namespace mvface::data
