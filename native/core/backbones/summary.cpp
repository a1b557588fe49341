#include "backbones/summary.h"

#include <torch/nn/module.h>

namespace mvface::backbones {
namespace {

int64_t element_count(const std::vector<at::Tensor>& tensors) {
  int64_t n = 0;
  for (const auto& t : tensors) n += t.numel();
  return n;
}

}  // namespace

BackboneSummary summarize(const BackboneOptions& options, bool forward) {
  auto model = make_backbone(options);
  BackboneSummary s;
  s.parameters = parameter_count(*model);
  s.decay = element_count(decay_parameters(*model));
  s.no_decay = element_count(no_decay_parameters(*model));
  for (const auto& p : model->named_parameters()) s.state_shapes.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model->named_buffers()) s.state_shapes.emplace_back(b.key(), b.value().sizes().vec());
  if (forward) {
    at::NoGradGuard no_grad;
    model->eval();
    const int64_t side = options.input_size;
    s.output_shape = model->forward(at::zeros({2, options.in_channels, side, side})).sizes().vec();
  }
  return s;
}

at::Tensor seeded_embeddings(const BackboneOptions& options, uint64_t seed, const at::Tensor& images) {
  std::shared_ptr<Backbone> model = make_seeded_backbone(options, seed);
  at::NoGradGuard no_grad;
  model->eval();
  return model->forward(images);
}

}  // namespace mvface::backbones
