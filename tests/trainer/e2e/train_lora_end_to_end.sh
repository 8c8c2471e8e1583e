#!/usr/bin/env bash
# Usage: train_lora_end_to_end.sh TOKENFOCUS PYTHON
# LoRA through the real binary on 2 ranks: checkpoints hold the adapter only (plus its PEFT copy);
# the export holds merged weights; `predict` from the export and, with the export gone, from the
# newest checkpoint rebuild train's store exactly; a checkpoint tensor of the wrong dtype stops with
# one message naming the tensor and the file; score errors. The same run in bf16 on the CPU (frozen
# weights bf16, float32 LoRA and AdamW state, CPU autocast): an export in bf16 whose `predict`
# rebuilds train's store exactly, and scores close to the float32 run's.
source "$(dirname "$0")/e2e_common.sh" lora-e2e "$@"

cat > "$work/run.yaml" <<YAML
name: lora-e2e
data:
  train_records: $work/data/train.json
  test_records: $work/data/test.json
  image_root: $work/data
  synthetic: {train_samples: 24, test_samples: 6, seed: 3}
backbones:
  - {name: tiny, model_dir: $work/models/tiny, tokenizer: $work/data/tokenizer.json,
     init_config: $repo/configs/models/tiny-qwen2-vl.json, finetune: lora,
     lora: {rank: 4, alpha: 8, dropout: 0.1, target_modules: [q_proj, v_proj]},
     image: {min_pixels: 3136, max_pixels: 3136}}
optim: {epochs: 2, micro_batch_size: 4, lr: 0.005}
folds: {k: 2, only: [0]}
output: {run_dir: $work/run, log_every_steps: 1, keep_checkpoints: 3}
YAML

"$exe" prepare "$work/run.yaml"
"${mpi[@]}" "$exe" train "$work/run.yaml" 2>&1 | tee "$work/train.log"

"$python" - "$work/run" <<'PY'
import sys, os, json, struct
run = sys.argv[1]
def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return {k: v for k, v in json.loads(f.read(n)).items() if k != "__metadata__"}
ckpt = f"{run}/checkpoints/tiny/fold0"
steps = sorted(d for d in os.listdir(ckpt) if d.startswith("step-"))
assert steps, os.listdir(ckpt)
for step in steps:
    weights = header(f"{ckpt}/{step}/model.safetensors")
    assert weights and all(".lora_A.weight" in k or ".lora_B.weight" in k for k in weights), sorted(weights)
    assert all(v["dtype"] == "F32" for v in weights.values())
    optim = header(f"{ckpt}/{step}/optimizer.safetensors")
    assert set(optim) == {"step"} | {f"exp_avg/{k}" for k in weights} | {f"exp_avg_sq/{k}" for k in weights}, sorted(optim)
    adapter = header(f"{ckpt}/{step}/adapter/adapter_model.safetensors")
    # PEFT names the adapter after transformers' modules: model.language_model.layers.N (the
    # checkpoint's model.layers.N one level deeper).
    nested = {"base_model.model." + k.replace("model.", "model.language_model.", 1) for k in weights}
    assert set(adapter) == nested, (sorted(adapter), sorted(weights))
    done = json.load(open(f"{ckpt}/{step}/DONE"))["files"]
    assert "adapter/adapter_config.json" in done and "adapter/adapter_model.safetensors" in done, done
exported = header(f"{run}/models/tiny/fold0/model.safetensors")
assert not any("lora" in k for k in exported) and "model.layers.0.self_attn.q_proj.weight" in exported
t = json.load(open(f"{run}/models/tiny/fold0/tokenfocus.json"))
assert t["finetune"] == "lora" and t["model_type"] == "qwen2_vl", t
print(f"checkpoints {steps}: {len(weights)} LoRA tensors each (+ AdamW state, + PEFT adapter/); export merged")
PY

cp -r "$work/run/predictions" "$work/predictions-train"
"${mpi[@]}" "$exe" predict "$work/run.yaml" 2>&1 | tee "$work/predict.log"
grep -q "predicted from $work/run/models/tiny/fold0" "$work/predict.log"
compare_stores "$work/predictions-train" "$work/run/predictions" 0
# score: records with a missing image, and neither --data nor --image.
echo '[{"prompt": "a red circle", "img_path": "images/none.png"}]' > "$work/missing.json"
expect_error "images/none.png" "$exe" score --model "$work/run/models/tiny/fold0" --data "$work/missing.json"
expect_error "give --data RECORDS.json or --image IMG --prompt TEXT" \
  "$exe" score --model "$work/run/models/tiny/fold0"
