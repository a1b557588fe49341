#pragma once
// Face alignment: the similarity transform (rotation, uniform scale, translation) that takes five
// landmarks (eyes, nose tip, mouth corners) closest, in least squares, to InsightFace's ArcFace
// template, and the bilinear warp of the image by it. No ATen here.
#include <array>
#include <cstdint>

#include "data/decode.h"

namespace mvface::data {

struct Point {
  double x = 0, y = 0;
};

using Landmarks = std::array<Point, 5>;

// (x, y) -> (a x - b y + tx, b x + a y + ty).
struct Similarity {
  double a = 1, b = 0, tx = 0, ty = 0;
  Point apply(Point p) const { return {a * p.x - b * p.y + tx, b * p.x + a * p.y + ty}; }
  Similarity inverse() const;
};

// The five points of a 112 x 112 aligned face (left eye, right eye, nose tip, left and right mouth
// corner, in pixel coordinates of the aligned image), scaled to size x size.
Landmarks arcface_template(int64_t size);

// The least-squares similarity taking `from` to `to` (Umeyama's solution without reflection).
// E_SHAPE when the points of `from` all coincide.
Similarity fit_similarity(const Landmarks& from, const Landmarks& to);

// The size x size crop whose pixel (x, y) is the image's bilinear sample at to_image(x, y), pixel
// centres at integer coordinates, zero outside the image; written as C x size x size floats,
// (x - 127.5) / 128.
void warp_normalised(const Image& image, const Similarity& to_image, int64_t size, float* out);

}  // namespace mvface::data
