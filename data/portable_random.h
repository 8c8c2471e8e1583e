// Random draws that are the same on every standard library. std::mt19937_64's output stream is
// fixed by the C++ standard, but std::shuffle and the std::*_distribution classes are
// implementation-defined: libstdc++ and libc++ give different folds, bootstrap draws and blend
// starts from the same seed. Every seeded split, sampler and draw in data/ and ensemble/ uses
// these instead.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace tokenfocus::data {

uint64_t mix_seed(uint64_t a, uint64_t b);                 // splitmix64-style combination
uint64_t uniform_below(std::mt19937_64& rng, uint64_t n);  // unbiased, in [0, n)
double unit_uniform(std::mt19937_64& rng);                 // in [0, 1), 53 random bits
double standard_normal(std::mt19937_64& rng);              // N(0, 1), Box–Muller

template <class T>
void portable_shuffle(std::vector<T>& items, std::mt19937_64& rng) {  // Fisher–Yates
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[uniform_below(rng, i)]);
}

}  // namespace tokenfocus::data