# Without the export, predict falls back to the newest complete checkpoint (the final one).
rm -rf "$work/run/models/tiny/fold0"
"${mpi[@]}" "$exe" predict "$work/run.yaml" 2>&1 | tee "$work/predict2.log"
grep -q "predicting from checkpoint" "$work/predict2.log"
compare_stores "$work/predictions-train" "$work/run/predictions" 0

# A checkpoint whose LoRA factor has the wrong dtype (DONE rewritten, so it verifies): resume
# refuses it, naming the tensor and the file.
newest=$(ls -d "$work/run/checkpoints/tiny/fold0"/step-* | sort | tail -1)
"$python" - "$newest" <<'PY'
import sys, json, struct, hashlib, os
folder = sys.argv[1]
path = f"{folder}/model.safetensors"
with open(path, "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n)); data = f.read()
name = sorted(k for k in head if k != "__metadata__")[0]
# That tensor becomes float16 (half the bytes); the other tensors move down accordingly.
out, offset, blobs = {}, 0, []
for k, v in sorted(((k, v) for k, v in head.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"][0]):
    blob = data[v["data_offsets"][0]:v["data_offsets"][1]]
    if k == name:
        import numpy as np
        blob = np.frombuffer(blob, dtype=np.float32).astype(np.float16).tobytes()
        v = dict(v, dtype="F16")
    out[k] = dict(v, data_offsets=[offset, offset + len(blob)]); offset += len(blob); blobs.append(blob)
if "__metadata__" in head: out["__metadata__"] = head["__metadata__"]
text = json.dumps(out).encode(); text += b" " * (-len(text) % 8)
with open(path, "wb") as f: f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
done = json.load(open(f"{folder}/DONE"))
raw = open(path, "rb").read()
done["files"]["model.safetensors"] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
json.dump(done, open(f"{folder}/DONE", "w"))
print(name)
PY
rm -rf "$work/run/predictions"
expect_error "$newest/model.safetensors: tensor 'model.layers.0.self_attn.q_proj.lora_A.weight' is Half [4, 128], the model's parameter is Float [4, 128]" \
  "$exe" train "$work/run.yaml" --resume
rm -rf "$work/run/checkpoints"
expect_error "no exported model $work/run/models/tiny/fold0 and no complete checkpoint" \
  "$exe" predict "$work/run.yaml"
# bf16 on the CPU.
bf16=(--set optim.precision=bf16 --set "output.run_dir=$work/run-bf16")
"${mpi[@]}" "$exe" train "$work/run.yaml" "${bf16[@]}" 2>&1 | tee "$work/train-bf16.log"
"$python" - "$work/run-bf16" <<'PY'
import sys, os, json, struct
run = sys.argv[1]
def header(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return {k: v for k, v in json.loads(f.read(n)).items() if k != "__metadata__"}
ckpt = f"{run}/checkpoints/tiny/fold0"
step = sorted(d for d in os.listdir(ckpt) if d.startswith("step-"))[-1]
weights = header(f"{ckpt}/{step}/model.safetensors")
assert weights and all(v["dtype"] == "F32" for v in weights.values()), weights
optim = header(f"{ckpt}/{step}/optimizer.safetensors")
assert all(v["dtype"] == "F32" for k, v in optim.items() if k != "step"), optim
exported = header(f"{run}/models/tiny/fold0/model.safetensors")
dtypes = {v["dtype"] for v in exported.values()}
assert dtypes == {"BF16"}, dtypes
print(f"bf16: {len(weights)} float32 LoRA tensors + float32 AdamW state in {step}; export all BF16")
PY
cp -r "$work/run-bf16/predictions" "$work/predictions-bf16-train"
"${mpi[@]}" "$exe" predict "$work/run.yaml" "${bf16[@]}" 2>&1 | tee "$work/predict-bf16.log"
grep -q "predicted from $work/run-bf16/models/tiny/fold0" "$work/predict-bf16.log"
compare_stores "$work/predictions-bf16-train" "$work/run-bf16/predictions" 0
compare_stores "$work/predictions-train" "$work/predictions-bf16-train" 0 0.05
echo "1 passed, 0 failed"
