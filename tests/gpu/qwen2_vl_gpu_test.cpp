// Qwen2-VL forward and backward on the GPU against Hugging Face transformers on the same GPU
// (tests/gpu/hf_gpu_reference.py, run with TOKENFOCUS_REFERENCE_PYTHON): a random Qwen2-VL with
// text hidden 256 × 4 layers and a vision tower of 4 blocks × 128, saved by save_pretrained; a
// left-padded batch of two sequences whose images have different grids. At the real tokens:
// - fp32 logits within 1e-4, the golden README's tolerance for an independent fp32 implementation.
//   TF32 is off on both sides: it rounds matmul/conv inputs to a 10-bit mantissa (~5e-4 relative
//   per product), which alone would move these logits by ~1e-2;
// - bf16 autocast logits: each side's deviation from HF's fp32 logits (RMS) is bf16 rounding noise
//   (8-bit significand: up to 2^-8 ≈ 0.4 % per rounding; ~1 % of the logits' spread here). Both
//   sides round the same operands (autocast casts the same ops), so ours may be at most twice HF's
//   + 1e-3: a legitimate difference in which intermediate stays fp32 fits in that factor, an op
//   wrongly run in bf16 (a norm, the softmax, the residual stream) grows it several-fold. It must
//   also be at least a tenth of HF's, or autocast did not run;
// - one fp32 training forward + backward (train mode, labels on the answer tokens): loss within
//   1e-5 and the total gradient norm within 1e-4 relative, the golden README's training tolerances.
#include <ATen/Context.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <gtest/gtest.h>

#include "gpu_support.h"
#include "models/autocast.h"
#include "models/registry.h"
#include "models/safetensors.h"
#include "tests/support/model_case.h"

namespace tokenfocus::models {
namespace {

using gpu_testing::ScratchDir;
using gpu_testing::shell_quote;
using testing::shifted_cross_entropy;

double rms(const torch::Tensor& t) {
  return t.pow(2).mean().sqrt().item<double>();
}

TEST(GpuQwen2Vl, ForwardAndBackwardMatchTransformersOnTheSameGpu) {
  TOKENFOCUS_REQUIRE_CUDA();
  at::globalContext().setAllowTF32CuBLAS(false);
  at::globalContext().setAllowTF32CuDNN(false);
  const ScratchDir scratch("tokenfocus-gpu-qwen2-vl");
  const std::string command =
      shell_quote(TOKENFOCUS_REFERENCE_PYTHON) + " " +
      shell_quote(std::string(TOKENFOCUS_SOURCE_DIR) + "/tests/gpu/hf_gpu_reference.py") +
      " --out " + shell_quote(scratch.path().string());
  ASSERT_EQ(std::system(command.c_str()), 0) << "the Hugging Face reference failed: " << command;
  const auto reference = load_safetensors((scratch.path() / "reference.safetensors").string());

  const torch::Device cuda(torch::kCUDA, 0);
  std::shared_ptr<Backbone> model = load_backbone((scratch.path() / "model").string());
  model->to(cuda);
  const ModelInputs inputs = testing::case_inputs(reference).to(cuda);
  const torch::Tensor real = reference.at("attention_mask") == 1;
  const auto at_real = [&](const torch::Tensor& logits) {
    return logits.to(torch::kCPU, torch::kDouble).index({real});
  };
  const torch::Tensor hf_fp32 = at_real(reference.at("logits_fp32"));

  {
    torch::NoGradGuard no_grad;
    const torch::Tensor ours = at_real(model->forward_full(inputs).logits);
    const double error = (ours - hf_fp32).abs().max().item<double>();
    std::printf("[gpu-qwen2-vl] fp32 logits: max |ours - HF| = %.3g (logits std %.3f)\n", error,
                hf_fp32.std().item<double>());
    EXPECT_LE(error, 1e-4);
  }
  {
    torch::NoGradGuard no_grad;
    torch::Tensor ours;
    {
      const models::AutocastScope autocast(c10::DeviceType::CUDA, true);
      ours = at_real(model->forward_full(inputs).logits);
    }
    const double ours_error = rms(ours - hf_fp32);
    const double hf_error = rms(at_real(reference.at("logits_bf16")) - hf_fp32);
    std::printf(
        "[gpu-qwen2-vl] bf16 autocast logits vs HF fp32: RMS error ours %.4g, HF's own %.4g "
        "(ratio %.2f); max |ours - HF fp32| = %.3g\n",
        ours_error, hf_error, ours_error / hf_error, (ours - hf_fp32).abs().max().item<double>());
    EXPECT_LE(ours_error, 2.0 * hf_error + 1e-3);
    EXPECT_GE(ours_error, 0.1 * hf_error) << "bf16 autocast left the logits at fp32 accuracy";
  }
  {
    model->train();
    const torch::Tensor logits = model->forward_full(inputs).logits;
    const torch::Tensor loss = shifted_cross_entropy(logits, reference.at("labels").to(cuda));
    loss.backward();
    double squares = 0;
    for (const auto& p : model->parameters()) {
      ASSERT_TRUE(p.grad().defined()) << "a parameter got no gradient";
      squares += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
    }
    const double grad_norm = std::sqrt(squares);
    const double hf_loss = reference.at("loss").item<double>();
    const double hf_grad_norm = reference.at("grad_norm").item<double>();
    std::printf(
        "[gpu-qwen2-vl] training step: loss %.8f vs HF %.8f (|diff| %.3g); grad norm %.6f vs HF "
        "%.6f (relative %.3g)\n",
        loss.item<double>(), hf_loss, std::abs(loss.item<double>() - hf_loss), grad_norm,
        hf_grad_norm, std::abs(grad_norm - hf_grad_norm) / hf_grad_norm);
    EXPECT_NEAR(loss.item<double>(), hf_loss, 1e-5);
    EXPECT_LE(std::abs(grad_norm - hf_grad_norm), 1e-4 * hf_grad_norm);
  }
}

}  // namespace
}  // namespace tokenfocus::models
