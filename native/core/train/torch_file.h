#pragma once
// Files PyTorch's torch.load reads, also with weights_only=True (its default from PyTorch 2.6):
// torch::jit::pickle_save's zip archive without TorchScript's type tags
// (torch.jit._pickle.restore_type_tag), which the weights-only unpickler refuses. Dicts of strings,
// numbers, strings and tensors, nested; libtorch's pickle_load reads them back.
#include <ATen/core/Dict.h>
#include <ATen/core/ivalue.h>

#include <string>
#include <utility>
#include <vector>

namespace mvface::train {

std::vector<char> torch_file_bytes(const c10::IValue& value);

// Writes to path.tmp, then renames it into place: a crash never leaves half a file (E_IO).
void write_atomically(const std::string& path, const std::vector<char>& bytes);

// The value in a file torch_file_bytes wrote (or torch.save did); E_IO when unreadable or corrupt.
c10::IValue read_torch_file(const std::string& path);

// Name -> tensor, each a contiguous CPU copy.
c10::Dict<std::string, at::Tensor> tensor_dict(const std::vector<std::pair<std::string, at::Tensor>>& items);

}  // namespace mvface::train
