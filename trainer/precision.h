// Mixed precision of a run (optim.precision). fp32 (the default): every weight, activation and
// state in float32. bf16: weights that do not train (the base under LoRA, a frozen vision tower,
// everything but the head) are stored in bfloat16 while the trainable ones keep float32 master
// weights, float32 gradients and float32 AdamW state; the forward runs under bf16 autocast on the
// run's device, CPU or CUDA (matmuls and convolutions in bf16: what torch.autocast(device_type,
// dtype=torch.bfloat16) does), which a model storing bf16 weights turns on by itself
// (models/autocast.h). No loss scaling is needed. Predictions are float32 either way.
#pragma once

#include <string>

#include <torch/torch.h>

namespace tokenfocus::trainer {

// The dtype to load a backbone in for training. bf16 only where nothing that is loaded trains
// (LoRA under optim.precision bf16): the base goes straight into bf16, never through a float32
// copy. Otherwise float32, so that loaded weights that train keep every bit of the checkpoint.
// UserError naming optim.precision for a value other than fp32 / bf16.
torch::ScalarType load_dtype_for(const std::string& precision, const std::string& finetune);

// After the trainable parameters are chosen: under bf16, frozen parameters are stored in bf16 and
// trainable ones in float32; under fp32 nothing changes. Returns how many parameters changed dtype.
int store_weights_for(const std::string& precision, torch::nn::Module& module);

}  // namespace tokenfocus::trainer
