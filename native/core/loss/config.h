#pragma once
// The margin-softmax family (README, "The loss") as plain data, shared by every path.
#include <string>

namespace mvface::loss {

enum class HeadType { Softmax, Am, Arc, Combined, MvAm, MvArc, SphereFace };
enum class MvMode { Fixed, Adaptive };
enum class Mining { None, Focal, HardMining };

struct LossConfig {
  HeadType type = HeadType::MvArc;
  double scale = 32.0;
  double margin = 0.5;                  // am, arc, mv-am, mv-arc
  double m1 = 1.0, m2 = 0.5, m3 = 0.0;  // combined
  MvMode mode = MvMode::Adaptive;       // mv-am, mv-arc
  double t = 1.2;
  bool easy_margin = false;
  int sphere_m = 4;               // sphereface: integer angular margin
  double sphere_lambda = 5.0;     // sphereface: annealed lambda for the current iteration
  Mining mining = Mining::None;
  double focal_gamma = 2.0;
  double hm_ratio = 0.9;

  bool normalized() const { return type != HeadType::Softmax; }
  bool misclassified_guided() const { return type == HeadType::MvAm || type == HeadType::MvArc; }
  bool arc_threshold() const { return type == HeadType::Arc || type == HeadType::MvArc; }
};

HeadType parse_head_type(const std::string& name);
MvMode parse_mv_mode(const std::string& name);
Mining parse_mining(const std::string& name);
void validate_config(const LossConfig& config);  // throws E_CONFIG naming the option
bool same_config(const LossConfig& a, const LossConfig& b);  // every field equal

}  // namespace mvface::loss
