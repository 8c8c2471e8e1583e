"""The weight initialisation of the golden reference models (shared/golden/README.md), shared by the
scripts that build Hugging Face models at random: transformers' default init (std 0.02) gives
near-uniform logits, this one gives logits of std ~1, so that comparisons see real differences."""
import torch


@torch.no_grad()
def reinit_weights(model, seed):
    """Re-draws every parameter from torch.Generator().manual_seed(seed), in named_parameters()
    order: embed_tokens N(0, 1), biases N(0, 0.05^2), 1-D (norm) weights 1 + N(0, 0.1^2), matrices
    and conv kernels N(0, 1/fan_in) with fan_in = everything but the output dimension."""
    generator = torch.Generator().manual_seed(seed)
    for name, param in model.named_parameters():
        noise = torch.randn(param.shape, generator=generator)
        if "embed_tokens" in name:
            param.copy_(noise)
        elif name.endswith("bias"):
            param.copy_(0.05 * noise)
        elif param.dim() == 1:
            param.copy_(1.0 + 0.1 * noise)
        else:
            param.copy_(noise / param[0].numel() ** 0.5)
