"""Random small Qwen2-VL / Qwen2.5-VL reference cases from the installed Hugging Face transformers.

Writes ROOT/qwen2_vl/ and ROOT/qwen2_5_vl/ in the layout of shared/golden/{qwen2_vl,qwen2_5_vl}/
(see shared/golden/README.md), so the C++ parity and training tests can run on them with
TOKENFOCUS_GOLDEN_DIR=ROOT, plus ROOT/summary.json with the drawn configurations.

    make_qwen_cases.py --seed K --out ROOT [--families qwen2_vl,qwen2_5_vl]

Per family the folder holds config.json + generation_config.json (transformers 5 layout: decoder keys
in text_config, rope in rope_parameters), the weights (odd seeds: sharded, model.safetensors.index.json
+ model-0000x-of-0000y.safetensors; even seeds: one model.safetensors), preprocessor_config.json,
case_1x{h}x{w}.safetensors (one image), case_batch{B}_leftpad.safetensors (B = 2 or 3 left-padded
sequences, one image each, different sizes), train_reference.json + train_grads.safetensors.

Everything is drawn from random.Random(seed * 1000 + family_index) (family_index 0 = qwen2_vl,
1 = qwen2_5_vl); weights from torch.Generator().manual_seed(seed * 1000 + family_index).
Ranges:
  text    hidden_size {32,48,64,96}; head_dim {8,16}, num_attention_heads = hidden/head_dim (>= 2);
          num_key_value_heads = heads / r, r from {1,2,4} dividing heads; num_hidden_layers 1-3;
          intermediate_size hidden * {2,3,4}; vocab 512 (special ids 496..502 as in the golden README:
          496 bos/pad, 497 <|im_start|>, 498 <|im_end|>/eos, 499/500 vision start/end, 501 image,
          502 video); mrope_section three positive ints summing to head_dim/2 (random split);
          rope_theta {1e4, 1e6}; tie_word_embeddings false.
  vision  patch_size 14, spatial_merge_size 2, temporal_patch_size 2 (defaults);
          Qwen2-VL: depth 1-3, embed_dim {16,32,48}, num_heads 2-8 dividing embed_dim with
          head dim a multiple of 4 (the 2-D vision rope needs head_dim/4 frequencies), mlp_ratio {2,4},
          hidden_size (merger output) = text hidden;
          Qwen2.5-VL: depth 2-4, hidden_size {16,32}, intermediate_size 2x, num_heads as above,
          window_size {56,112}, fullatt_block_indexes a random non-empty proper subset of the blocks
          (so at least one block uses window attention),
          out_hidden_size = text hidden.
  images  random uint8 RGB, each side either a multiple of 28 in [28,140] or any size in [28,150]
          (the single-image case always has a side that is not a multiple of 28, so the processor
          resizes it via smart_resize); at most 10x10 patches.
  tokens  <|im_start|> sys(1-4) <|im_end|> <|im_start|> user(0-3) <vs> <image>*N <ve> user(1-6)
          <|im_end|> <|im_start|> answer(4-7) <|im_end|>, text ids < 496, N = t*h*w/4; labels on the
          last 4 answer tokens + the final <|im_end|>; batches left-padded with 496.
Model: float32, attn_implementation "eager", eval mode for the forward cases, train mode (all
dropouts 0) for the training reference.

Differences from the transformers 4.49 golden files, kept as transformers 5 computes them: position_ids
are 0 (4.49: 1) at left-padded positions, and rope_deltas = max position + 1 - number of REAL tokens
(4.49: - padded length), so they differ for padded rows; config.json nests the decoder in text_config
with rope_parameters; preprocessor_config.json has only size.{shortest,longest}_edge (no
min_pixels/max_pixels); case metadata adds "seed". Weight and gradient names are the on-disk
checkpoint names (visual.*, model.layers.*, model.embed_tokens, lm_head), as in the golden files.
"""

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import (
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
)
from transformers.core_model_loading import revert_weight_conversion
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.vision_utils import get_vision_window_index

from golden_init import reinit_weights  # the golden models' weight scheme (same folder)

