// Small deterministic random numbers for data order, augmentation and toy data: the same values
// on every platform and LibTorch version (at::randperm's sequence is not a stable contract), and
// derivable from (seed, epoch, index) without shared state, so worker threads need no locking.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace editclip {

// SplitMix64 finaliser: a bijective 64-bit mix.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A key from several values (order matters): mix(mix(mix(a) ^ b) ^ c)...
inline uint64_t hash_key(std::initializer_list<uint64_t> values) {
  uint64_t h = 0x243f6a8885a308d3ULL;
  for (uint64_t v : values) h = mix64(h ^ v);
  return h;
}

// SplitMix64 stream.
class DetRng {
 public:
  explicit DetRng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n) without modulo bias (n > 0).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next_u64();
    while (x >= limit);
    return x % n;
  }
  bool coin() { return (next_u64() >> 63) != 0; }

 private:
  uint64_t state_;
};

// Fisher-Yates permutation of 0..n-1 from `seed`.
inline std::vector<int64_t> det_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  DetRng rng(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<size_t>(i)], p[rng.below(static_cast<uint64_t>(i) + 1)]);
  return p;
}

}  // namespace editclip
