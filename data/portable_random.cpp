#include "data/portable_random.h"

#include <cmath>

#include "common/error.h"

namespace tokenfocus::data {

uint64_t mix_seed(uint64_t a, uint64_t b) {
  uint64_t z = a + 0x9e3779b97f4a7c15ULL + (b << 6) + (b >> 2) + b * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  if (n == 0) throw_internal_error("uniform_below(0)");
  // Rejection sampling: drop the top partial copy of [0, n) so every value is equally likely.
  const uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
  uint64_t x = rng();
  while (x > limit) x = rng();
  return x % n;
}

double unit_uniform(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

double standard_normal(std::mt19937_64& rng) {
  // Two uniforms per draw (the sine partner is dropped): simple, and exactly reproducible.
  const double u1 = 1.0 - unit_uniform(rng);  // in (0, 1]: log is finite
  const double u2 = unit_uniform(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

}  // namespace tokenfocus::data
