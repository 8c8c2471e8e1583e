// The ensemble stage's random draws are pinned: the same seed gives the same holdout split,
// stacking folds, bootstrap draws and blend starts with any standard library (they come from
// data/portable_random.h over std::mt19937_64, whose stream the C++ standard fixes). A change
// that brings back std::shuffle or a std::*_distribution changes these numbers.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "data/portable_random.h"
#include "ensemble/bootstrap.h"
#include "ensemble/stacker.h"

namespace tokenfocus::ensemble {
namespace {

TEST(PortableDraws, TheEngineIsTheStandardOne) {
  std::mt19937_64 rng;  // [rand.predef]: the 10000th draw of a default-constructed engine
  rng.discard(9999);
  EXPECT_EQ(rng(), 9981545732273789042ULL);
}

TEST(PortableDraws, Pinned) {
  std::mt19937_64 rng(2026);
  std::vector<uint64_t> below;
  for (int i = 0; i < 6; ++i) below.push_back(data::uniform_below(rng, 10));
  std::vector<int> order(8);
  std::iota(order.begin(), order.end(), 0);
  data::portable_shuffle(order, rng);
  std::vector<double> normal;
  for (int i = 0; i < 3; ++i) normal.push_back(data::standard_normal(rng));
  const std::vector<uint32_t> draw = bootstrap_draw(8, 7, 3);
  const std::vector<int> folds = kfold_assignment(10, 3, 5);

  EXPECT_EQ(below, (std::vector<uint64_t>{1, 0, 1, 6, 4, 1}));
  EXPECT_EQ(order, (std::vector<int>{5, 2, 3, 1, 7, 6, 0, 4}));
  const std::vector<double> expected_normal = {0.88951356600948661, -0.84270929941688111,
                                               -1.2321156710617225};
  ASSERT_EQ(normal.size(), expected_normal.size());
  for (size_t i = 0; i < normal.size(); ++i) EXPECT_NEAR(normal[i], expected_normal[i], 1e-15);
  EXPECT_EQ(draw, (std::vector<uint32_t>{2, 3, 0, 1, 7, 1, 3, 5}));
  EXPECT_EQ(folds, (std::vector<int>{2, 0, 0, 1, 2, 1, 1, 0, 2, 0}));
}

}  // namespace
}  // namespace tokenfocus::ensemble
