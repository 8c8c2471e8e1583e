#include "losses/tf_ps_loss.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "common/config/resolve.h"
#include "common/error.h"
#include "finite_difference.h"

namespace tokenfocus::losses {
namespace {

using testing::max_relative_error;
using testing::numeric_gradient;

// A small batch: 4 overall questions (labels "1".."5" = ids 2..6) and 2 element questions
// (yes/no = ids 7/8), hidden size 4, vocabulary 9.
struct Batch {
  torch::Tensor hidden, weight;
  QuestionTargets targets;
  LabelHead overall = LabelHead::from_vectors({2, 3, 4, 5, 6}, {1, 2, 3, 4, 5});
  LabelHead element = LabelHead::from_vectors({7, 8}, {1, 0});

  explicit Batch(torch::Dtype dtype = torch::kFloat64, uint64_t seed = 7) {
    torch::manual_seed(seed);
    hidden = torch::randn({6, 4}, torch::kFloat64).to(dtype);
    weight = torch::randn({9, 4}, torch::kFloat64).to(dtype);
    targets.is_element = torch::tensor({0, 1, 0, 0, 1, 0}, torch::kBool);
    auto dist = torch::zeros({6, 5}, torch::kFloat64);
    auto token = torch::zeros({6}, torch::kInt64);
    auto value = torch::zeros({6}, torch::kFloat64);
    const auto values = torch::arange(1, 6, torch::kFloat64);
    for (int64_t i = 0; i < 6; ++i) {
      if (targets.is_element[i].item<bool>()) {
        const double yes = i == 1 ? 0.75 : 0.25;
        dist[i][0] = yes;
        dist[i][1] = 1 - yes;
        token[i] = yes >= 0.5 ? 7 : 8;
        value[i] = yes;
      } else {
        const auto row = torch::softmax(2 * torch::randn({5}, torch::kFloat64), 0);
        dist[i].copy_(row);
        token[i] = 2 + row.argmax().item<int64_t>();
        value[i] = (row * values).sum().item<double>();
      }
    }
    targets.target_dist = dist.to(dtype);
    targets.target_token = token;
    targets.target_value = value;
  }
};

config::LossConfig all_terms() {
  config::LossConfig c;
  c.tf_weight = 0.7;
  c.ps_weight = 1.3;
  c.regression_weight = 0.4;
  c.plcc_weight = 0.6;
  c.element_weight = 0.5;
  c.temperature = 1.5;
  return c;
}

// The same loss written by hand with PyTorch's own functional losses in the reference Python
// (F.cross_entropy with probability targets, F.mse_loss / F.smooth_l1_loss, scipy's pearsonr):
// an outside check of how the terms are put together and normalised.
const char* kReferenceScript = R"PY(
import json, sys, math, torch, scipy.stats
import torch.nn.functional as F
b = json.load(open(sys.argv[1])); c = b["config"]
h = torch.tensor(b["hidden"], dtype=torch.float64); W = torch.tensor(b["weight"], dtype=torch.float64)
el = torch.tensor(b["is_element"], dtype=torch.bool); dist = torch.tensor(b["dist"], dtype=torch.float64)
tok = torch.tensor(b["token"]); val = torch.tensor(b["value"], dtype=torch.float64)
z = h @ W.T
def head(rows, ids, values):
    ids = torch.tensor(ids); values = torch.tensor(values, dtype=torch.float64)
    zr = z[rows]; p = dist[rows][:, :len(ids)]
    if not c["soft_targets"]:
        p = (tok[rows][:, None] == ids[None, :]).double()
    full = torch.zeros_like(zr); full[:, ids] = p
    tf = F.cross_entropy(zr, full) if len(zr) else torch.tensor(0.)
    zs = zr[:, ids] / c["temperature"]
    ps = F.cross_entropy(zs, p) if len(zr) else torch.tensor(0.)
    s = (torch.softmax(zs, 1) * values).sum(1); y = val[rows]; known = ~torch.isnan(y)
    if c["regression"] == "mse": reg = F.mse_loss(s[known], y[known])
    else: reg = F.smooth_l1_loss(s[known], y[known], beta=c["smooth_l1_beta"])
    return tf.item(), ps.item(), reg.item(), s[known], y[known]
tf, ps, reg, s, y = head(~el, [2, 3, 4, 5, 6], [1, 2, 3, 4, 5])
etf, eps, ereg, _, _ = head(el, [7, 8], [1, 0])
plcc = 1 - scipy.stats.pearsonr(s.numpy(), y.numpy())[0]
a, bb, g, d, we = c["tf"], c["ps"], c["reg"], c["plcc"], c["element"]
element = a * etf + bb * eps + g * ereg
total = a * tf + bb * ps + g * reg + d * plcc + we * element
print(*(repr(float(x)) for x in (total, tf, ps, reg, plcc, element)))  # numpy 2 reprs np.float64(...)
)PY";

std::string json_list(const torch::Tensor& t) {
  const auto flat = t.to(torch::kFloat64).contiguous().view({-1});
  std::string text = "[";
  for (int64_t i = 0; i < flat.numel(); ++i) {
    const double x = flat[i].item<double>();
    text += (i ? "," : "") + (std::isnan(x) ? std::string("NaN") : fmt::format("{:.17g}", x));
  }
  return text + "]";
}

std::string json_matrix(const torch::Tensor& t) {
  std::string text = "[";
  for (int64_t i = 0; i < t.size(0); ++i) text += (i ? "," : "") + json_list(t[i]);
  return text + "]";
}

std::vector<double> python_reference(const Batch& b, const config::LossConfig& c) {
  const auto dir = std::filesystem::temp_directory_path() / fmt::format("tf_ps_ref_{}", getpid());
  std::filesystem::create_directories(dir);
  const auto path = (dir / "batch.json").string();
  const auto script = (dir / "reference.py").string();
  std::ofstream(script) << kReferenceScript;
  std::ofstream(path) << fmt::format(
      R"({{"hidden":{},"weight":{},"is_element":{},"dist":{},"token":{},"value":{},)"
      R"("config":{{"soft_targets":{},"temperature":{},"regression":"{}","smooth_l1_beta":{},)"
      R"("tf":{},"ps":{},"reg":{},"plcc":{},"element":{}}}}})",
      json_matrix(b.hidden), json_matrix(b.weight), json_list(b.targets.is_element.to(torch::kInt)),
      json_matrix(b.targets.target_dist), json_list(b.targets.target_token),
      json_list(b.targets.target_value), c.soft_targets ? "true" : "false", c.temperature,
      c.regression, c.smooth_l1_beta, c.tf_weight, c.ps_weight, c.regression_weight, c.plcc_weight,
      c.element_weight);
  FILE* pipe =
      popen(fmt::format("{} {} {}", TOKENFOCUS_REFERENCE_PYTHON, script, path).c_str(), "r");
  std::vector<double> out(6, NAN);
  if (pipe) {
    for (auto& x : out)
      if (std::fscanf(pipe, "%lf", &x) != 1) break;
    pclose(pipe);
  }
  std::filesystem::remove_all(dir);
  return out;
}

void expect_matches_reference(const Batch& b, const config::LossConfig& c) {
  const auto terms = TfPsLoss(c, b.overall, b.element)(b.hidden, b.weight, b.targets);
  const auto ref = python_reference(b, c);
  // Double precision throughout; the only non-rounding difference is PLCC's ε = 1e-6 against
  // scipy's exact r, which moves r by ~ε/var(ŝ) (var(ŝ) ~ 0.1 here): tolerance 1e-4 for it.
  EXPECT_NEAR(terms.tf, ref[1], 1e-10);
  EXPECT_NEAR(terms.ps, ref[2], 1e-10);
  EXPECT_NEAR(terms.regression, ref[3], 1e-10);
  EXPECT_NEAR(terms.plcc, ref[4], 1e-4);
  EXPECT_NEAR(terms.element, ref[5], 1e-10);
  EXPECT_NEAR(terms.total, ref[0], 1e-4);
  EXPECT_NEAR(terms.objective.item<double>(), terms.total, 1e-12);
}

TEST(TfPsLoss, MatchesPyTorchFunctionalReferenceSoftTargets) {
  expect_matches_reference(Batch(), all_terms());
}

TEST(TfPsLoss, MatchesPyTorchFunctionalReferenceHardTargetsSmoothL1) {
  auto c = all_terms();
  c.soft_targets = false;
  c.regression = "smooth_l1";
  c.smooth_l1_beta = 0.3;
  expect_matches_reference(Batch(torch::kFloat64, 11), c);
}

TEST(TfPsLoss, UnknownTargetValuesAreLeftOutOfRegressionAndPlcc) {
  Batch b;
  b.targets.target_value[2] = std::numeric_limits<double>::quiet_NaN();
  b.targets.target_value[4] = std::numeric_limits<double>::quiet_NaN();
  expect_matches_reference(b, all_terms());
  const auto terms = TfPsLoss(all_terms(), b.overall, b.element)(b.hidden, b.weight, b.targets);
  EXPECT_TRUE(std::isfinite(terms.total));
  EXPECT_EQ(terms.overall_questions, 4);
  EXPECT_EQ(terms.element_questions, 2);
}

// Row weights are weighted means: a weight of 2 is the row twice, a weight of 0 the row left out
// (PLCC, unweighted by design, is off here: duplicating a row would change it).
TEST(TfPsLoss, RowWeightsEqualRepeatingAndDroppingRows) {
  auto c = all_terms();
  c.plcc_weight = 0;
  const Batch b;
  QuestionTargets weighted = b.targets;
  weighted.weight = torch::tensor({2.0f, 1.0f, 1.0f, 0.0f, 1.0f, 1.0f});  // row 0 twice, row 3 out
  const std::vector<int64_t> order = {0, 0, 1, 2, 4, 5};
  const auto rows = torch::tensor(order, torch::kInt64);
  QuestionTargets expanded{b.targets.is_element.index_select(0, rows),
                           b.targets.target_token.index_select(0, rows),
                           b.targets.target_dist.index_select(0, rows),
                           b.targets.target_value.index_select(0, rows),
                           {}};
  const TfPsLoss loss(c, b.overall, b.element);
  auto hidden = b.hidden.clone().set_requires_grad(true);
  const auto got = loss(hidden, b.weight, weighted);
  got.objective.backward();
  auto hidden_expanded = b.hidden.index_select(0, rows).detach().set_requires_grad(true);
  const auto want = loss(hidden_expanded, b.weight, expanded);
  want.objective.backward();
  EXPECT_NEAR(got.total, want.total, 1e-12);
  EXPECT_NEAR(got.tf, want.tf, 1e-12);
  EXPECT_NEAR(got.element_ps, want.element_ps, 1e-12);
  EXPECT_NEAR(got.regression, want.regression, 1e-12);
  // The gradient of a row used twice is the sum of its copies' gradients; the dropped row's is 0.
  const auto g = hidden_expanded.grad();
  EXPECT_LT((hidden.grad()[0] - (g[0] + g[1])).abs().max().item<double>(), 1e-12);
  EXPECT_LT((hidden.grad()[2] - g[3]).abs().max().item<double>(), 1e-12);
  EXPECT_EQ(hidden.grad()[3].abs().max().item<double>(), 0.0);
  // Every weight 0: no term, no NaN.
  weighted.weight = torch::zeros({6});
  const auto none = loss(b.hidden, b.weight, weighted);
  EXPECT_EQ(none.total, 0.0);
}

TEST(TfPsLoss, EachWeightSwitchesItsTermOff) {
  const Batch b;
  const auto full = TfPsLoss(all_terms(), b.overall, b.element)(b.hidden, b.weight, b.targets);
  for (int term = 0; term < 5; ++term) {
    auto c = all_terms();
    double removed = 0;
    switch (term) {
      case 0:
        c.tf_weight = 0, removed = 0.7 * full.tf + 0.5 * 0.7 * full.element_tf;
        break;
      case 1:
        c.ps_weight = 0, removed = 1.3 * full.ps + 0.5 * 1.3 * full.element_ps;
        break;
      case 2:
        c.regression_weight = 0,
        removed = 0.4 * full.regression + 0.5 * 0.4 * full.element_regression;
        break;
      case 3:
        c.plcc_weight = 0, removed = 0.6 * full.plcc;
        break;
      case 4:
        c.element_weight = 0, removed = 0.5 * full.element;
        break;
    }
    const auto part = TfPsLoss(c, b.overall, b.element)(b.hidden, b.weight, b.targets);
    EXPECT_NEAR(part.total, full.total - removed, 1e-12) << "term " << term;
    EXPECT_NEAR(part.objective.item<double>(), part.total, 1e-12) << "term " << term;
  }
}

TEST(TfPsLoss, GradientsMatchFiniteDifferences) {
  for (bool soft : {true, false}) {
    auto c = all_terms();
    c.soft_targets = soft;
    c.regression = soft ? "mse" : "smooth_l1";
    const Batch b;
    const TfPsLoss loss(c, b.overall, b.element);
    auto of_hidden = [&](const torch::Tensor& h) { return loss(h, b.weight, b.targets).objective; };
    auto of_weight = [&](const torch::Tensor& w) { return loss(b.hidden, w, b.targets).objective; };
    auto hidden = b.hidden.clone().set_requires_grad(true);
    auto weight = b.weight.clone().set_requires_grad(true);
    loss(hidden, weight, b.targets).objective.backward();
    // h = 1e-6 central differences in double: error ~1e-10 on O(1) gradients.
    EXPECT_LT(max_relative_error(hidden.grad(), numeric_gradient(of_hidden, b.hidden)), 1e-7);
    EXPECT_LT(max_relative_error(weight.grad(), numeric_gradient(of_weight, b.weight)), 1e-7);
    // Rows of the LM head outside both label sets get gradient only through TF's full softmax.
    EXPECT_GT(weight.grad()[0].abs().sum().item<double>(), 0.0);
  }
}

TEST(TfPsLoss, StableWithLogitsOfMagnitude1e4InFloat32) {
  Batch b(torch::kFloat);
  // Hidden rows ~1e2 and weights ~1e2 give logits of magnitude ~1e4.
  b.hidden = b.hidden * 100;
  b.weight = b.weight * 100;
  auto hidden = b.hidden.clone().set_requires_grad(true);
  auto weight = b.weight.clone().set_requires_grad(true);
  const auto logits = torch::matmul(b.hidden, b.weight.t());
  ASSERT_GT(logits.abs().max().item<float>(), 5e3);
  const auto terms = TfPsLoss(all_terms(), b.overall, b.element)(hidden, weight, b.targets);
  terms.objective.backward();
  EXPECT_TRUE(std::isfinite(terms.total));
  EXPECT_TRUE(torch::isfinite(hidden.grad()).all().item<bool>());
  EXPECT_TRUE(torch::isfinite(weight.grad()).all().item<bool>());
  // Same value as double precision up to float32 rounding of the logits (~1e4 · 6e-8 ≈ 1e-3).
  Batch d;
  d.hidden = b.hidden.to(torch::kFloat64);
  d.weight = b.weight.to(torch::kFloat64);
  d.targets = b.targets;
  const auto exact = TfPsLoss(all_terms(), d.overall, d.element)(d.hidden, d.weight, d.targets);
  EXPECT_NEAR(terms.total, exact.total, 1e-2 * std::max(1.0, std::abs(exact.total)));
}

TEST(TfPsLoss, IdenticalScoresWithPlccAreFinite) {
  Batch b;
  // Every question has the same hidden state: identical ŝ across the batch, PLCC variance 0.
  b.hidden = b.hidden[0].repeat({6, 1});
  auto c = all_terms();
  c.plcc_weight = 1.0;
  auto hidden = b.hidden.clone().set_requires_grad(true);
  const auto terms = TfPsLoss(c, b.overall, b.element)(hidden, b.weight, b.targets);
  terms.objective.backward();
  EXPECT_NEAR(terms.plcc, 1.0, 1e-12);
  EXPECT_TRUE(std::isfinite(terms.total));
  EXPECT_TRUE(torch::isfinite(hidden.grad()).all().item<bool>());
}

TEST(TfPsLoss, BatchWithoutElementQuestions) {
  Batch b;
  b.targets.is_element = torch::zeros({6}, torch::kBool);
  for (int64_t i : {1, 4}) b.targets.target_dist[i].copy_(b.targets.target_dist[0]);
  for (int64_t i : {1, 4}) b.targets.target_value[i] = b.targets.target_value[0].item<double>();
  const auto terms = TfPsLoss(all_terms(), b.overall, LabelHead{})(b.hidden, b.weight, b.targets);
  EXPECT_EQ(terms.element_questions, 0);
  EXPECT_EQ(terms.element, 0.0);
  EXPECT_TRUE(std::isfinite(terms.total));
}

TEST(TfPsLoss, HardTargetOutsideTheLabelSetIsAnError) {
  Batch b;
  b.targets.target_token[0] = 0;
  auto c = all_terms();
  c.soft_targets = false;
  EXPECT_THROW(TfPsLoss(c, b.overall, b.element)(b.hidden, b.weight, b.targets), InternalError);
}

TEST(TfPsLoss, ConfigKeysAreValidatedWithTheirPath) {
  const auto ok = config::resolve_text<config::LossConfig>(
      "regression: smooth_l1\nsmooth_l1_beta: 0.5\nplcc_epsilon: 1e-8\n", {}, "loss.yaml");
  EXPECT_EQ(ok.config.regression, "smooth_l1");
  EXPECT_DOUBLE_EQ(ok.config.plcc_epsilon, 1e-8);
  try {
    config::resolve_text<config::LossConfig>("regression: huber\n", {}, "loss.yaml");
    FAIL() << "expected a UserError";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("regression"), std::string::npos) << e.what();
  }
  EXPECT_THROW(config::resolve_text<config::LossConfig>("temperature: 0\n", {}, "loss.yaml"),
               UserError);
}

}  // namespace
}  // namespace tokenfocus::losses
