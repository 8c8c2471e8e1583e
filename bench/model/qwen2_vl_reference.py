"""Peer for bench/model: Hugging Face transformers' own Qwen2VLForConditionalGeneration (SDPA
attention, float32, train mode) loaded from the folder the C++ benchmark wrote, on the same inputs.
The loss is the cross-entropy of the last position's logits, computed the way a transformers user
would (`logits_to_keep=1`: the LM head on that position only). Prints one JSON line:
{"loss": first-step loss, "seconds_per_step": mean over the timed steps}.

usage: qwen2_vl_reference.py MODEL_DIR INPUTS.safetensors STEPS THREADS
"""
import json
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from transformers import Qwen2VLForConditionalGeneration


def main():
    model_dir, inputs_path, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32,
                                                            attn_implementation="sdpa")
    model.train()
    c = load_file(inputs_path)
    mm_token_type_ids = (c["input_ids"] == model.config.image_token_id).int()

    def step():
        model.zero_grad(set_to_none=True)
        out = model(input_ids=c["input_ids"], pixel_values=c["pixel_values"],
                    image_grid_thw=c["image_grid_thw"], mm_token_type_ids=mm_token_type_ids,
                    logits_to_keep=1, use_cache=False)
        loss = F.cross_entropy(out.logits[:, -1].float(), c["target"])
        loss.backward()
        return loss.item()

    first = step()  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(json.dumps({"loss": first, "seconds_per_step": sum(times) / len(times)}))


if __name__ == "__main__":
    main()
