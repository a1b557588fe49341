#pragma once
// The margin-softmax family (docs/loss.md) as plain data, shared by every path.
#include <string>

namespace mvface::loss {

enum class HeadType { Softmax, Am, Arc, Combined, MvAm, MvArc, SphereFace };
enum class MvMode { Fixed, Adaptive };
enum class Mining { None, Focal, HardMining };

// Every field is set by the caller: the documented defaults live in TypeScript (lib/config/defaults.ts,
// headDefaults), which hands native code the resolved config. Zero here means "not set".
struct LossConfig {
  HeadType type = HeadType::Softmax;
  double scale = 0;
  double margin = 0;              // am, arc, mv-am, mv-arc
  double m1 = 0, m2 = 0, m3 = 0;  // combined
  MvMode mode = MvMode::Fixed;    // mv-am, mv-arc
  double t = 0;
  bool easy_margin = false;
  int sphere_m = 0;          // sphereface: integer angular margin
  double sphere_lambda = 0;  // sphereface: annealed lambda for the current iteration
  Mining mining = Mining::None;
  double focal_gamma = 0;
  double hm_ratio = 0;

  bool normalized() const { return type != HeadType::Softmax; }
  bool misclassified_guided() const { return type == HeadType::MvAm || type == HeadType::MvArc; }
  bool arc_threshold() const { return type == HeadType::Arc || type == HeadType::MvArc; }
};

HeadType parse_head_type(const std::string& name);
MvMode parse_mv_mode(const std::string& name);
Mining parse_mining(const std::string& name);
void validate_config(const LossConfig& config);              // throws E_CONFIG naming the option
bool same_config(const LossConfig& a, const LossConfig& b);  // every field equal

}  // namespace mvface::loss
