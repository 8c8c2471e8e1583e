"""`tokenfocus paircomp --model --pairs --images` on FocusDiff's layout (PairComp.json with its six
categories, images X_Y_Z.png): s_a / s_g per category and averaged equal a re-computation in the
manner of FocusDiff's summary_scores.py from the score.json we write; each image's score equals
`tokenfocus score`'s for its caption, mapped to [0, 1]; bad layouts are clear errors.

Usage: paircomp_end_to_end.py TOKENFOCUS FIXTURE_DIR"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

exe, fixture = sys.argv[1], sys.argv[2]
model = f"{fixture}/run/models/tiny/fold0"
train = json.load(open(f"{fixture}/data/train.json"))
work = tempfile.mkdtemp(prefix="tokenfocus-paircomp-")
images = f"{work}/images"
os.makedirs(images)

categories = ["Overall appearance difference", "Color difference", "Counting difference",
              "Position difference", "Style & Tone difference", "Text difference"]
pairs, records, k = [], [], 0
for c, category in enumerate(categories):
    for j in range(2 if c % 2 == 0 else 1):  # categories of different sizes
        i = len(pairs)
        a, b = train[k % len(train)], train[(k + 1) % len(train)]
        pairs.append({"category": category, "caption1": a["prompt"], "caption2": b["prompt"]})
        for y, caption in ((0, a["prompt"]), (1, b["prompt"])):
            for z in (0, 1):
                source = train[(k + 2 * y + z) % len(train)]["img_path"]
                shutil.copy(f"{fixture}/data/{source}", f"{images}/{i}_{y}_{z}.png")
                records.append({"prompt": caption, "img_path": f"{i}_{y}_{z}.png", "total_score": [3]})
        k += 3
json.dump(pairs, open(f"{work}/PairComp.json", "w"), indent=1)
json.dump(records, open(f"{work}/records.json", "w"))

run = subprocess.run([exe, "paircomp", "--model", model, "--pairs", f"{work}/PairComp.json",
                      "--images", images, "--scores-out", f"{work}/score.json", "--json",
                      "--device", "cpu", "--batch-size", "5"],
                     capture_output=True, text=True)
assert run.returncode == 0, run.stderr
ours = json.loads(run.stdout.strip().splitlines()[-1])

# summary_scores.py's computation: per pair the arithmetic and geometric mean of its 4 scores,
# bucketed by a lower-cased substring of the category, each bucket averaged, then the 6 buckets.
data = json.load(open(f"{work}/PairComp.json"))
scores = json.load(open(f"{work}/score.json"))
buckets = {name: ([], []) for name in ("overall", "color", "counting", "position", "style", "text")}
for key, four in scores.items():
    assert len(four) == 4 and all(s["pair_idx"] == int(key) for s in four), four
    sa = sum(s["score"] for s in four) / 4
    sg = 1.0
    for s in four:
        sg *= s["score"]
    sg = sg ** (1 / 4)
    category = data[int(key)]["category"].lower()
    for name, (a_list, g_list) in buckets.items():
        if name in category:
            a_list.append(sa)
            g_list.append(sg)
per = {name: (sum(a) / len(a), sum(g) / len(g)) for name, (a, g) in buckets.items()}
s_a = sum(v[0] for v in per.values()) / 6
s_g = sum(v[1] for v in per.values()) / 6
for category in categories:
    name = next(n for n in buckets if n in category.lower())
    got = ours["categories"][category]
    if abs(got["s_a"] - per[name][0]) > 1e-12 or abs(got["s_g"] - per[name][1]) > 1e-12:
        sys.exit(f"{category}: ours {got} vs summary_scores {per[name]}")
if abs(ours["s_a"] - s_a) > 1e-12 or abs(ours["s_g"] - s_g) > 1e-12:
    sys.exit(f"average: ours {ours['s_a']}, {ours['s_g']} vs summary_scores {s_a}, {s_g}")

# Each image's score is `tokenfocus score`'s for its caption, mapped by the label range 1..5.
run = subprocess.run([exe, "score", "--model", model, "--data", f"{work}/records.json",
                      "--image-root", images, "--device", "cpu"], capture_output=True, text=True)
assert run.returncode == 0, run.stderr
direct = {json.loads(l)["img_path"]: json.loads(l)["score"] for l in run.stdout.splitlines() if l}
worst = 0.0
for key, four in scores.items():
    for s in four:
        expected = (direct[f"{key}_{s['prompt_idx']}_{s['image_idx']}.png"] - 1) / 4
        worst = max(worst, abs(s["score"] - expected))
if worst > 1e-6:
    sys.exit(f"paircomp's image scores differ from `score`'s by {worst:.2e}")

# Bad layouts: one clear error each.
os.remove(f"{images}/1_1_0.png")
run = subprocess.run([exe, "paircomp", "--model", model, "--pairs", f"{work}/PairComp.json",
                      "--images", images], capture_output=True, text=True)
assert run.returncode == 1 and "1 of 36 images missing" in run.stderr and "1_1_0.png" in run.stderr, run.stderr
json.dump([{"category": "Color difference", "caption1": "a"}], open(f"{work}/bad.json", "w"))
run = subprocess.run([exe, "paircomp", "--model", model, "--pairs", f"{work}/bad.json",
                      "--images", images], capture_output=True, text=True)
assert run.returncode == 1 and "entry 0 needs a non-empty string 'caption2'" in run.stderr, run.stderr
shutil.rmtree(work)
print(f"paircomp: {len(pairs)} pairs in 6 categories: s_a {s_a:.4f}, s_g {s_g:.4f} equal "
      f"summary_scores' re-computation; image scores = `score`'s (max |diff| {worst:.1e})")
