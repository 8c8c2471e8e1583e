"""PEFT on the Hugging Face model: the outside reference of tests/models/peft (PEFT both ways).

  peft_reference.py load  MODEL_DIR CASE ADAPTER_DIR OUT   PeftModel.from_pretrained(HF model,
                                                           ADAPTER_DIR) -> logits into OUT
  peft_reference.py make  MODEL_DIR CASE ADAPTER_DIR OUT   get_peft_model(r=4, alpha=8, q/k/v/o_proj),
                                                           random lora_B, save_pretrained(ADAPTER_DIR),
                                                           logits into OUT

MODEL_DIR is a Hugging Face Qwen2-VL folder, CASE a golden case file (input_ids, attention_mask,
pixel_values, image_grid_thw); OUT gets the full logits [B,S,V] (float32, safetensors), and the
adapter's parameter names are printed for the log.
"""
import sys

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, Qwen2_5_VLForConditionalGeneration, Qwen2VLForConditionalGeneration


def hf_model(model_dir):
    model_type = AutoConfig.from_pretrained(model_dir).model_type
    cls = {"qwen2_vl": Qwen2VLForConditionalGeneration,
           "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}[model_type]
    return cls.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager").eval()


def logits_of(model, case):
    c = load_file(case)
    image_token_id = model.config.image_token_id
    with torch.no_grad():
        out = model(input_ids=c["input_ids"], attention_mask=c["attention_mask"],
                    pixel_values=c["pixel_values"], image_grid_thw=c["image_grid_thw"],
                    mm_token_type_ids=(c["input_ids"] == image_token_id).int())
    return out.logits.float().contiguous()


def main():
    mode, model_dir, case, adapter_dir, out = sys.argv[1:6]
    base = hf_model(model_dir)
    if mode == "load":
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
    elif mode == "make":
        config = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0,
                            target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
        model = get_peft_model(base, config)
        generator = torch.Generator().manual_seed(7)
        with torch.no_grad():  # PEFT starts B at zero: make the adapter change the outputs
            for name, parameter in model.named_parameters():
                if "lora_B" in name:
                    parameter.copy_(0.05 * torch.randn(parameter.shape, generator=generator))
        model.save_pretrained(adapter_dir)
        model.eval()
    else:
        raise SystemExit(f"unknown mode {mode}")
    lora = [n for n, _ in model.named_parameters() if "lora_" in n]
    print(f"peft_reference: {len(lora)} LoRA tensors, e.g. {lora[0]}")
    save_file({"logits": logits_of(model, case)}, out)


if __name__ == "__main__":
    main()
