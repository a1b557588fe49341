#include "data/align.h"

#include <algorithm>
#include <cmath>

#include "errors.h"

namespace mvface::data {

Similarity Similarity::inverse() const {
  const double n = a * a + b * b;
  const double ia = a / n, ib = -b / n;
  return {ia, ib, -(ia * tx - ib * ty), -(ib * tx + ia * ty)};
}

Landmarks arcface_template(int64_t size) {
  static constexpr Landmarks k112 = {
      {{38.2946, 51.6963}, {73.5318, 51.5014}, {56.0252, 71.7366}, {41.5493, 92.3655}, {70.7299, 92.2041}}};
  const double s = static_cast<double>(size) / 112.0;
  Landmarks out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = {k112[i].x * s, k112[i].y * s};
  return out;
}

// As complex numbers, to = c * from + t: c = sum(conj(p) q) / sum(|p|^2) over the centred points.
Similarity fit_similarity(const Landmarks& from, const Landmarks& to) {
  Point mf, mt;
  for (size_t i = 0; i < from.size(); ++i) {
    mf = {mf.x + from[i].x / 5, mf.y + from[i].y / 5};
    mt = {mt.x + to[i].x / 5, mt.y + to[i].y / 5};
  }
  double re = 0, im = 0, norm = 0;
  for (size_t i = 0; i < from.size(); ++i) {
    const double px = from[i].x - mf.x, py = from[i].y - mf.y, qx = to[i].x - mt.x, qy = to[i].y - mt.y;
    re += px * qx + py * qy;
    im += px * qy - py * qx;
    norm += px * px + py * py;
  }
  if (!(norm > 1e-12)) fail("E_SHAPE", "landmarks", "the five landmarks coincide: no transform to the template");
  Similarity s{re / norm, im / norm, 0, 0};
  const Point moved = s.apply(mf);
  s.tx = mt.x - moved.x;
  s.ty = mt.y - moved.y;
  return s;
}

void warp_normalised(const Image& image, const Similarity& to_image, int64_t size, float* out) {
  const int64_t C = image.channels, H = image.height, W = image.width;
  const auto pixel = [&](int64_t y, int64_t x, int64_t c) -> double {
    return (y < 0 || y >= H || x < 0 || x >= W) ? 0.0 : image.pixels[(y * W + x) * C + c];
  };
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t x = 0; x < size; ++x) {
      Point p = to_image.apply({static_cast<double>(x), static_cast<double>(y)});
      p = {std::clamp(p.x, -2.0, static_cast<double>(W) + 1), std::clamp(p.y, -2.0, static_cast<double>(H) + 1)};
      const double fx = std::floor(p.x), fy = std::floor(p.y), wx = p.x - fx, wy = p.y - fy;
      const int64_t x0 = static_cast<int64_t>(fx), y0 = static_cast<int64_t>(fy);
      for (int64_t c = 0; c < C; ++c) {
        const double v = (1 - wy) * ((1 - wx) * pixel(y0, x0, c) + wx * pixel(y0, x0 + 1, c)) +
                         wy * ((1 - wx) * pixel(y0 + 1, x0, c) + wx * pixel(y0 + 1, x0 + 1, c));
        out[(c * size + y) * size + x] = static_cast<float>((v - 127.5) / 128.0);
      }
    }
  }
}

}  // namespace mvface::data
