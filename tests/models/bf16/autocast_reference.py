"""PyTorch's own bf16 autocast on the Hugging Face model: the outside reference of
tests/models/bf16 (bf16 frozen weights + float32 LoRA under CPU autocast).

    autocast_reference.py MODEL_DIR CASE OUT

MODEL_DIR is a float32 Hugging Face Qwen2-VL / Qwen2.5-VL folder, CASE a golden case file
(input_ids, attention_mask, pixel_values, image_grid_thw, labels). Writes into OUT:
  model/      the model cast to bfloat16 and saved with save_pretrained in three shards (the bf16
              checkpoint the C++ side loads straight into bf16)
  adapter/    a PEFT LoRA adapter (r=4, alpha=8, dropout 0, q/k/v/o/gate/up/down_proj, random B)
              made by get_peft_model on the bf16 model: PEFT keeps the factors in float32
              (autocast_adapter_dtype), the base stays bf16
  grads/      the same adapter layout holding the LoRA gradients of the bf16-autocast step
  grads_fp32/ ... and of the same step in float32 (the float32 model, no autocast)
  reference.safetensors  logits_bf16 / logits_fp32 [B,S,V] (float32), loss_bf16 / loss_fp32
The step: train mode, `with torch.autocast("cpu", dtype=torch.bfloat16): loss = model(**inputs,
labels=labels).loss` (HF's mean shifted cross-entropy), then loss.backward() outside the context,
as a training loop runs it. Attention is "sdpa", the kernel the C++ side calls.
"""
import sys
from pathlib import Path

import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def model_class(model_dir):
    model_type = AutoConfig.from_pretrained(model_dir).model_type
    return {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[model_type]


def with_lora(model):
    config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS)
    peft_model = get_peft_model(model, config)
    generator = torch.Generator().manual_seed(11)
    with torch.no_grad():  # PEFT starts B at zero: make the adapter change the outputs
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
    return peft_model


def step(model, case, autocast):
    model.train()
    model.zero_grad()
    inputs = dict(input_ids=case["input_ids"], attention_mask=case["attention_mask"],
                  pixel_values=case["pixel_values"], image_grid_thw=case["image_grid_thw"],
                  mm_token_type_ids=(case["input_ids"] == model.config.image_token_id).int())
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        out = model(**inputs, labels=case["labels"], use_cache=False)
    out.loss.backward()
    return out.logits.detach().float().contiguous(), out.loss.detach().float()


def save_grads(model, directory):
    # The gradients written where the factors were, so that they carry the adapter's own names.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(parameter.grad)
    model.save_pretrained(directory)


def main():
    model_dir, case_path, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    case = load_file(case_path)
    cls = model_class(model_dir)

    bf16 = cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa").to(torch.bfloat16)
    total = sum(p.numel() * p.element_size() for p in bf16.parameters())
    bf16.save_pretrained(out / "model", max_shard_size=total // 3 + 1)
    bf16 = cls.from_pretrained(out / "model", dtype=torch.bfloat16, attn_implementation="sdpa")
    lora = with_lora(bf16)
    dtypes = {(("lora_" in n), p.dtype) for n, p in lora.named_parameters()}
    assert dtypes == {(True, torch.float32), (False, torch.bfloat16)}, dtypes
    lora.save_pretrained(out / "adapter")
    logits_bf16, loss_bf16 = step(lora, case, autocast=True)
    save_grads(lora, out / "grads")

    fp32 = cls.from_pretrained(out / "model", dtype=torch.float32, attn_implementation="sdpa")
    lora32 = with_lora(fp32)
    logits_fp32, loss_fp32 = step(lora32, case, autocast=False)
    save_grads(lora32, out / "grads_fp32")

    save_file(dict(logits_bf16=logits_bf16, logits_fp32=logits_fp32, loss_bf16=loss_bf16.reshape(1),
                   loss_fp32=loss_fp32.reshape(1)), out / "reference.safetensors")
    print(f"autocast_reference: {cls.__name__} loss bf16 {loss_bf16.item():.6f} fp32 {loss_fp32.item():.6f}, "
          f"logits max |bf16 - fp32| {(logits_bf16 - logits_fp32).abs().max().item():.4g}")


if __name__ == "__main__":
    main()
