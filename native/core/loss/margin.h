#pragma once
// Per-row and per-element math of the margin-softmax family (docs/loss.md), written once for the
// CPU and CUDA kernels. Row quantities (target margin) are computed in double; elements in T.
#include <cmath>

#include "loss/config.h"

#if defined(__CUDACC__)
#define MVFACE_HD __host__ __device__ __forceinline__
#else
#define MVFACE_HD inline
#endif

namespace mvface::loss {

constexpr double kNormEps = 1e-12;  // F.normalize's eps
constexpr double kSqrtEps = 1e-12;  // guard of sqrt(1 - g^2) near |g| = 1

// The head as flat numbers, ready for a kernel.
struct HeadParams {
  HeadType type;
  bool normalized, mv, adaptive, easy_margin, arc_threshold;
  double scale, m, cos_m, sin_m, threshold, mm;
  double m1, m2, m3, t;
  int sphere_m;
  double sphere_lambda;
};

inline HeadParams make_head_params(const LossConfig& c) {
  HeadParams p{};
  p.type = c.type;
  p.normalized = c.normalized();
  p.mv = c.misclassified_guided();
  p.adaptive = c.mode == MvMode::Adaptive;
  p.easy_margin = c.easy_margin;
  p.arc_threshold = c.arc_threshold();
  p.scale = c.scale;
  p.m = c.margin;
  p.cos_m = std::cos(c.margin);
  p.sin_m = std::sin(c.margin);
  p.threshold = std::cos(M_PI - c.margin);
  p.mm = std::sin(M_PI - c.margin) * c.margin;
  p.m1 = c.m1;
  p.m2 = c.m2;
  p.m3 = c.m3;
  p.t = c.t;
  p.sphere_m = c.sphere_m;
  p.sphere_lambda = c.sphere_lambda;
  return p;
}

// Margined target: mu (the MV comparison point), tau (the target logit / s) and dtau/dg.
struct TargetMargin {
  double mu, tau, dtau;
};

MVFACE_HD double chebyshev(int m, double x) {  // cos(m θ) as a polynomial of cos θ
  double prev = 1.0, cur = x;
  if (m == 0) return prev;
  for (int k = 1; k < m; ++k) {
    double next = 2.0 * x * cur - prev;
    prev = cur;
    cur = next;
  }
  return cur;
}

MVFACE_HD double chebyshev_derivative(int m, double x) {  // d/dx T_m(x) = m U_{m-1}(x)
  if (m == 0) return 0.0;
  double prev = 1.0, cur = 2.0 * x;  // U_0, U_1
  if (m == 1) return 1.0;
  for (int k = 1; k < m - 1; ++k) {
    double next = 2.0 * x * cur - prev;
    prev = cur;
    cur = next;
  }
  return m * cur;
}

MVFACE_HD TargetMargin sphere_target(const HeadParams& p, double g) {
  const double theta = acos(g);
  const double k = floor(p.sphere_m * theta / M_PI);
  const double sign = fmod(k, 2.0) == 0.0 ? 1.0 : -1.0;
  const double phi = sign * chebyshev(p.sphere_m, g) - 2.0 * k;
  const double dphi = sign * chebyshev_derivative(p.sphere_m, g);
  const double w = 1.0 / (1.0 + p.sphere_lambda);
  return {g, g + (phi - g) * w, 1.0 - w + dphi * w};
}

MVFACE_HD TargetMargin target_margin(const HeadParams& p, double g) {
  if (p.type == HeadType::Softmax) return {g, g, 1.0};
  if (p.type == HeadType::SphereFace) return sphere_target(p, g);
  const double one_minus = 1.0 - g * g;
  const bool sqrt_live = one_minus > kSqrtEps;
  const double sine = sqrt(sqrt_live ? one_minus : kSqrtEps);
  double mu, dmu;
  if (p.type == HeadType::Am || p.type == HeadType::MvAm) {
    mu = g - p.m;
    dmu = 1.0;
  } else if (p.type == HeadType::Combined) {
    const double angle = p.m1 * acos(g) + p.m2;
    mu = cos(angle) - p.m3;
    dmu = sqrt_live ? p.m1 * sin(angle) / sine : 0.0;
  } else {  // arc, mv-arc
    mu = g * p.cos_m - sine * p.sin_m;
    dmu = p.cos_m + (sqrt_live ? g * p.sin_m / sine : 0.0);
  }
  if (p.easy_margin) return g > 0 ? TargetMargin{mu, mu, dmu} : TargetMargin{mu, g, 1.0};
  if (p.arc_threshold && g <= p.threshold) return {mu, g - p.mm, 1.0};
  return {mu, mu, dmu};
}

}  // namespace mvface::loss
