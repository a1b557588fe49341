#include "loss/config.h"

#include <cmath>

#include "errors.h"

namespace mvface::loss {
namespace {

void require(bool ok, const char* option, const std::string& message) {
  if (!ok) fail("E_CONFIG", option, message);
}

bool finite(double v) { return std::isfinite(v); }

}  // namespace

HeadType parse_head_type(const std::string& name) {
  if (name == "softmax") return HeadType::Softmax;
  if (name == "am") return HeadType::Am;
  if (name == "arc") return HeadType::Arc;
  if (name == "combined") return HeadType::Combined;
  if (name == "mv-am") return HeadType::MvAm;
  if (name == "mv-arc") return HeadType::MvArc;
  if (name == "sphereface") return HeadType::SphereFace;
  fail("E_CONFIG", "type",
       "unknown head type '" + name + "' (expected softmax, am, arc, combined, mv-am, mv-arc, sphereface)");
}

MvMode parse_mv_mode(const std::string& name) {
  if (name == "fixed") return MvMode::Fixed;
  if (name == "adaptive") return MvMode::Adaptive;
  fail("E_CONFIG", "mode", "unknown mode '" + name + "' (expected fixed or adaptive)");
}

Mining parse_mining(const std::string& name) {
  if (name == "none") return Mining::None;
  if (name == "focal") return Mining::Focal;
  if (name == "hm") return Mining::HardMining;
  fail("E_CONFIG", "mining", "unknown mining '" + name + "' (expected focal or hm)");
}

void validate_config(const LossConfig& c) {
  require(finite(c.scale) && c.scale > 0, "scale", "must be a finite number > 0");
  switch (c.type) {
    case HeadType::Am:
    case HeadType::MvAm:
      require(finite(c.margin) && c.margin >= 0 && c.margin <= 1, "margin", "must be in [0, 1] for am");
      break;
    case HeadType::Arc:
    case HeadType::MvArc:
      require(finite(c.margin) && c.margin >= 0 && c.margin < M_PI / 2, "margin", "must be in [0, pi/2) for arc");
      break;
    case HeadType::Combined:
      require(finite(c.m1) && c.m1 >= 1 && c.m1 <= 4, "m1", "must be in [1, 4]");
      require(finite(c.m2) && c.m2 >= 0 && c.m2 < M_PI / 2, "m2", "must be in [0, pi/2)");
      require(finite(c.m3) && c.m3 >= 0 && c.m3 <= 1, "m3", "must be in [0, 1]");
      break;
    case HeadType::SphereFace:
      require(c.sphere_m >= 1 && c.sphere_m <= 5, "m", "must be an integer in [1, 5] for sphereface");
      require(finite(c.sphere_lambda) && c.sphere_lambda >= 0, "lambda", "must be >= 0");
      break;
    default:
      break;
  }
  if (c.misclassified_guided()) {
    if (c.mode == MvMode::Fixed)
      require(finite(c.t) && c.t >= 0, "t", "must be >= 0 in fixed mode");
    else
      require(finite(c.t) && c.t >= 1, "t", "must be >= 1 in adaptive mode");
  }
  if (c.mining == Mining::Focal) require(finite(c.focal_gamma) && c.focal_gamma >= 0, "gamma", "must be >= 0");
  if (c.mining == Mining::HardMining)
    require(finite(c.hm_ratio) && c.hm_ratio > 0 && c.hm_ratio <= 1, "ratio", "must be in (0, 1]");
}

bool same_config(const LossConfig& a, const LossConfig& b) {
  return a.type == b.type && a.scale == b.scale && a.margin == b.margin && a.m1 == b.m1 && a.m2 == b.m2 &&
         a.m3 == b.m3 && a.mode == b.mode && a.t == b.t && a.easy_margin == b.easy_margin && a.sphere_m == b.sphere_m &&
         a.sphere_lambda == b.sphere_lambda && a.mining == b.mining && a.focal_gamma == b.focal_gamma &&
         a.hm_ratio == b.hm_ratio;
}

}  // namespace mvface::loss
