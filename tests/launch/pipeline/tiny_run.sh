# Sourced by the pipeline tests, which are called as SCRIPT TOKENFOCUS PYTHON from the repository
# root:  source "$(dirname "$0")/tiny_run.sh" NAME "$@"
# Sets exe, python and work (a scratch folder removed on exit), and defines the pieces of a small
# run on the synthetic set that each of them starts from (36 training images, 3 folds, one epoch,
# a tiny Qwen2-VL made from scratch):
#   tiny_run_sections WORK [TEST_SAMPLES]  the data, optim, folds and ensemble sections
#   tiny_backbone WORK                     the keys of one tiny backbone, for {name: N, $(...)}
set -euo pipefail
exe=$(readlink -f "$2")
python=$3
work=$(mktemp -d "/tmp/tokenfocus-$1.XXXXXX")
trap 'rm -rf "$work"' EXIT

tiny_run_sections() {
  local work=$1 test_samples=${2:-6}
  cat <<YAML
data:
  train_records: $work/data/train.json
  test_records: $work/data/test.json
  image_root: $work/data
  synthetic: {train_samples: 36, test_samples: $test_samples, seed: 5}
optim: {epochs: 1, micro_batch_size: 4, lr: 0.001}
folds: {k: 3}
ensemble: {bootstrap_samples: 50}
YAML
}
tiny_backbone() {
  local work=$1 repo
  repo=$(pwd)
  echo "model_dir: $work/models/tiny, tokenizer: $work/data/tokenizer.json,
     init_config: $repo/configs/models/tiny-qwen2-vl.json, finetune: full, freeze_vision: false,
     image: {min_pixels: 3136, max_pixels: 3136}"
}
