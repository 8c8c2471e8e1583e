#!/usr/bin/env bash
# Usage: bench/serve/run_serve_bench.sh [BUILD_DIR=build] [tiny|mid] [PIXELS=50176]
# Trains a scorer on the synthetic set (tests/launch/serve/serve_fixture.sh), then drives
# `tokenfocus serve` with bench/serve/serve_load.py. `mid` is bench_trainer_vlm's mid-size
# Qwen2-VL (hidden 512, 4 layers, vision 128 x 4); PIXELS sets the image size (50176 = 224 x 224).
set -euo pipefail
build=${1:-build}
size=${2:-mid}
pixels=${3:-50176}
repo=$(pwd)
work=$(mktemp -d /tmp/tokenfocus-serve-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
python=$repo/.venv/bin/python
config=$repo/configs/models/tiny-qwen2-vl.json
if [ "$size" = mid ]; then
  config=$work/mid-qwen2-vl.json
  "$python" - "$repo/configs/models/tiny-qwen2-vl.json" "$config" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(hidden_size=512, intermediate_size=1376, num_hidden_layers=4, num_attention_heads=8,
         num_key_value_heads=2, initializer_range=0.044)
c["rope_scaling"]["mrope_section"] = [8, 12, 12]
c["vision_config"].update(embed_dim=128, depth=4, hidden_size=512)
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
fi
bash tests/launch/serve/serve_fixture.sh "$build/tokenfocus" "$work/fixture" "$config" "$pixels" 32 \
  > "$work/fixture.log" 2>&1 || { cat "$work/fixture.log"; exit 1; }
echo "model: $size, images $pixels px; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" bench/serve/serve_load.py "$build/tokenfocus" "$work/fixture" "${SECONDS_PER_RUN:-8}"
