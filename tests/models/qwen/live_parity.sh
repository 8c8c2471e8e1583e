#!/usr/bin/env bash
# Property test against the installed transformers: make_qwen_cases.py draws a random small
# Qwen2-VL and Qwen2.5-VL for SEED (sizes, heads, GQA ratio, layers, M-RoPE sections, vision
# depth/width, image sizes, a left-padded batch), saves them with save_pretrained and computes
# every reference tensor; then the golden parity suites of test_models_qwen run unchanged on those
# folders (TOKENFOCUS_GOLDEN_DIR): logits, hidden states, vision intermediates, image embeddings,
# position ids and rope deltas, the processor's pixel values, one training step's loss and
# gradients.
# usage: live_parity.sh TEST_BINARY PYTHON SEED
set -euo pipefail
binary=$1 python=$2 seed=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tokenfocus_live_parity_${seed}_XXXXXX")
trap 'rm -rf "$scratch"' EXIT
"$python" tests/models/reference/make_qwen_cases.py --seed "$seed" --out "$scratch"
echo "live_parity: seed $seed: $(cat "$scratch/summary.json")"
TOKENFOCUS_GOLDEN_DIR=$scratch "$binary" \
  --gtest_filter='GoldenCases.*:Golden/GoldenCaseTest.*:Golden/TrainingReferenceTest.*' --gtest_brief=1
