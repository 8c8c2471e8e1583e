#!/usr/bin/env bash
# Usage: no_element_questions.sh TOKENFOCUS PYTHON
# A run with prompt.element_questions: false, as a new user would launch it: `launch --local` says
# before training that no NTIRE submission will come of it, trains, and the ensemble still bags,
# stacks and blends the overall score and writes its report and summary (acc and final n/a).
source "$(dirname "$0")/tiny_run.sh" no-elements "$@"
{ tiny_run_sections "$work"; cat <<YAML
name: no-elements
backbones:
  - {name: tiny, $(tiny_backbone "$work")}
prompt: {element_questions: false}
output: {run_dir: $work/run, log_every_steps: 10}
YAML
} > "$work/run.yaml"
"$exe" launch "$work/run.yaml" --local --ranks 2 > "$work/launch.log" 2>&1 || { cat "$work/launch.log"; exit 1; }
notice=$(grep -n "launch: prompt.element_questions is false" "$work/launch.log" | cut -d: -f1 | head -1)
train=$(grep -n "stage train" "$work/launch.log" | cut -d: -f1 | head -1)
[ -n "$notice" ] && [ -n "$train" ] && [ "$notice" -lt "$train" ] \
  || { echo "the notice must come before training:"; cat "$work/launch.log"; exit 1; }
grep -q "no NTIRE submission" "$work/launch.log" || { echo "ensemble did not say why no submission"; exit 1; }
[ ! -e "$work/run/submission/output.json" ] || { echo "a submission without element scores"; exit 1; }
"$python" - "$work/run" <<'PY'
import json, sys
run = sys.argv[1]
s = json.load(open(f"{run}/summary.json"))
assert s["has_element_predictions"] is False and s["submission"] == "", s
assert s["selection"]["chosen_on"] == "holdout" and "(SRCC + PLCC) / 2" in s["selection"]["chosen_by"], s["selection"]
assert s["best"]["final"] is None and s["best"]["acc"] is None and s["best"]["srcc"] is not None, s["best"]
assert len(s["methods"]) >= 3, [m["name"] for m in s["methods"]]
md = open(f"{run}/report/report.md").read()
assert "not available (n/a)" in md and "| n/a |" in md, md[:2000]
print(f"no element questions: {len(s['methods'])} methods reported, best {s['best']['name']}, no submission")
PY
