#pragma once
// What a backbone configuration builds, without training it: parameter counts, the state dict's
// shapes and the output shape; and the embeddings of a freshly initialised model (for tests).
#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "backbones/backbone.h"

namespace mvface::backbones {

struct BackboneSummary {
  int64_t parameters = 0, decay = 0, no_decay = 0;
  std::vector<int64_t> output_shape;  // of a zero batch of 2; empty when no forward ran
  std::vector<std::pair<std::string, std::vector<int64_t>>> state_shapes;  // parameters, then buffers
};

BackboneSummary summarize(const BackboneOptions& options, bool forward);

// The eval-mode embeddings of `images` by the model make_seeded_backbone(options, seed) builds.
at::Tensor seeded_embeddings(const BackboneOptions& options, uint64_t seed, const at::Tensor& images);

}  // namespace mvface::backbones
