"""A Qwen2-VL checkpoint of over 500 MB in bfloat16, saved by transformers in shards: what
tests/models/bf16/load_memory_test.cpp loads to measure peak memory.

    make_large_checkpoint.py OUT

Decoder: hidden 2048, 4 layers, 16 heads, MLP 5632, vocab 16384, untied head; a one-block vision
tower. About 274 M parameters = 548 MB in bf16, written by save_pretrained(max_shard_size="100MB")
(six shards + model.safetensors.index.json). Weights are random (transformers' own init).
"""
import sys

import torch
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration


def main():
    out = sys.argv[1]
    config = Qwen2VLConfig(
        text_config=dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=4,
                         num_attention_heads=16, num_key_value_heads=16, vocab_size=16384,
                         max_position_embeddings=4096, rope_parameters=dict(rope_type="default",
                         rope_theta=1e6, mrope_section=[16, 24, 24])),
        vision_config=dict(depth=1, embed_dim=64, num_heads=4, hidden_size=2048, mlp_ratio=2),
        image_token_id=16000, video_token_id=16001, vision_start_token_id=16002,
        vision_end_token_id=16003, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(out, max_shard_size="100MB")
    total = sum(p.numel() for p in model.parameters())
    print(f"make_large_checkpoint: {total / 1e6:.1f} M parameters, {2 * total / 1e6:.0f} MB bf16")


if __name__ == "__main__":
    main()
