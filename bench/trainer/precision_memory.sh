#!/usr/bin/env bash
# Peak resident memory of a LoRA run of the mid-size Qwen2-VL (text 1024 x 8 layers, GQA 16/4, MLP
# 2816, vocab 8192; vision 512 x 8 blocks: 107 M parameters, the model of bench/model) in fp32 and
# in bf16 (frozen base in bf16, float32 LoRA and AdamW state, CPU autocast), through the real
# `tokenfocus train` on one rank, measured by /usr/bin/time (max RSS of the process). Prints both
# and their ratio, and the same for `tokenfocus train --help` (the process's baseline: libtorch,
# MPI) so that the growth over it can be read too. Not a test: figures only.
#
# usage: bench/trainer/precision_memory.sh BUILD_DIR [TRAIN_SAMPLES]
set -euo pipefail
build=$(readlink -f "$1")
samples=${2:-16}
exe=$build/tokenfocus
python=${PYTHON:-.venv/bin/python}
repo=$(pwd)
work=$(mktemp -d /tmp/tokenfocus-precision-memory.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$python" - "$repo/configs/models/tiny-qwen2-vl.json" "$work/mid-qwen2-vl.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(vocab_size=8192, hidden_size=1024, intermediate_size=2816, num_hidden_layers=8,
         num_attention_heads=16, num_key_value_heads=4, initializer_range=0.02)
c["rope_scaling"]["mrope_section"] = [8, 12, 12]  # head_dim 64: 32 frequency pairs
c["vision_config"].update(depth=8, embed_dim=512, num_heads=8, hidden_size=1024)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY

cat > "$work/run.yaml" <<YAML
name: precision-memory
data:
  train_records: $work/data/train.json
  test_records: $work/data/test.json
  image_root: $work/data
  synthetic: {train_samples: $samples, test_samples: 4, seed: 5}
backbones:
  - {name: tiny, model_dir: $work/models/mid, tokenizer: $work/data/tokenizer.json,
     init_config: $work/mid-qwen2-vl.json, finetune: lora,
     lora: {rank: 8, alpha: 16, dropout: 0.05,
            target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]},
     image: {min_pixels: 12544, max_pixels: 12544}}
optim: {epochs: 1, micro_batch_size: 4, lr: 0.0001}
folds: {k: 2, only: [0]}
output: {run_dir: $work/run, log_every_steps: 1}
YAML
"$exe" prepare "$work/run.yaml" > "$work/prepare.log" 2>&1

peak_mb() { awk '{printf "%.0f", $1 / 1024}' "$1"; }
/usr/bin/time -f %M -o "$work/rss-baseline" "$exe" train --help > /dev/null
for precision in fp32 bf16; do
  start=$(date +%s)
  /usr/bin/time -f %M -o "$work/rss-$precision" "$exe" train "$work/run.yaml" \
    --set optim.precision=$precision --set "output.run_dir=$work/run-$precision" \
    > "$work/train-$precision.log" 2>&1 || { cat "$work/train-$precision.log"; exit 1; }
  echo "precision $precision: peak RSS $(peak_mb "$work/rss-$precision") MB, $(( $(date +%s) - start )) s" \
       "($samples samples, 1 epoch, LoRA r 8 on attention + MLP)"
done
base=$(peak_mb "$work/rss-baseline") fp32=$(peak_mb "$work/rss-fp32") bf16=$(peak_mb "$work/rss-bf16")
awk -v b="$base" -v f="$fp32" -v h="$bf16" 'BEGIN {
  printf "baseline (train --help) %d MB\n", b
  printf "bf16 / fp32 peak RSS: %.3f; growth over the baseline: %.3f\n", h / f, (h - b) / (f - b) }'
