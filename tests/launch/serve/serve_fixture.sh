#!/usr/bin/env bash
# Usage: serve_fixture.sh TOKENFOCUS OUT_DIR [MODEL_CONFIG [PIXELS [SAMPLES]]]
# The ctest fixture of the serve tests: a synthetic dataset and a tiny Qwen2-VL trained for one
# epoch over 2 folds, so OUT_DIR/run/models/tiny/fold{0,1} are real exported scorers, plus the
# reference scores `tokenfocus score` gives for every training record with each of them.
set -euo pipefail
exe=$(readlink -f "$1")
out=$2
repo=$(pwd)
config=${3:-$repo/configs/models/tiny-qwen2-vl.json}  # bench/serve passes a larger one
pixels=${4:-3136}
samples=${5:-24}
rm -rf "$out"
mkdir -p "$out"
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
cat > "$out/run.yaml" <<YAML
name: serve-fixture
data:
  train_records: $out/data/train.json
  test_records: $out/data/test.json
  image_root: $out/data
  synthetic: {train_samples: $samples, test_samples: 4, seed: 11}
backbones:
  - {name: tiny, model_dir: $out/models/tiny, tokenizer: $out/data/tokenizer.json,
     init_config: $config, finetune: full, freeze_vision: false,
     image: {min_pixels: $pixels, max_pixels: $pixels}}
optim: {epochs: 1, micro_batch_size: 4, lr: 0.001}
folds: {k: 2}
output: {run_dir: $out/run, log_every_steps: 10}
YAML
"$exe" prepare "$out/run.yaml"
"${mpi[@]}" "$exe" --quiet train "$out/run.yaml"
for k in 0 1; do
  "$exe" score --model "$out/run/models/tiny/fold$k" --data "$out/data/train.json" \
    --device cpu --out "$out/reference_fold$k.jsonl"
done
echo "serve fixture: $(wc -l < "$out/reference_fold0.jsonl") records scored by 2 fold models"