FAMILIES = ["qwen2_vl", "qwen2_5_vl"]
MODEL_CLASSES = {"qwen2_vl": Qwen2VLForConditionalGeneration, "qwen2_5_vl": Qwen2_5_VLForConditionalGeneration}
CONFIG_CLASSES = {"qwen2_vl": Qwen2VLConfig, "qwen2_5_vl": Qwen2_5_VLConfig}

VOCAB = 512
BOS_PAD, IM_START, IM_END, VISION_START, VISION_END, IMAGE, VIDEO = range(496, 503)
ANSWER_LABELS = 4  # labelled answer tokens before the final <|im_end|>
LOSS_DEFINITION = (
    "mean token cross-entropy over shifted labels (labels[...,1:] vs logits[...,:-1]), ignore_index=-100"
)


# ---------------------------------------------------------------- configuration


def vision_heads(rng, dim):
    # head dim a multiple of 4: the vision rope splits it into h/w halves of cos/sin pairs
    return rng.choice([h for h in range(2, 9) if dim % h == 0 and (dim // h) % 4 == 0])


def draw_config(family, rng):
    hidden = rng.choice([32, 48, 64, 96])
    head_dim = rng.choice([8, 16])
    heads = hidden // head_dim
    kv_ratio = rng.choice([r for r in (1, 2, 4) if heads % r == 0])
    cut = sorted(rng.sample(range(1, head_dim // 2), 2))
    text = dict(
        vocab_size=VOCAB,
        hidden_size=hidden,
        intermediate_size=hidden * rng.randint(2, 4),
        num_hidden_layers=rng.randint(1, 3),
        num_attention_heads=heads,
        num_key_value_heads=heads // kv_ratio,
        rms_norm_eps=1e-6,
        rope_parameters=dict(
            rope_type="default",
            rope_theta=rng.choice([1e4, 1e6]),
            mrope_section=[cut[0], cut[1] - cut[0], head_dim // 2 - cut[1]],
        ),
        bos_token_id=BOS_PAD,
        eos_token_id=IM_END,
    )
    if family == "qwen2_vl":
        embed = rng.choice([16, 32, 48])
        vision = dict(
            depth=rng.randint(1, 3),
            embed_dim=embed,
            num_heads=vision_heads(rng, embed),
            mlp_ratio=rng.choice([2, 4]),
            hidden_size=hidden,
        )
    else:
        depth = rng.randint(2, 4)
        width = rng.choice([16, 32])
        vision = dict(
            depth=depth,
            hidden_size=width,
            intermediate_size=2 * width,
            num_heads=vision_heads(rng, width),
            window_size=rng.choice([56, 112]),
            fullatt_block_indexes=sorted(rng.sample(range(depth), rng.randint(1, depth - 1))),  # >= 1 window block
            out_hidden_size=hidden,
        )
    return dict(text_config=text, vision_config=vision)


def build_model(family, drawn, weight_seed):
    config = CONFIG_CLASSES[family](
        **drawn,
        image_token_id=IMAGE,
        video_token_id=VIDEO,
        vision_start_token_id=VISION_START,
        vision_end_token_id=VISION_END,
        tie_word_embeddings=False,
    )
    config._attn_implementation = "eager"  # propagates to text_config and vision_config
    model = MODEL_CLASSES[family](config)
    reinit_weights(model, weight_seed)
    return model.eval()


# ---------------------------------------------------------------- inputs


def draw_side(rng, exact):
    return 28 * rng.randint(1, 5) if exact else rng.randint(28, 150)


def draw_image(rng, force_resize):
    while True:
        height = draw_side(rng, exact=not force_resize and rng.random() < 0.5)
        width = draw_side(rng, exact=not force_resize and rng.random() < 0.5)
        if not force_resize or height % 28 or width % 28:
            return np.frombuffer(rng.randbytes(height * width * 3), dtype=np.uint8).reshape(height, width, 3).copy()


def process_images(processor, images):
    out = processor(images=list(images), return_tensors="pt")
    return out["pixel_values"], out["image_grid_thw"]


def draw_sequence(rng, image_tokens):
    def text(lo, hi):
        return [rng.randrange(BOS_PAD) for _ in range(rng.randint(lo, hi))]

    answer = text(ANSWER_LABELS, ANSWER_LABELS + 3)
    ids = (
        [IM_START] + text(1, 4) + [IM_END]
        + [IM_START] + text(0, 3) + [VISION_START] + [IMAGE] * image_tokens + [VISION_END] + text(1, 6) + [IM_END]
        + [IM_START] + answer + [IM_END]
    )
    labels = [-100] * (len(ids) - ANSWER_LABELS - 1) + ids[-ANSWER_LABELS - 1:]
    return ids, labels


def left_pad_batch(sequences):
    length = max(len(ids) for ids, _ in sequences)
    input_ids, labels, mask = [], [], []
    for ids, seq_labels in sequences:
        pad = length - len(ids)
        input_ids.append([BOS_PAD] * pad + ids)
        labels.append([-100] * pad + seq_labels)
        mask.append([0] * pad + [1] * len(ids))
    return torch.tensor(input_ids), torch.tensor(mask), torch.tensor(labels)


def draw_case(rng, processor, num_sequences):
    images = [draw_image(rng, force_resize=num_sequences == 1)]
    pixel_values, grid = process_images(processor, images)
    while len(images) < num_sequences:  # batch images: each a different grid
        candidate = draw_image(rng, force_resize=False)
        candidate_pixels, candidate_grid = process_images(processor, [candidate])
        if not (candidate_grid == grid).all(-1).any():
            images.append(candidate)
            pixel_values = torch.cat([pixel_values, candidate_pixels])
            grid = torch.cat([grid, candidate_grid])
    sequences = [draw_sequence(rng, int(g.prod()) // 4) for g in grid]
    input_ids, attention_mask, labels = left_pad_batch(sequences)
    case = dict(
        input_ids=input_ids,
        attention_mask=attention_mask,
        pixel_values=pixel_values,
        image_grid_thw=grid,
        labels=labels,
    )
    case.update({f"image_{i}_hwc_uint8": torch.from_numpy(image) for i, image in enumerate(images)})
    return case


def model_inputs(case):
    # transformers 5 finds image spans for M-RoPE through mm_token_type_ids (0 text, 1 image)
    return dict(
        input_ids=case["input_ids"],
        attention_mask=case["attention_mask"],
        pixel_values=case["pixel_values"],
        image_grid_thw=case["image_grid_thw"],
        mm_token_type_ids=(case["input_ids"] == IMAGE).int(),
    )


# ---------------------------------------------------------------- reference tensors


def rope_tensors(model, case):
    # stored exactly as transformers 5 returns them (padding conventions differ from 4.49, see top)
    inputs = model_inputs(case)
    position_ids, rope_deltas = model.model.get_rope_index(
        inputs["input_ids"],
        inputs["mm_token_type_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )
    return dict(position_ids=position_ids, rope_deltas=rope_deltas)


def vision_tensors(family, model, case):
    visual = model.model.visual
    captured = {}

    def keep(name):
        return lambda module, args, output: captured.__setitem__(name, output.detach().clone())

    hooks = [visual.patch_embed.register_forward_hook(keep("vision_patch_embed"))]
    hooks += [block.register_forward_hook(keep(f"vision_block_{k}")) for k, block in enumerate(visual.blocks)]
    hooks.append(visual.merger.register_forward_hook(keep("vision_merger_raw")))
    grid = case["image_grid_thw"]
    with torch.no_grad():
        captured["image_embeds"] = visual(case["pixel_values"], grid_thw=grid).pooler_output
    for hook in hooks:
        hook.remove()
    if family == "qwen2_5_vl":
        config = visual.config
        window_index, cu_window_seqlens = get_vision_window_index(
            grid, config.spatial_merge_size, config.window_size, config.patch_size
        )
        captured["vision_window_index"] = window_index
        captured["vision_cu_window_seqlens"] = cu_window_seqlens.long()  # HF int32, golden I64
    return captured


def text_tensors(model, case):
    with torch.no_grad():
        out = model(**model_inputs(case), labels=case["labels"], output_hidden_states=True, use_cache=False)
    return dict(
        text_hidden_states=torch.stack(out.hidden_states),
        logits=out.logits,
        loss=out.loss.reshape(1),
    )


def case_tensors(family, model, case):
    tensors = dict(case)
    tensors.update(rope_tensors(model, case))
    tensors.update(vision_tensors(family, model, case))
    tensors.update(text_tensors(model, case))
    return {name: tensor.contiguous() for name, tensor in tensors.items()}


def disk_name(model, name, param):
    # save_pretrained writes the original checkpoint names (e.g. model.language_model.x -> model.x,
    # model.visual.x -> visual.x); the C++ loader and the golden files use those.
    (renamed,) = revert_weight_conversion(model, {name: param}).keys()
    return renamed


def training_reference(model, case, case_file):
    model.train()
    model.zero_grad()
    loss = model(**model_inputs(case), labels=case["labels"], use_cache=False).loss
    loss.backward()
    model.eval()
    grads = {disk_name(model, name, p): p.grad.detach().clone() for name, p in model.named_parameters()
             if p.grad is not None}
    norms = {name: grad.norm().item() for name, grad in grads.items()}
    reference = dict(
        case_file=case_file,
        loss=loss.item(),
        loss_definition=LOSS_DEFINITION,
        total_grad_norm=sum(n * n for n in norms.values()) ** 0.5,
        grad_norms=norms,
        params_without_grad=[disk_name(model, name, p) for name, p in model.named_parameters() if p.grad is None],
    )
    return reference, grads


# ---------------------------------------------------------------- output


def save_weights(model, directory, seed):
    if seed % 2:  # odd seeds exercise the sharded layout (index + several shards)
        total = sum(p.numel() * p.element_size() for p in model.parameters())
        model.save_pretrained(directory, safe_serialization=True, max_shard_size=total // 3)
    else:
        model.save_pretrained(directory, safe_serialization=True)


def write_family(family, seed, root):
    family_index = FAMILIES.index(family)
    rng = random.Random(seed * 1000 + family_index)
    drawn = draw_config(family, rng)
    model = build_model(family, drawn, weight_seed=seed * 1000 + family_index)
    directory = root / family
    save_weights(model, directory, seed)
    processor = Qwen2VLImageProcessorPil()
    processor.save_pretrained(directory)

    metadata = dict(family=family, transformers=transformers.__version__, padding_side="left", seed=str(seed))
    summary = dict(config=drawn, sharded=bool(seed % 2), cases={})
    inputs = {}
    for num_sequences in (1, rng.randint(2, 3)):
        case = draw_case(rng, processor, num_sequences)
        t, h, w = case["image_grid_thw"][0].tolist()
        name = f"case_{t}x{h}x{w}" if num_sequences == 1 else f"case_batch{num_sequences}_leftpad"
        tensors = case_tensors(family, model, case)
        save_file(tensors, directory / f"{name}.safetensors", metadata=metadata)
        inputs[name] = case
        summary["cases"][name] = dict(
            image_sizes=[list(case[f"image_{i}_hwc_uint8"].shape[:2]) for i in range(num_sequences)],
            grids=case["image_grid_thw"].tolist(),
            seq_len=case["input_ids"].shape[1],
            loss=tensors["loss"].item(),
        )

    train_case = next(iter(inputs))  # the single-image case, as in the golden folders
    reference, grads = training_reference(model, inputs[train_case], f"{train_case}.safetensors")
    (directory / "train_reference.json").write_text(json.dumps(reference, indent=1) + "\n")
    save_file(grads, directory / "train_grads.safetensors", metadata={"loss": repr(reference["loss"])})
    summary["train_loss"] = reference["loss"]
    return summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    families = args.families.split(",")
    unknown = set(families) - set(FAMILIES)
    if unknown:
        parser.error(f"unknown families {sorted(unknown)} (known: {FAMILIES})")
    transformers.utils.logging.disable_progress_bar()
    summary = dict(seed=args.seed, transformers=transformers.__version__, torch=torch.__version__)
    summary.update({family: write_family(family, args.seed, args.out) for family in families})
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
