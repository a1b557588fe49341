#include "loss/dispatch.h"

#include "errors.h"
#include "loss/partial_fc.h"

namespace mvface::loss {

void validate_route(const LossRoute& route) {
  if (route.device.cuda && route.sample_rate < 1.0) fail("E_CONFIG", "device", "sampleRate runs on the CPU path only");
}

LossResult routed_loss(const LossConfig& config, const at::Tensor& x, const at::Tensor& weight,
                       const at::Tensor& labels, const LossRoute& route) {
  validate_route(route);
  if (route.device.cuda) return fused_loss_on(route.device, config, x, weight, labels, route.fused);
  if (route.sample_rate < 1.0) {
    PartialFcResult r = partial_fc_loss(config, x, weight, labels, route.sample_rate, route.sample_seed, route.fused);
    r.loss.grad_weight = dense_grad_weight(r, weight);
    return r.loss;
  }
  return fused_loss(config, x, weight, labels, route.fused);
}

}  // namespace mvface::loss
