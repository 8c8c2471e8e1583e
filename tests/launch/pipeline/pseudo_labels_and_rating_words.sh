#!/usr/bin/env bash
# Usage: pseudo_labels_and_rating_words.sh TOKENFOCUS PYTHON
# Two of #18's options through whole runs, as a user would chain them:
#  1. a teacher run with two backbones, one answering in Q-Align's rating words (its own
#     overall_question and overall_labels), ensembled together; its exported folder and `score`
#     speak those words;
#  2. a student run whose data.pseudo_labels are the teacher backbone's bag of test predictions
#     (with a confidence filter) and whose data.element_flags down-weight split_confidence 0:
#     the pseudo-labelled test images train every fold and appear in no fold, store or evaluation
#     row; bad pseudo-label settings fail before training, naming the key.
source "$(dirname "$0")/tiny_run.sh" pseudo "$@"
common() { tiny_run_sections "$work" 8; }
tiny=$(tiny_backbone "$work")
{ common; cat <<YAML
name: teacher
backbones:
  - {name: digits, $tiny}
  - {name: words, $tiny,
     overall_question: 'Does this image match "{prompt}"? Rate it: bad, poor, fair, good or excellent.',
     overall_labels: {labels: [bad, poor, fair, good, excellent], values: [1, 2, 3, 4, 5]}}
output: {run_dir: $work/teacher, log_every_steps: 10}
YAML
} > "$work/teacher.yaml"
"$exe" launch "$work/teacher.yaml" --local --ranks 2 > "$work/teacher.log" 2>&1 \
  || { cat "$work/teacher.log"; exit 1; }
"$exe" score --model "$work/teacher/models/words/fold0" --data "$work/data/test.json" \
  --image-root "$work/data" --out "$work/words-scores.jsonl" > "$work/score.log" 2>&1 \
  || { cat "$work/score.log"; exit 1; }

{ common; cat <<YAML
name: student
backbones:
  - {name: digits, $tiny}
output: {run_dir: $work/student, log_every_steps: 10}
YAML
} > "$work/student.yaml"
student_sets=(--set "data.pseudo_labels={predictions: $work/teacher/predictions/words, weight: 0.5, min_confidence: 0.2}"
              --set "data.element_flags=[{flag: split_confidence, equals: 0, weight: 0.5}]")
"$exe" launch "$work/student.yaml" --local --ranks 2 "${student_sets[@]}" > "$work/student.log" 2>&1 \
  || { cat "$work/student.log"; exit 1; }
grep -q "data.pseudo_labels: [0-9]* of 8 unlabelled record(s)" "$work/student.log" \
  || { echo "the student did not say how many pseudo-labels joined:"; cat "$work/student.log"; exit 1; }
grep -q "data.element_flags: [1-9][0-9]* element question(s) reweighted" "$work/student.log" \
  || { echo "no element flags applied:"; cat "$work/student.log"; exit 1; }
# 24 training samples per fold: 3 steps of 2 ranks x 4; with the 8 pseudo-labelled ones, 4.
grep -q "digits/fold0 epoch 1/1 step 3/3" "$work/teacher.log" \
  && grep -q "digits/fold0 epoch 1/1 step 4/4" "$work/student.log" \
  || { echo "the pseudo-labelled samples did not join training:"; cat "$work/student.log"; exit 1; }

# Bad settings fail before training, naming the key.
expect_error() {  # expect_error CONFIG FRAGMENT OVERRIDE...
  local config=$1 fragment=$2; shift 2
  rm -rf "$work/bad"
  if "$exe" train "$config" --set output.run_dir="$work/bad" "$@" > "$work/bad.log" 2>&1; then
    echo "accepted: $*"; exit 1
  fi
  grep -qF "$fragment" "$work/bad.log" || { echo "wanted '$fragment':"; cat "$work/bad.log"; exit 1; }
  ! grep -q "epoch 1" "$work/bad.log" || { echo "trained before failing:"; cat "$work/bad.log"; exit 1; }
}
expect_error "$work/student.yaml" "has labels; data.pseudo_labels.records must hold unlabelled records" \
  --set "data.pseudo_labels={predictions: $work/teacher/predictions/words, records: $work/data/train.json}"
expect_error "$work/student.yaml" "is a submission, which has no label probabilities" \
  --set "data.pseudo_labels={predictions: $work/teacher/submission/output.json, min_confidence: 0.5}"
expect_error "$work/student.yaml" "data.element_flags.0.flag" --set "data.element_flags=[{flag: confidence}]"
# A teacher over other label values than the student's cannot be its soft target.
expect_error "$work/student.yaml" "backbone digits: data.pseudo_labels record 0 (img_path" \
  --set "data.pseudo_labels={predictions: $work/teacher/predictions/words}" \
  --set "prompt.overall_labels={labels: ['1', '2', '3', '4', '5'], values: [0, 1, 2, 3, 4]}"
grep -qF "its pseudo-label is over label values [1, 2, 3, 4, 5], the overall label set has [0, 1, 2, 3, 4]" \
  "$work/bad.log" || { echo "no label values in:"; cat "$work/bad.log"; exit 1; }
# The second backbone's label that is not one token stops the run before the first one trains.
expect_error "$work/teacher.yaml" 'backbones.1.overall_labels.labels[4] = "superb" is not a single token' \
  --set "backbones.1.overall_labels.labels=[bad, poor, fair, good, superb]"

"$python" - "$work" <<'PY'
import glob, json, sys
import h5py
work = sys.argv[1]
train = {r["img_path"] for r in json.load(open(f"{work}/data/train.json"))}
test = {r["img_path"] for r in json.load(open(f"{work}/data/test.json"))}
# 1. Rating words: the exported folder, `score` and the ensemble of both backbones.
folder = json.load(open(f"{work}/teacher/models/words/fold0/tokenfocus.json"))
assert folder["prompt"]["overall_labels"]["labels"] == ["bad", "poor", "fair", "good", "excellent"], folder["prompt"]
assert "excellent" in folder["prompt"]["overall_question"], folder["prompt"]
digits = json.load(open(f"{work}/teacher/models/digits/fold0/tokenfocus.json"))
assert digits["prompt"]["overall_labels"]["labels"] == ["1", "2", "3", "4", "5"], digits["prompt"]
lines = [json.loads(l) for l in open(f"{work}/words-scores.jsonl")]
assert len(lines) == 8 and list(lines[0]["label_probs"]) == ["bad", "poor", "fair", "good", "excellent"], lines[0]
assert all(abs(sum(l["label_probs"].values()) - 1) < 1e-5 and 1 <= l["score"] <= 5 for l in lines)
teacher = json.load(open(f"{work}/teacher/summary.json"))
names = {m["name"] for m in teacher["methods"]}
assert any("words" in n for n in names) and any("digits" in n for n in names), names
# 2. Pseudo-labels train but are never evaluated.
folds = json.load(open(f"{work}/student/folds.json"))
assert not any(k in json.dumps(folds) for k in test), "a pseudo-labelled image is in folds.json"
for path in glob.glob(f"{work}/student/predictions/*/fold*.h5"):
    with h5py.File(path) as f:
        oof = {k.decode() for k in f["oof/keys"][()]}
        assert oof <= train and not (oof & test), (path, oof & test)
student = json.load(open(f"{work}/student/summary.json"))
assert student["evaluation_rows"] + student["selection"]["holdout_rows"] == len(train), student["evaluation_rows"]
print(f"rating words: {len(lines)} scores over {list(lines[0]['label_probs'])}, teacher methods {len(names)}; "
      f"student: {student['evaluation_rows']} evaluation rows, all labelled")
PY
