"""The training peer of bench/trainer/run_ddp_peer.sh: Hugging Face transformers' Qwen2-VL trained
with torch.nn.parallel.DistributedDataParallel (gloo), one process per rank, one thread each, on the
same model folder, records, images and token sequences as `mpirun -np N tokenfocus train`.

Each sample is the sequence our batch builder makes for the overall question (Qwen chat template
without a system turn, the image's <|image_pad|> tokens, the question, the assistant prefix),
tokenised with the Rust `tokenizers` on the run's tokenizer.json; images go through transformers'
Qwen2-VL image processor (PIL) inside the step, as ours are decoded inside the step. The loss is the
cross-entropy of the answer position's logits against round(MOS) (`logits_to_keep=1`); gradients
clipped to norm 1 and fused AdamW, as transformers' Trainer does by default and as ours.

usage (one process per rank, RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT set):
  peer_hf_ddp.py MODEL_DIR RECORDS.json IMAGE_ROOT TOKENIZER.json QUESTION PIXELS MICRO_BATCH STEPS
Rank 0 prints one JSON line: {"samples_per_s", "steps", "world_size", "mean_tokens"}.
"""
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from tokenizers import Tokenizer
from transformers import Qwen2VLForConditionalGeneration
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil


def main():
    model_dir, records_path, image_root, tokenizer_path, question, pixels, micro, steps = sys.argv[1:9]
    pixels, micro, steps = int(pixels), int(micro), int(steps)
    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()

    model = Qwen2VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32,
                                                            attn_implementation="sdpa")
    model.train()
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    # As transformers' Trainer by default (optim "adamw_torch_fused", max_grad_norm 1.0) and as ours.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
    tokenizer = Tokenizer.from_file(tokenizer_path)
    processor = Qwen2VLImageProcessorPil(min_pixels=pixels, max_pixels=pixels)
    records = json.load(open(records_path))
    image_token = model.config.image_token_id
    pad = model.config.text_config.bos_token_id  # transformers 5 keeps decoder ids in text_config
    digits = [tokenizer.token_to_id(str(d)) for d in range(1, 6)]

    def sample(record):
        image = Image.open(os.path.join(image_root, record["img_path"])).convert("RGB")
        processed = processor(images=[image], return_tensors="pt")
        grid = processed["image_grid_thw"]
        n = int(grid.prod()) // 4
        text = ("<|im_start|>user\n<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>" +
                question.replace("{prompt}", record["prompt"]) + "<|im_end|>\n<|im_start|>assistant\n")
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        target = digits[int(np.clip(round(float(np.mean(record["total_score"]))), 1, 5)) - 1]
        return ids, processed["pixel_values"], grid, target

    def batch(step):
        start = (step * world + rank) * micro
        items = [sample(records[(start + i) % len(records)]) for i in range(micro)]
        length = max(len(ids) for ids, _, _, _ in items)
        input_ids = torch.full((micro, length), pad, dtype=torch.long)
        mask = torch.zeros((micro, length), dtype=torch.long)
        for row, (ids, _, _, _) in enumerate(items):  # left padding, as our batch builder
            input_ids[row, length - len(ids):] = torch.tensor(ids)
            mask[row, length - len(ids):] = 1
        return (input_ids, mask, torch.cat([p for _, p, _, _ in items]),
                torch.cat([g for _, _, g, _ in items]), torch.tensor([t for *_, t in items]))

    def train_step(step):
        input_ids, mask, pixel_values, grid, target = batch(step)
        out = ddp(input_ids=input_ids, attention_mask=mask, pixel_values=pixel_values,
                  image_grid_thw=grid, mm_token_type_ids=(input_ids == image_token).int(),
                  logits_to_keep=1, use_cache=False)
        loss = F.cross_entropy(out.logits[:, -1].float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return int(mask.sum())

    train_step(0)  # warm-up
    dist.barrier()
    begin = time.perf_counter()
    tokens = sum(train_step(step) for step in range(1, steps + 1))
    dist.barrier()
    seconds = time.perf_counter() - begin
    if rank == 0:
        print(json.dumps({"samples_per_s": steps * micro * world / seconds, "steps": steps,
                          "world_size": world, "mean_tokens": tokens / (steps * micro)}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
