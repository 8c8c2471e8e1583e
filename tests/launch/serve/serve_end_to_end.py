"""`tokenfocus serve` driven as a client would: scores equal `tokenfocus score`'s whatever the
batching, concurrent clients, a bag, pair rewards against numpy, every bad input answered with a
4xx naming the item while the server keeps serving, 503 + Retry-After when the queue is full, a
SIGTERM that lets the in-flight request finish, and /metrics.

Usage: serve_end_to_end.py TOKENFOCUS FIXTURE_DIR"""
import os
import random
import signal
import sys
import threading
import time

import numpy as np

from serve_support import (Server, base64_item, fail, path_item, records, reference,
                           worst_difference)

TOLERANCE = 1e-6  # same model, same inputs, other batch compositions (padding); fp32 forward

exe, fixture = sys.argv[1], sys.argv[2]
data = f"{fixture}/data"
fold0, fold1 = f"{fixture}/run/models/tiny/fold0", f"{fixture}/run/models/tiny/fold1"
train = records(fixture)
ref0, ref1 = reference(fixture, 0), reference(fixture, 1)


def check(results, chosen, expected, what):
    worst = max(worst_difference(r, expected[c["img_path"]]) for r, c in zip(results, chosen))
    if worst > TOLERANCE:
        fail(f"{what}: |serve - score| = {worst:.3e} > {TOLERANCE}")
    return worst


server = Server(exe, ["--model", fold0, "--image-root", data, "--max-batch", "4",
                      "--max-wait-ms", "20", "--max-body", "2MB"])
status, _, health = server.request("GET", "/health")
assert status == 200 and health["status"] == "ok" and health["models"] == [fold0], health

# 1. All records in one request (batches of 4), then one by one (batches of 1): equal to `score`.
worst = check(server.score([path_item(r) for r in train]), train, ref0, "one request")
for r in train[:5]:
    worst = max(worst, check(server.score([path_item(r)]), [r], ref0, "one item"))
print(f"serve: {len(train)} records in one request and 5 alone: max |serve - score| = {worst:.2e}")

# 2. Eight concurrent clients, random subsets, paths and base64 mixed.
errors, worst_concurrent = [], [0.0]


def client(seed):
    rng = random.Random(seed)
    try:
        for _ in range(6):
            chosen = rng.sample(train, rng.randint(1, 5))
            items = [path_item(r) if rng.random() < 0.5 else base64_item(fixture, r) for r in chosen]
            worst_concurrent[0] = max(worst_concurrent[0],
                                      check(server.score(items), chosen, ref0, f"client {seed}"))
    except SystemExit:
        errors.append(seed)


