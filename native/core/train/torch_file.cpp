#include "train/torch_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/csrc/jit/serialization/pickler.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "errors.h"

namespace mvface::train {

std::vector<char> torch_file_bytes(const c10::IValue& value) {
  std::vector<char> pickle;
  torch::jit::Pickler pickler([&](const char* bytes, size_t n) { pickle.insert(pickle.end(), bytes, bytes + n); },
                              nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> file;
  caffe2::serialize::PyTorchStreamWriter writer([&](const void* bytes, size_t n) {
    const char* p = static_cast<const char*>(bytes);
    file.insert(file.end(), p, p + n);
    return n;
  });
  torch::jit::writeArchiveAndTensors("data", pickle.data(), pickle.size(), pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return file;
}

void write_atomically(const std::string& path, const std::vector<char>& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("E_IO", path, "cannot write (is the folder there and writable?)");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) fail("E_IO", path, "write failed (disk full?)");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("E_IO", path, "cannot rename the temporary file into place");
}

c10::IValue read_torch_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("E_IO", path, "cannot open (missing or unreadable)");
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  try {
    return torch::jit::pickle_load(bytes);
  } catch (const c10::Error&) {
    fail("E_IO", path, "corrupt, or not a file mvface or torch.save wrote");
  }
}

c10::Dict<std::string, at::Tensor> tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& items) {
  c10::Dict<std::string, at::Tensor> d;
  for (const auto& [name, t] : items) d.insert(name, t.detach().to(at::kCPU).contiguous());
  return d;
}

}  // namespace mvface::train
