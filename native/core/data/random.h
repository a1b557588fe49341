#pragma once
// Counter-based randomness: every draw is a pure function of its keys, so results do not depend on
// which thread computes them or in which order.
#include <cstdint>

namespace mvface::data {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline uint64_t hash_keys(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
  return splitmix64(splitmix64(splitmix64(splitmix64(a) ^ b) ^ c) ^ d);
}

// A small sequential generator for one keyed stream.
class Stream {
 public:
  explicit Stream(uint64_t key) : state_(key) {}
  uint64_t bits() { return splitmix64(state_++ * 0xD1B54A32D192ED03ull); }
  double uniform() { return static_cast<double>(bits() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  uint64_t below(uint64_t n) { return bits() % n; }

 private:
  uint64_t state_;
};

}  // namespace mvface::data
