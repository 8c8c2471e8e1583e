"""Hugging Face reference for tests/gpu/qwen2_vl_gpu_test.cpp: a random small Qwen2-VL on the GPU.

    hf_gpu_reference.py --out DIR [--device cuda]

Builds a Qwen2-VL with the installed transformers (text hidden 256, 4 layers, 4 heads of 64 with 2
KV heads, vocab 512; vision 4 blocks of width 128), re-initialises its weights as
shared/golden/README.md describes (so that logits are far from uniform), saves it with
save_pretrained into DIR/model, and writes DIR/reference.safetensors with a left-padded batch of
two sequences with one image each (different grids) and, computed on the device:
  logits_fp32   eval, float32                          [B,S,V]
  logits_bf16   eval, torch.autocast(bfloat16), as f32 [B,S,V]
  loss          train mode, float32, labels = the answer tokens (mean shifted cross-entropy)
  grad_norm     L2 norm of all parameters' gradients of that loss
TF32 is off: it rounds float32 matmul/conv inputs to 10 mantissa bits (errors ~1e-3 relative, far
above the 1e-4 the C++ side checks); float32 must mean IEEE float32 on both sides.
"""

import argparse
import inspect
import json
import random
import sys
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models" / "reference"))
from golden_init import reinit_weights  # noqa: E402  (the golden models' weight scheme)

VOCAB = 512
BOS_PAD, IM_START, IM_END, VISION_START, VISION_END, IMAGE, VIDEO = range(496, 503)
GRIDS = [(1, 16, 16), (1, 14, 20)]  # (t, h, w) in patches: 64 and 70 merged image tokens
ANSWER_LABELS = 4


def build_model():
    head_dim = 64
    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=VOCAB,
            hidden_size=256,
            intermediate_size=688,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-6,
            rope_parameters=dict(rope_type="default", rope_theta=1e6, mrope_section=[8, 12, 12]),
            bos_token_id=BOS_PAD,
            eos_token_id=IM_END,
        ),
        vision_config=dict(depth=4, embed_dim=128, num_heads=4, mlp_ratio=4, hidden_size=256),
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END,
        tie_word_embeddings=False,
    )
    assert sum(config.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    config._attn_implementation = "sdpa"  # what transformers runs on a GPU by default
    model = Qwen2VLForConditionalGeneration(config)
    reinit_weights(model, seed=7)
    return model.eval()


def make_batch(rng):
    def text(lo, hi):
        return [rng.randrange(BOS_PAD) for _ in range(rng.randint(lo, hi))]

    sequences = []
    for t, h, w in GRIDS:
        answer = text(ANSWER_LABELS, ANSWER_LABELS + 2)
        ids = (
            [IM_START] + text(2, 5) + [IM_END]
            + [IM_START] + text(1, 3) + [VISION_START] + [IMAGE] * (t * h * w // 4) + [VISION_END]
            + text(3, 8) + [IM_END] + [IM_START] + answer + [IM_END]
        )
        labels = [-100] * (len(ids) - ANSWER_LABELS - 1) + ids[-ANSWER_LABELS - 1:]
        sequences.append((ids, labels))
    length = max(len(ids) for ids, _ in sequences)
    pad = [length - len(ids) for ids, _ in sequences]
    input_ids = torch.tensor([[BOS_PAD] * p + ids for p, (ids, _) in zip(pad, sequences)])
    labels = torch.tensor([[-100] * p + lab for p, (_, lab) in zip(pad, sequences)])
    attention_mask = torch.tensor([[0] * p + [1] * len(ids) for p, (ids, _) in zip(pad, sequences)])
    patches = sum(t * h * w for t, h, w in GRIDS)
    # Normalised pixel values of the processor's layout ([patches, 3·2·14·14]); their distribution
    # does not matter for a model comparison.
    pixel_values = torch.randn(patches, 3 * 2 * 14 * 14, generator=torch.Generator().manual_seed(3))
    return dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        pixel_values=pixel_values,
        image_grid_thw=torch.tensor(GRIDS),
        labels=labels,
    )


def model_inputs(model, batch, device):
    inputs = {k: batch[k].to(device) for k in ("input_ids", "attention_mask", "pixel_values", "image_grid_thw")}
    # transformers 5 finds the image spans for M-RoPE through mm_token_type_ids (1 = image token)
    if "mm_token_type_ids" in inspect.signature(model.forward).parameters:
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == IMAGE).int()
    return inputs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    transformers.utils.logging.disable_progress_bar()

    torch.manual_seed(0)
    model = build_model()
    model.save_pretrained(args.out / "model", safe_serialization=True)
    batch = make_batch(random.Random(11))
    model.to(args.device)
    inputs = model_inputs(model, batch, args.device)

    with torch.no_grad():
        logits_fp32 = model(**inputs, use_cache=False).logits.float()
        with torch.autocast(device_type=args.device, dtype=torch.bfloat16):
            logits_bf16 = model(**inputs, use_cache=False).logits.float()

    model.train()  # every dropout of this config is 0
    loss = model(**inputs, labels=batch["labels"].to(args.device), use_cache=False).loss
    loss.backward()
    grad_norm = torch.sqrt(sum(p.grad.double().pow(2).sum() for p in model.parameters() if p.grad is not None))

    tensors = dict(batch)
    tensors.update(
        logits_fp32=logits_fp32.cpu(),
        logits_bf16=logits_bf16.cpu(),
        loss=loss.detach().reshape(1).double().cpu(),
        grad_norm=grad_norm.reshape(1).cpu(),
    )
    device_name = torch.cuda.get_device_name() if args.device == "cuda" else args.device
    metadata = dict(transformers=transformers.__version__, torch=torch.__version__, device=device_name)
    save_file({k: v.contiguous() for k, v in tensors.items()}, args.out / "reference.safetensors", metadata=metadata)
    summary = dict(metadata, loss=loss.item(), grad_norm=grad_norm.item(),
                   logits_std=logits_fp32.std().item(), seq_len=batch["input_ids"].shape[1])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
