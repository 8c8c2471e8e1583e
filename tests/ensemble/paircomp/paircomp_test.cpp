// PairComp s_a / s_g against hand-computed values (FocusDiff's definition, DESIGN.md §4), and the
// errors for incomplete or malformed input.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include <gtest/gtest.h>

#include "common/error.h"
#include "ensemble/paircomp.h"

namespace tokenfocus::ensemble {
namespace {

std::vector<PairCompScore> pair(const std::string& category, const std::string& id,
                                std::array<double, 4> s) {
  std::vector<PairCompScore> out;
  for (int k = 0; k < 4; ++k) out.push_back({category, id, k / 2, k % 2, s[k]});
  return out;
}

TEST(EnsemblePairComp, ArithmeticAndGeometricMeansPerCategoryThenAveraged) {
  std::vector<PairCompScore> all;
  for (auto p : {pair("color", "1", {0.9, 0.8, 0.6, 0.5}), pair("color", "2", {1, 1, 1, 0}),
                 pair("count", "1", {0.5, 0.5, 0.5, 0.5})}) {
    all.insert(all.end(), p.begin(), p.end());
  }
  const auto r = paircomp(all, "test");
  ASSERT_EQ(r.categories.size(), 2u);
  const double g1 = std::pow(0.9 * 0.8 * 0.6 * 0.5, 0.25);
  EXPECT_NEAR(r.categories.at("color").s_a, (0.7 + 0.75) / 2, 1e-15);
  EXPECT_NEAR(r.categories.at("color").s_g, (g1 + 0.0) / 2, 1e-15);
  EXPECT_NEAR(r.categories.at("count").s_g, 0.5, 1e-15);
  EXPECT_NEAR(r.s_a, ((0.7 + 0.75) / 2 + 0.5) / 2, 1e-15);
  EXPECT_NEAR(r.s_g, ((g1 + 0.0) / 2 + 0.5) / 2, 1e-15);
}

TEST(EnsemblePairComp, IncompletePairsAndDuplicatesAreUserErrors) {
  auto p = pair("color", "7", {0.1, 0.2, 0.3, 0.4});
  p.pop_back();
  EXPECT_THROW(paircomp(p, "x"), UserError);
  auto q = pair("color", "7", {0.1, 0.2, 0.3, 0.4});
  q.push_back(q.front());
  EXPECT_THROW(paircomp(q, "x"), UserError);
  auto n = pair("color", "7", {0.1, -0.2, 0.3, 0.4});
  EXPECT_THROW(paircomp(n, "x"), UserError);
}

TEST(EnsemblePairComp, ReadsJsonLinesAndNamesTheBadLine) {
  const std::string path = "/tmp/tokenfocus_paircomp_" + std::to_string(::getpid()) + ".jsonl";
  {
    std::ofstream out(path);
    out << R"({"category": "color", "pair_id": 3, "prompt_index": 0, "image_index": 1, "score": 0.25})"
        << "\n\n"
        << R"({"category": "color", "pair_id": 3, "prompt_index": 1})"
        << "\n";
  }
  try {
    read_paircomp_scores(path);
    ADD_FAILURE() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find(path + ":3:"), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tokenfocus::ensemble
