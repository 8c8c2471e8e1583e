#!/usr/bin/env bash
# Usage: ablation_sweep.sh TOKENFOCUS PYTHON
# A `method: variants` sweep (an ablation) through the binary: two trials named by their variants,
# run locally, collected into results.csv / results.md with bootstrap intervals and the paired
# difference of the second trial against the baseline (consistent with the two summaries).
source "$(dirname "$0")/tiny_run.sh" ablation "$@"
{ tiny_run_sections "$work"; cat <<YAML
name: ablation-test
backbones:
  - {name: tiny, $(tiny_backbone "$work")}
output: {run_dir: $work/run, log_every_steps: 10}
sweep:
  method: variants
  variants:
    - {name: baseline}
    - {name: tf-only, set: ["loss.ps_weight=0"]}
YAML
} > "$work/ablation.yaml"
"$exe" sweep "$work/ablation.yaml" --out "$work/sweep" --local --ranks 2 > "$work/sweep.log" 2>&1 \
  || { cat "$work/sweep.log"; exit 1; }
"$exe" sweep --collect "$work/sweep" > "$work/collect.log" 2>&1 || { cat "$work/collect.log"; exit 1; }
"$python" - "$work/sweep" <<'PY'
import csv, json, sys
sweep = sys.argv[1]
rows = {r["trial"]: r for r in csv.DictReader(open(f"{sweep}/results.csv"))}
assert set(rows) == {"t000-baseline", "t001-tf-only"}, rows.keys()
base, tf = rows["t000-baseline"], rows["t001-tf-only"]
assert base["final_vs_baseline"] == "" and tf["overrides"] == "loss.ps_weight=0", (base, tf)
finals = {t: json.load(open(f"{sweep}/{t}/summary.json"))["best"]["final"] for t in rows}
d, lo, hi = (float(tf[k]) for k in ("final_vs_baseline", "final_vs_baseline_low", "final_vs_baseline_high"))
assert abs(d - (finals["t001-tf-only"] - finals["t000-baseline"])) < 2e-6, (d, finals)
assert lo <= d <= hi and hi - lo < 0.5, (lo, d, hi)
for r in rows.values():
    assert float(r["final_low"]) <= float(r["final"]) <= float(r["final_high"]), r
md = open(f"{sweep}/results.md").read()
assert "| t000-baseline | (baseline) |" in md and "Δ final vs baseline" in md, md
assert f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" in md, md
print(f"ablation sweep: Δ final of tf-only {d:+.4f} [{lo:+.4f}, {hi:+.4f}] (paired, 1000 draws)")
PY