threads = [threading.Thread(target=client, args=(s,)) for s in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    fail(f"clients {errors} got wrong scores")
print(f"serve: 8 concurrent clients x 6 requests: max |serve - score| = {worst_concurrent[0]:.2e}")

# 3. Pair rewards: FocusDiff's normalisation over the pair's images, recomputed with numpy.
a, b = train[0], train[1]
pair = {"groups": [{"prompts": [a["prompt"], b["prompt"]],
                    "images": [[{"path": train[i]["img_path"]} for i in (0, 2, 3)],
                               [{"path": train[i]["img_path"]} for i in (1, 4, 5)]]}]}
status, _, body = server.request("POST", "/v1/reward/pairs", pair)
assert status == 200, body
group = body["groups"][0]
# Each image is scored against its own group prompt: recompute those with /v1/score.
expected_scores = []
for p, indices in ((a, (0, 2, 3)), (b, (1, 4, 5))):
    items = [{"image": {"path": train[i]["img_path"]}, "prompt": p["prompt"]} for i in indices]
    expected_scores.append([r["score"] for r in server.score(items)])
rewards = np.array(expected_scores[0] + expected_scores[1])
advantages = (rewards - rewards.mean()) / (rewards.std(ddof=1) + 1e-4)
got_scores = np.array(group["scores"][0] + group["scores"][1])
got_advantages = np.array(group["advantages"][0] + group["advantages"][1])
if np.abs(got_scores - rewards).max() > TOLERANCE:
    fail(f"pair scores {got_scores} vs {rewards}")
if np.abs(got_advantages - advantages).max() > 1e-4:
    fail(f"pair advantages {got_advantages} vs numpy {advantages}")
assert abs(group["mean"] - rewards.mean()) < TOLERANCE and abs(group["std"] - rewards.std(ddof=1)) < TOLERANCE
print(f"serve: pair rewards of 2 x 3 images equal numpy's (r - mean) / (std + 1e-4), "
      f"max |diff| = {np.abs(got_advantages - advantages).max():.2e}")

# 4. Bad input: one clear 4xx naming the item, and the server keeps serving.
os.makedirs(f"{fixture}/outside", exist_ok=True)
open(f"{fixture}/outside/secret.png", "wb").write(open(f"{data}/{train[0]['img_path']}", "rb").read())
link = f"{data}/link-out.png"
if not os.path.lexists(link):
    os.symlink(f"{fixture}/outside/secret.png", link)
good = path_item(train[0])
bad_cases = [
    ("malformed JSON", "{\"items\": [", 400, ""),
    ("not an object", "[1, 2]", 400, "body"),
    ("unknown top-level field", {"items": [good], "priority": 1}, 400, "body"),
    ("unknown item field", {"items": [good, {**good, "weight": 2}]}, 400, "items[1]"),
    ("prompt of the wrong type", {"items": [{**good, "prompt": 5}]}, 400, "items[0].prompt"),
    ("no items", {"items": []}, 400, "items"),
    ("missing image", {"items": [good, {**good, "image": {"path": "images/none.png"}}]}, 422,
     "items[1].image.path"),
    ("undecodable image", {"items": [{**good, "image": {"base64": "aGVsbG8gd29ybGQ="}}]}, 422,
     "items[0].image"),
    ("not base64", {"items": [{**good, "image": {"base64": "%%%"}}]}, 400, "items[0].image.base64"),
    (".. escape", {"items": [{**good, "image": {"path": "../outside/secret.png"}}]}, 403,
     "items[0].image.path"),
    ("absolute path", {"items": [{**good, "image": {"path": f"{fixture}/outside/secret.png"}}]},
     403, "items[0].image.path"),
    ("symlink out of the root", {"items": [{**good, "image": {"path": "link-out.png"}}]}, 403,
     "items[0].image.path"),
    ("oversized body", {"items": [{**good, "prompt": "x" * (3 << 20)}]}, 413, ""),
]
for name, body, want, where in bad_cases:
    status, headers, answer = server.request("POST", "/v1/score", body)
    if status != want or not isinstance(answer, dict) or "error" not in answer:
        fail(f"{name}: got {status} {answer!r:.300}, wanted {want} with a JSON error")
    if answer["error"].get("where", "") != where:
        fail(f"{name}: error names {answer['error'].get('where')!r}, wanted {where!r}: {answer}")
    if server.request("GET", "/health")[0] != 200:
        fail(f"{name}: the server stopped serving")
status, _, answer = server.request("GET", "/v1/nothing")
assert status == 404 and "error" in answer, (status, answer)
check(server.score([good]), [train[0]], ref0, "after the bad inputs")
print(f"serve: {len(bad_cases)} bad inputs answered 4xx naming the item; still serving")

# 5. /metrics: Prometheus text that counted what happened above.
status, headers, text = server.request("GET", "/metrics")
assert status == 200 and headers["Content-Type"].startswith("text/plain"), headers
for needle in ('tokenfocus_serve_requests_total{route="/v1/score",code="200"}',
               'tokenfocus_serve_requests_total{route="/v1/score",code="400"}',
               'tokenfocus_serve_requests_total{route="/v1/score",code="413"}',
               'tokenfocus_serve_request_duration_seconds_bucket{route="/v1/score",le="+Inf"}',
               "tokenfocus_serve_batch_size_bucket", "tokenfocus_serve_queue_depth 0"):
    if needle not in text:
        fail(f"/metrics lacks {needle}:\n{text}")
items = int(next(l for l in text.splitlines() if l.startswith("tokenfocus_serve_items_total")).split()[1])
batches = int(next(l for l in text.splitlines() if l.startswith("tokenfocus_serve_batches_total")).split()[1])
assert items >= len(train) + 5 + 8 and batches >= len(train) // 4, (items, batches)
server.stop()
print(f"serve: /metrics counted {items} items in {batches} batches; SIGTERM -> exit 0")

# 6. A bag of two fold models: the mean of their `score` outputs.
bag = Server(exe, ["--model", fold0, "--model", fold1, "--image-root", data])
results = bag.score([path_item(r) for r in train])
mean = {}
for k, r0 in ref0.items():
    r1 = ref1[k]
    mean[k] = {"score": (r0["score"] + r1["score"]) / 2,
               "label_probs": {l: (r0["label_probs"][l] + r1["label_probs"][l]) / 2 for l in r0["label_probs"]}}
    if "element_probs" in r0:
        mean[k]["element_probs"] = {e: (r0["element_probs"][e] + r1["element_probs"][e]) / 2 for e in r0["element_probs"]}
worst = check(results, train, mean, "bag of 2")
bag.stop()
print(f"serve: bag of 2 fold models = mean of their scores, max |diff| = {worst:.2e}")

# 7. A full queue answers 503 + Retry-After; SIGTERM lets the in-flight request finish.
slow = Server(exe, ["--model", fold0, "--image-root", data, "--max-batch", "64",
                    "--max-wait-ms", "3000", "--max-queue", "4"])
in_flight = {}


def waiting_request():
    in_flight["answer"] = slow.request("POST", "/v1/score", {"items": [path_item(r) for r in train[:2]]})


t = threading.Thread(target=waiting_request)
t.start()
deadline = time.time() + 30
while slow.request("GET", "/health")[2]["queue_depth"] < 2:
    if time.time() > deadline:
        fail("the first request never reached the queue")
    time.sleep(0.02)
status, headers, answer = slow.request("POST", "/v1/score", {"items": [path_item(r) for r in train[2:5]]})
if status != 503 or headers.get("Retry-After") != "1" or "error" not in answer:
    fail(f"full queue: got {status} {headers} {answer}")
status, _, answer = slow.request("POST", "/v1/score", {"items": [path_item(r) for r in train[:5]]})
assert status == 413, (status, answer)  # more items than the queue can ever hold
slow.process.send_signal(signal.SIGTERM)
t.join(timeout=60)
status, _, answer = in_flight["answer"]
if status != 200:
    fail(f"the in-flight request got {status} during the drain: {answer}")
check(answer["results"], train[:2], ref0, "drained request")
code = slow.process.wait(timeout=60)
if code != 0:
    fail(f"serve exited with {code} after draining:\n{slow.output()}")
try:
    slow.request("GET", "/health", timeout=5)
    fail("still answering after it exited")
except (ConnectionRefusedError, OSError):
    pass
print("serve: full queue -> 503 + Retry-After; SIGTERM drained the in-flight request, exit 0")
