// AdamW, clipping and schedules against their references: torch.optim.AdamW (fused=True) and
// torch.nn.utils.clip_grad_norm_ run by the reference Python (.venv's torch 2.x) on the same
// float32 inputs; schedule values against the closed forms of transformers'
// get_*_schedule_with_warmup.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/error.h"

#include "trainer/lr_schedule.h"
#include "trainer/optimizer.h"

namespace fs = std::filesystem;
using namespace tokenfocus::trainer;

namespace {

void write_raw(const fs::path& path, const torch::Tensor& t) {
  const auto c = t.contiguous();
  std::ofstream(path, std::ios::binary)
      .write(static_cast<const char*>(c.data_ptr()), c.numel() * sizeof(float));
}

torch::Tensor read_raw(const fs::path& path, at::IntArrayRef shape) {
  auto t = torch::empty(shape, torch::kFloat);
  std::ifstream(path, std::ios::binary)
      .read(static_cast<char*>(t.data_ptr()), t.numel() * sizeof(float));
  return t;
}

TEST(AdamW, DecayGroupsSkipBiasesNormsAnd1D) {
  EXPECT_TRUE(decays({"layers.0.q_proj.weight", torch::zeros({4, 4})}));
  EXPECT_FALSE(decays({"layers.0.q_proj.bias", torch::zeros({4})}));
  EXPECT_FALSE(decays({"layers.0.input_layernorm.weight", torch::zeros({4})}));
  EXPECT_FALSE(decays({"model.norm.weight", torch::zeros({4, 4})}));
  EXPECT_FALSE(decays({"scale", torch::zeros({1})}));
}

// Same float32 inputs, same arithmetic order: the results must agree to the last bit, except
// where libtorch's and Python's scalar (double) bias corrections could round differently; we
// allow 2 float32 ulps of the parameter scale and report the measured maximum.
TEST(AdamW, MatchesTorchOptimAdamWWithClippingAndSchedule) {
  const fs::path dir = fs::temp_directory_path() / ("tokenfocus-adamw-" + std::to_string(getpid()));
  fs::create_directories(dir);
  torch::manual_seed(5);
  std::vector<NamedParameter> params = {{"fc.weight", torch::randn({7, 5})},
                                        {"fc.bias", torch::randn({7})},
                                        {"norm.weight", torch::randn({5})},
                                        {"out.weight", torch::randn({3, 7})}};
  std::ofstream shapes(dir / "shapes.txt");
  for (size_t k = 0; k < params.size(); ++k) {
    write_raw(dir / ("param" + std::to_string(k) + ".f32"), params[k].tensor);
    for (auto d : params[k].tensor.sizes()) shapes << d << " ";
    shapes << "\n";
    params[k].tensor.set_requires_grad(true);
  }
  shapes.close();
  const int steps = 6;
  const double max_norm = 2.0;
  LrSchedule schedule{"cosine", 1e-2, 2, steps};
  std::ofstream lrs(dir / "lrs.txt");
  for (int s = 0; s < steps; ++s) lrs << fmt::format("{:.17g} ", schedule.lr_at(s));
  lrs.close();
  AdamW adamw(params, {0.9, 0.95, 1e-8, 0.05});
  std::vector<double> norms;
  for (int s = 0; s < steps; ++s) {
    for (size_t k = 0; k < params.size(); ++k) {
      // Large gradients on some steps so that clipping engages; tiny ones so eps matters.
      auto grad = torch::randn(params[k].tensor.sizes()) * (s % 2 ? 3.0 : 1e-3);
      write_raw(dir / fmt::format("grad{}_{}.f32", s, k), grad);
      params[k].tensor.mutable_grad() = grad;
    }
    norms.push_back(clip_grad_norm(params, max_norm));
    adamw.step(schedule.lr_at(s));
  }
  const std::string command = fmt::format(
      "{} {}/tests/trainer/optimizer/adamw_reference.py {} {} {}", TOKENFOCUS_REFERENCE_PYTHON,
      TOKENFOCUS_SOURCE_DIR, dir.string(), steps, max_norm);
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  double worst = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const auto expected =
        read_raw(dir / ("out" + std::to_string(k) + ".f32"), params[k].tensor.sizes());
    const double diff = (params[k].tensor.detach() - expected).abs().max().item<double>();
    worst = std::max(worst, diff);
    EXPECT_LE(diff, 2 * 1.2e-7 * std::max(1.0, expected.abs().max().item<double>()))
        << params[k].name;
  }
  std::ifstream reference_norms(dir / "norms.txt");
  for (int s = 0; s < steps; ++s) {
    double expected = 0;
    reference_norms >> expected;
    EXPECT_NEAR(norms[s], expected, 1e-6 * expected) << "step " << s;
  }
  std::printf("AdamW vs torch.optim.AdamW after %d steps: max |diff| = %.3g\n", steps, worst);
  fs::remove_all(dir);
}

TEST(AdamW, StateDictRoundTripContinuesIdentically) {
  torch::manual_seed(1);
  auto make = [] {
    return std::vector<NamedParameter>{{"w", torch::randn({4, 3}).set_requires_grad(true)},
                                       {"b", torch::randn({4}).set_requires_grad(true)}};
  };
  auto a = make();
  auto b = std::vector<NamedParameter>{{"w", a[0].tensor.detach().clone().set_requires_grad(true)},
                                       {"b", a[1].tensor.detach().clone().set_requires_grad(true)}};
  AdamW first(a, {}), second(b, {});
  for (int s = 0; s < 3; ++s) {
    for (size_t k = 0; k < a.size(); ++k) {
      const auto g = torch::randn(a[k].tensor.sizes());
      a[k].tensor.mutable_grad() = g;
      b[k].tensor.mutable_grad() = g.clone();
    }
    first.step(1e-2);
    if (s == 1) {
      AdamW restored(b, {});
      restored.load_state_dict(second.state_dict());
      second.step(1e-2);
      continue;
    }
    second.step(1e-2);
  }
  EXPECT_TRUE(torch::equal(a[0].tensor, b[0].tensor));
  EXPECT_EQ(first.steps_taken(), 3);
  std::map<std::string, torch::Tensor> broken = first.state_dict();
  broken.erase("exp_avg/w");
  EXPECT_THROW(second.load_state_dict(broken), tokenfocus::UserError);
}

TEST(LrSchedule, WarmupThenCosineLinearConstant) {
  LrSchedule cosine{"cosine", 1.0, 10, 110};
  EXPECT_DOUBLE_EQ(cosine.lr_at(0), 0.0);
  EXPECT_DOUBLE_EQ(cosine.lr_at(5), 0.5);
  EXPECT_DOUBLE_EQ(cosine.lr_at(10), 1.0);
  EXPECT_NEAR(cosine.lr_at(60), 0.5, 1e-12);  // halfway through the decay
  EXPECT_NEAR(cosine.lr_at(110), 0.0, 1e-12);
  LrSchedule linear{"linear", 2.0, 0, 100};
  EXPECT_DOUBLE_EQ(linear.lr_at(25), 1.5);
  EXPECT_DOUBLE_EQ(linear.lr_at(100), 0.0);
  LrSchedule constant{"constant", 3.0, 4, 100};
  EXPECT_DOUBLE_EQ(constant.lr_at(2), 1.5);
  EXPECT_DOUBLE_EQ(constant.lr_at(50), 3.0);
}

}  // namespace
