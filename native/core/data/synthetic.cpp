// Synthetic identities: class c is a pattern of Gaussian blobs and a stripe drawn from the keyed
// stream (seed, c); image k of class c shifts it, jitters the blobs, changes brightness and adds
// noise from the stream (seed, c, k). Every image is a pure function of (seed, c, k).
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "data/decode.h"
#include "data/random.h"
#include "data/source.h"
#include "errors.h"

namespace mvface::data {
namespace {

constexpr int kBlobs = 4;
constexpr double kTwoPi = 6.283185307179586;

struct Blob {
  double cx, cy, sx, sy;
  std::array<double, 3> amplitude;
};

struct ClassPattern {
  std::array<double, 3> base;
  std::array<Blob, kBlobs> blobs;
  double stripe_angle, stripe_frequency, stripe_phase;
  std::array<double, 3> stripe_amplitude;
};

struct Variation {
  double dx, dy, gain, offset, noise;
  std::array<double, kBlobs> blob_gain;
};

ClassPattern class_pattern(uint64_t seed, int64_t c) {
  Stream s(hash_keys(seed, 0xC1A55, static_cast<uint64_t>(c)));
  ClassPattern p;
  for (double& b : p.base) b = s.uniform(70, 186);
  for (Blob& b : p.blobs) {
    b = {s.uniform(0.15, 0.85), s.uniform(0.15, 0.85), s.uniform(0.07, 0.22), s.uniform(0.07, 0.22), {}};
    for (double& a : b.amplitude) a = s.uniform(-90, 90);
  }
  p.stripe_angle = s.uniform(0, kTwoPi / 2);
  p.stripe_frequency = s.uniform(2, 6);
  p.stripe_phase = s.uniform(0, kTwoPi);
  for (double& a : p.stripe_amplitude) a = s.uniform(-35, 35);
  return p;
}

Variation image_variation(Stream& s) {
  Variation v;
  v.dx = s.uniform(-0.08, 0.08);
  v.dy = s.uniform(-0.08, 0.08);
  v.gain = s.uniform(0.75, 1.25);
  v.offset = s.uniform(-20, 20);
  v.noise = s.uniform(5, 25);
  for (double& g : v.blob_gain) g = s.uniform(0.6, 1.4);
  return v;
}

// The clean pattern of one image, per pixel and channel. Blobs are separable Gaussians and the
// stripe a sine of (u cos a + w sin a), so each factor is computed once per row or column.
class PatternImage {
 public:
  PatternImage(const ClassPattern& p, const Variation& v, int64_t height, int64_t width) : p_(p) {
    const double ca = std::cos(p.stripe_angle), sa = std::sin(p.stripe_angle);
    const double k = kTwoPi * p.stripe_frequency;
    cols_.resize(width);
    rows_.resize(height);
    for (int64_t x = 0; x < width; ++x) cols_[x] = axis((x + 0.5) / width - v.dx, k * ca, p.stripe_phase, v, true);
    for (int64_t y = 0; y < height; ++y) rows_[y] = axis((y + 0.5) / height - v.dy, k * sa, 0.0, v, false);
  }

  std::array<double, 3> at(int64_t y, int64_t x) const {
    const Axis& r = rows_[y];
    const Axis& c = cols_[x];
    std::array<double, 3> value = p_.base;
    const double stripe = c.sin * r.cos + c.cos * r.sin;  // sin(column angle + row angle)
    for (int b = 0; b < kBlobs; ++b) {
      const double weight = c.blob[b] * r.blob[b];
      for (int ch = 0; ch < 3; ++ch) value[ch] += weight * p_.blobs[b].amplitude[ch];
    }
    for (int ch = 0; ch < 3; ++ch) value[ch] += stripe * p_.stripe_amplitude[ch];
    return value;
  }

 private:
  struct Axis {
    std::array<double, kBlobs> blob;
    double sin, cos;
  };

  Axis axis(double t, double frequency, double phase, const Variation& v, bool column) const {
    Axis a;
    for (int b = 0; b < kBlobs; ++b) {
      const Blob& blob = p_.blobs[b];
      const double d = column ? (t - blob.cx) / blob.sx : (t - blob.cy) / blob.sy;
      a.blob[b] = std::exp(-0.5 * d * d) * (column ? v.blob_gain[b] : 1.0);
    }
    a.sin = std::sin(frequency * t + phase);
    a.cos = std::cos(frequency * t + phase);
    return a;
  }

  const ClassPattern& p_;
  std::vector<Axis> cols_, rows_;
};

class SyntheticSource : public Source {
 public:
  explicit SyntheticSource(const SyntheticSpec& spec) : spec_(spec) {
    if (spec.classes < 1) fail("E_CONFIG", "classes", "must be at least 1");
    if (spec.per_class < 1) fail("E_CONFIG", "perClass", "must be at least 1");
    if (spec.height < 1 || spec.height > 4096) fail("E_CONFIG", "height", "must be in [1, 4096]");
    if (spec.width < 1 || spec.width > 4096) fail("E_CONFIG", "width", "must be in [1, 4096]");
    check_channels(spec.channels);
    for (int64_t c = 0; c < spec.classes; ++c) patterns_.push_back(class_pattern(spec.seed, c));
  }

  int64_t size() const override { return spec_.classes * spec_.per_class; }
  int64_t num_classes() const override { return spec_.classes; }
  Shape shape() const override { return {spec_.channels, spec_.height, spec_.width}; }
  int64_t label(int64_t i) const override { return i / spec_.per_class; }

  Sample load(int64_t i) const override {
    const int64_t c = label(i), k = i % spec_.per_class;
    Stream s(hash_keys(spec_.seed, 0x1A6E, static_cast<uint64_t>(c), static_cast<uint64_t>(k)));
    const Variation v = image_variation(s);
    const ClassPattern& p = patterns_[c];
    Sample sample{std::vector<uint8_t>(static_cast<size_t>(shape().pixels())), c};
    uint8_t* out = sample.pixels.data();
    const PatternImage pattern(p, v, spec_.height, spec_.width);
    for (int64_t y = 0; y < spec_.height; ++y) {
      for (int64_t x = 0; x < spec_.width; ++x) {
        const std::array<double, 3> clean = pattern.at(y, x);
        for (int64_t ch = 0; ch < spec_.channels; ++ch) {
          const double noise = v.noise * (2 * s.uniform() - 1);
          const double value = v.gain * (clean[ch] - 128) + 128 + v.offset + noise;
          *out++ = static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
        }
      }
    }
    return sample;
  }

 private:
  SyntheticSpec spec_;
  std::vector<ClassPattern> patterns_;
};

}  // namespace

std::shared_ptr<Source> make_synthetic(const SyntheticSpec& spec) { return std::make_shared<SyntheticSource>(spec); }

}  // namespace mvface::data
