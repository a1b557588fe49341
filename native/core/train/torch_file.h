#pragma once
// The bytes of a file that PyTorch's torch.load reads, also with weights_only=True (its default from
// PyTorch 2.6): torch::jit::pickle_save's zip archive without TorchScript's type tags
// (torch.jit._pickle.restore_type_tag), which the weights-only unpickler refuses. Dicts of strings,
// numbers, strings and tensors, nested; libtorch's pickle_load reads it back.
#include <ATen/core/ivalue.h>

#include <vector>

namespace mvface::train {

std::vector<char> torch_file_bytes(const c10::IValue& value);

}  // namespace mvface::train
