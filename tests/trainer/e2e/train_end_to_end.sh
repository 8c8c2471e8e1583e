#!/usr/bin/env bash
# Usage: train_end_to_end.sh TOKENFOCUS PYTHON
source "$(dirname "$0")/e2e_common.sh" train-e2e "$@"

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
# The metrics lines carry the loss's terms: the total is their weighted sum (the config's default
# weights: tf 1, ps 1, regression 0.5, element 0.5, plcc 0).
"$python" - "$work/run" <<'PY'
import sys, json, math
lines = [json.loads(l) for l in open(sys.argv[1] + "/metrics/tiny-fold0.jsonl")]
train = [l for l in lines if l["type"] == "train"]
assert train and all("terms" in l for l in train), train[:1]
for l in train:
    t = l["terms"]
    assert all(math.isfinite(v) for v in t.values()), t
    combined = t["tf"] + t["ps"] + 0.5 * t["regression"] + 0.5 * t["element"]
    assert abs(t["total"] - combined) <= 1e-6 * abs(t["total"]), (t, combined)
    assert t["overall_questions"] > 0 and t["element_questions"] > 0, t
print(f"metrics: {len(train)} train lines with the loss terms; last {train[-1]['terms']}")
PY
# data.loader: the run above built its batches on 2 worker threads (the default); building them in
# the step gives the same training, bit for bit, and the metrics carry the step's data wait.
"${mpi[@]}" "$exe" train "$work/run.yaml" --set data.loader.workers=0 --set output.run_dir="$work/run-sync" \
  > "$work/train-sync.log" 2>&1 || { cat "$work/train-sync.log"; exit 1; }
compare_stores "$work/run/predictions" "$work/run-sync/predictions" 0,1
"$python" - "$work" <<'PY'
import sys, json
work = sys.argv[1]
train = [json.loads(l) for l in open(f"{work}/run/metrics/tiny-fold0.jsonl") if '"train"' in l]
assert all("data_wait" in l["timeline_rank0"] for l in train), train[0]
print("loader: 2 workers and in-step builds train identically; data wait",
      [round(l["timeline_rank0"]["data_wait"], 4) for l in train], "s")
PY
# Each fold's model is exported as a scoring folder.
for k in 0 1; do
  for f in config.json model.safetensors tokenizer.json tokenfocus.json preprocessor_config.json; do
    [ -f "$work/run/models/tiny/fold$k/$f" ] || { echo "missing models/tiny/fold$k/$f"; exit 1; }
  done
done
"$python" - "$work/run/models/tiny/fold0/tokenfocus.json" <<'PY'
import sys, json
t = json.load(open(sys.argv[1]))
assert t["format_version"] == 1 and t["backbone"] == "tiny" and t["fold"] == 0, t
assert t["model_type"] == "qwen2_vl" and t["chat_template"] == "qwen2_vl" and t["finetune"] == "full", t
assert t["prompt"]["element_questions"] is True and t["prompt"]["overall_labels"]["labels"] == ["1", "2", "3", "4", "5"], t
assert t["temperature"] > 0 and len(t["run_config_hash"]) == 64, t
PY
# predict rebuilds the stores from the exported models: identical to what train wrote.
cp -r "$work/run/predictions" "$work/predictions-train"
"${mpi[@]}" "$exe" predict "$work/run.yaml" 2>&1 | tee "$work/predict.log"
# score: one model, every training record, and one (image, prompt) pair.
"$exe" score --model "$work/run/models/tiny/fold0" --data "$work/data/train.json" \
  --out "$work/scores.jsonl"
"$exe" score --model "$work/run/models/tiny/fold0" --image "$work/data/images/train/000000.png" \
  --prompt "a red circle" > "$work/one.jsonl"
compare_stores "$work/predictions-train" "$work/run/predictions" 0,1
"$python" - "$work" <<'PY'
import sys, json, h5py
work = sys.argv[1]
lines = [json.loads(l) for l in open(f"{work}/scores.jsonl")]
train = json.load(open(f"{work}/data/train.json"))
assert [l["img_path"] for l in lines] == [r["img_path"] for r in train]
with h5py.File(f"{work}/run/predictions/tiny/fold0.h5") as f:
    keys = [x.decode() if isinstance(x, bytes) else x for x in f["oof"]["keys"][()]]
    oof = dict(zip(keys, f["oof"]["score"][()]))
# Other batch neighbours than in train's predictions: the same maths on other padding; 1e-5.
worst = max(abs(l["score"] - oof[l["img_path"]]) for l in lines if l["img_path"] in oof)
assert worst <= 1e-5, worst
assert all(len(l["element_probs"]) == len(r["element_score"]) for l, r in zip(lines, train))
one = [json.loads(l) for l in open(f"{work}/one.jsonl")]
assert len(one) == 1 and 1 <= one[0]["score"] <= 5 and abs(sum(one[0]["label_probs"].values()) - 1) < 1e-6
print(f"predict: stores identical to train's; score: {len(lines)} records, max |score - store| = {worst:.2e}")
PY
# Packing changes nothing but the cost: predict and score unpacked give the packed stores and scores.
cp -r "$work/run/predictions" "$work/predictions-packed"
"${mpi[@]}" "$exe" predict "$work/run.yaml" --set prompt.packing=false 2>&1 | tee "$work/predict-unpacked.log"
"$exe" score --no-packing --model "$work/run/models/tiny/fold0" --data "$work/data/train.json" \
  --out "$work/scores-unpacked.jsonl"
compare_stores "$work/predictions-packed" "$work/run/predictions" 0,1 1e-5
"$python" - "$work" <<'PY'
import sys, json
work = sys.argv[1]
packed = [json.loads(l) for l in open(f"{work}/scores.jsonl")]
unpacked = [json.loads(l) for l in open(f"{work}/scores-unpacked.jsonl")]
score_worst = max(abs(a["score"] - b["score"]) for a, b in zip(packed, unpacked))
element_worst = max((abs(a["element_probs"][e] - b["element_probs"][e])
                     for a, b in zip(packed, unpacked) for e in a["element_probs"]), default=0)
assert len(packed) == len(unpacked) and max(score_worst, element_worst) <= 1e-5, (score_worst, element_worst)
print(f"packing: scores within {max(score_worst, element_worst):.1e} of unpacked")
PY
# Bad input: one clear error each, exit code 1 (user error).
expect_error "no such model folder" "$exe" score --model "$work/nowhere" --image x --prompt y
cp -r "$work/run/models/tiny/fold0" "$work/broken"
sed -i 's/"temperature"/"temprature"/' "$work/broken/tokenfocus.json"
expect_error "tokenfocus.json:" "$exe" score --model "$work/broken" --image "$work/data/images/train/000000.png" --prompt p
expect_error "temprature" "$exe" score --model "$work/broken" --image "$work/data/images/train/000000.png" --prompt p
cp "$work/run/models/tiny/fold0/tokenfocus.json" "$work/broken/tokenfocus.json"
echo "{ not json" > "$work/broken/tokenfocus.json"
expect_error "tokenfocus.json" "$exe" score --model "$work/broken" --image "$work/data/images/train/000000.png" --prompt p
expect_error "no such file" "$exe" score --model "$work/run/models/tiny/fold0" --image "$work/none.png" --prompt p
rm "$work/broken/tokenizer.json"
expect_error "missing tokenizer.json" "$exe" score --model "$work/broken" --image x --prompt y
# --resume with both stores present trains nothing.
"${mpi[@]}" "$exe" train "$work/run.yaml" --resume 2>&1 | grep -c "predictions exist, nothing to do" | grep -qx 2
echo "1 passed, 0 failed"
