#!/usr/bin/env bash
# Usage: train_end_to_end.sh TOKENFOCUS PYTHON
set -euo pipefail
exe=$(readlink -f "$1")
python=$2
repo=$(pwd)
work=$(mktemp -d /tmp/tokenfocus-train-e2e.XXXXXX)
trap 'rm -rf "$work"' EXIT
mpi=(mpirun -np 2 --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

cat > "$work/run.yaml" <<YAML
name: e2e
data:
  train_records: $work/data/train.json
  test_records: $work/data/test.json
  image_root: $work/data
  synthetic: {train_samples: 36, test_samples: 8, seed: 5}
backbones:
  - {name: tiny, model_dir: $work/models/tiny, tokenizer: $work/data/tokenizer.json,
     init_config: $repo/configs/models/tiny-qwen2-vl.json, finetune: full, freeze_vision: false,
     image: {min_pixels: 3136, max_pixels: 3136}}
optim: {epochs: 1, micro_batch_size: 4, lr: 0.001}
folds: {k: 2}
output: {run_dir: $work/run, log_every_steps: 1}
YAML

"$exe" prepare "$work/run.yaml"
"${mpi[@]}" "$exe" train "$work/run.yaml" 2>&1 | tee "$work/train.log"
"$python" - "$work/run" <<'PY'
import sys, h5py, numpy as np, json
run = sys.argv[1]
train = json.load(open(run + "/../data/train.json"))
test = json.load(open(run + "/../data/test.json"))
oof_keys = []
for k in (0, 1):
    with h5py.File(f"{run}/predictions/tiny/fold{k}.h5", "r") as f:
        assert f.attrs["schema_version"] == 1, dict(f.attrs)
        oof = f["oof"]
        keys = [x.decode() if isinstance(x, bytes) else x for x in oof["keys"][()]]
        score = oof["score"][()]
        q = oof["label_probs"][()]
        assert len(keys) == len(score) == q.shape[0] and q.shape[1] == 5, (len(keys), q.shape)
        assert np.all(np.isfinite(score)) and np.all((score >= 1) & (score <= 5)), score
        assert np.allclose(q.sum(axis=1), 1, atol=1e-6)
        assert len(f["test"]["keys"][()]) == len(test), "every test record is predicted"
        oof_keys += keys
assert sorted(oof_keys) == sorted(r["img_path"] for r in train), "each training sample exactly once out of fold"
print(f"h5py: 2 folds, {len(oof_keys)} out-of-fold and {len(test)} test predictions per fold")
PY
# --resume with both stores present trains nothing.
"${mpi[@]}" "$exe" train "$work/run.yaml" --resume 2>&1 | grep -c "predictions exist, nothing to do" | grep -qx 2
echo "1 passed, 0 failed"
