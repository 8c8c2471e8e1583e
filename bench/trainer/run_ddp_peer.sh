#!/usr/bin/env bash
# Training throughput against the transformers + DistributedDataParallel peer, same run, same
# machine: `mpirun -np 2 tokenfocus train` and bench/trainer/peer_hf_ddp.py (gloo), 2 ranks ×
# micro-batch 2, one thread each, on the same Qwen2-VL (hidden 256, 4 layers, vision 4 × 128) at
# 224-px images, with vocabularies of 512 and 151,936, the same records and token sequences.
# Prints samples/s of both and the ratio. A benchmark, not a test: no assertions.
# usage: bench/trainer/run_ddp_peer.sh [BUILD_DIR] [SAMPLES]   (from the repository root)
set -euo pipefail
build=${1:-build}
samples=${2:-96}
python=${TOKENFOCUS_REFERENCE_PYTHON:-.venv/bin/python}
flags="--oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && flags="$flags --allow-run-as-root"
work=$(mktemp -d "${TMPDIR:-/tmp}/tokenfocus_ddp_peer_XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT  # KEEP=1 keeps the logs
question='Does this image match "{prompt}"? Rate from 1 to 5.'
pixels=50176  # 224 × 224: 16 × 16 patches, 64 image tokens

# Twice as many records as one fold trains on: folds.k 2 gives each training run `samples` rows.
"$build/tokenfocus" -q data synth --out "$work/data" --n $((2 * samples)) --test 2 --size 224 --seed 1

for vocab in 512 151936; do
  cat > "$work/model_$vocab.json" <<JSON
{"architectures": ["Qwen2VLForConditionalGeneration"], "model_type": "qwen2_vl",
 "bos_token_id": 502, "eos_token_id": 504, "vision_start_token_id": 505, "vision_end_token_id": 506,
 "image_token_id": 507, "video_token_id": 508, "vocab_size": $vocab, "hidden_size": 256,
 "intermediate_size": 1024, "num_hidden_layers": 4, "num_attention_heads": 4,
 "num_key_value_heads": 2, "hidden_act": "silu", "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
 "rope_scaling": {"type": "mrope", "mrope_section": [8, 12, 12]}, "tie_word_embeddings": false,
 "initializer_range": 0.02, "torch_dtype": "float32",
 "vision_config": {"model_type": "qwen2_vl", "depth": 4, "embed_dim": 128, "hidden_size": 256,
                   "num_heads": 4, "mlp_ratio": 4, "hidden_act": "quick_gelu", "patch_size": 14,
                   "spatial_merge_size": 2, "temporal_patch_size": 2, "in_channels": 3}}
JSON
  model="$work/model_$vocab"
  "$build/tokenfocus" -q model init --config "$work/model_$vocab.json" --out "$model" --seed 0
  cat > "$work/run_$vocab.yaml" <<YAML
name: ddp-peer-$vocab
seed: 0
data: {train_records: $work/data/train.json, test_records: $work/data/test.json, image_root: $work/data}
backbones:
  - {name: qwen2-vl, model_dir: $model, tokenizer: $work/data/tokenizer.json, finetune: full,
     freeze_vision: false, image: {min_pixels: $pixels, max_pixels: $pixels}}
prompt: {system_message: "", overall_question: '$question', element_questions: false}
optim: {lr: 0.0001, epochs: 1, micro_batch_size: 2, warmup_ratio: 0.0}
distributed: {backend: mpi, threads_per_rank: 1}
folds: {k: 2, only: [0]}
output: {run_dir: $work/run_$vocab, log_every_steps: 1}
YAML
  log="$work/ours_$vocab.log"
  mpirun -np 2 $flags "$build/tokenfocus" train "$work/run_$vocab.yaml" --fold 0 > "$log" 2>&1 ||
    { cat "$log"; exit 1; }
  # Each step logs its own samples/s (4 samples a step); the first step is the warm-up, as the
  # peer's untimed first step.
  ours=$(sed -n 's/.* step [0-9]*\/[0-9]* loss [0-9.e+-]* \([0-9.]*\) samples\/s.*/\1/p' "$log" |
    awk 'NR > 1 { seconds += 1 / $1; n++ } END { if (n) printf "%.3f", n / seconds }')
  [ -n "$ours" ] || { echo "no samples/s lines in the training log:" >&2; tail -20 "$log" >&2; exit 1; }
  steps=$((samples / 4))
  peer_out="$work/peer_$vocab.json"
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((29500 + vocab % 1000)) \
      OMP_NUM_THREADS=1 "$python" bench/trainer/peer_hf_ddp.py "$model" "$work/data/train.json" \
      "$work/data" "$work/data/tokenizer.json" "$question" $pixels 2 $steps > "$work/peer_$vocab.$rank" 2>&1 &
  done
  wait
  grep -h samples_per_s "$work/peer_$vocab.0" > "$peer_out" || { cat "$work"/peer_$vocab.*; exit 1; }
  peer=$("$python" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['samples_per_s'], 3))" "$peer_out")
  tokens=$("$python" -c "import json,sys; print(round(json.load(open(sys.argv[1]))['mean_tokens'], 1))" "$peer_out")
  echo "vocab $vocab: tokenfocus $ours samples/s, transformers+DDP $peer samples/s" \
       "(${tokens} tokens/sample, $steps steps of 2 x 2), ratio ours/peer" \
       "$("$python" -c "print(round($ours / $peer, 2))")"
done
