"""Random bodies thrown at `tokenfocus serve` for a bounded time: random bytes, random JSON, and
valid requests with random mutations. Every answer must be a well-formed JSON 200 or 4xx (never a
5xx, a dropped connection or a hang), and the server must still score correctly at the end.

Usage: serve_fuzz.py TOKENFOCUS FIXTURE_DIR SECONDS"""
import json
import random
import sys
import time

from serve_support import Server, fail, path_item, records, reference, worst_difference

exe, fixture, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
train = records(fixture)
ref = reference(fixture, 0)
server = Server(exe, ["--model", f"{fixture}/run/models/tiny/fold0", "--image-root",
                      f"{fixture}/data", "--max-body", "256KB", "--max-wait-ms", "1"])
rng = random.Random(2026)


def random_json(depth=0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -1, 2**63, 1e308, -0.5, float("nan")])
    if kind == 2:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(12)))
    if kind == 3:
        return rng.choice(["images/train/000000.png", "../x", "/etc/passwd", "", "iVBORw0KGgo="])
    if kind == 4:
        return rng.choice(["items", "image", "path", "base64", "prompt", "elements", "groups"])
    if kind == 5:
        return [random_json(depth + 1) for _ in range(rng.randrange(4))]
    keys = ["items", "image", "path", "base64", "prompt", "elements", "groups", "prompts", "images", "x"]
    return {rng.choice(keys): random_json(depth + 1) for _ in range(rng.randrange(4))}


def mutate(text):
    chars = list(text)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(3)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(pos, len(chars) - 1)]
        elif op == 1:
            chars.insert(pos, rng.choice('{}[]",:0a\\\x00\u00e9'))
        elif chars:
            chars[min(pos, len(chars) - 1)] = rng.choice('{}[]",:0a')
    return "".join(chars)


def valid_body():
    items = [path_item(r) for r in rng.sample(train, rng.randint(1, 3))]
    if rng.random() < 0.3:
        return json.dumps({"groups": [{"prompts": [items[0]["prompt"]],
                                       "images": [[i["image"] for i in items] * 2]}]})
    return json.dumps({"items": items})


counts = {}
start = time.time()
sent = 0
while time.time() - start < seconds:
    choice = rng.randrange(4)
    if choice == 0:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(200)))
    elif choice == 1:
        body = json.dumps(random_json(), allow_nan=True)
    elif choice == 2:
        body = mutate(valid_body())
    else:
        body = valid_body()
    route = rng.choice(["/v1/score", "/v1/reward/pairs"])
    try:
        status, _, answer = server.request("POST", route, body, {"Content-Type": "application/json"},
                                           timeout=60)
    except Exception as e:  # a dropped connection or a timeout is a failure
        fail(f"{route} with {body!r:.200}: {type(e).__name__}: {e}\n{server.output()[-2000:]}")
    sent += 1
    counts[status] = counts.get(status, 0) + 1
    if status >= 500 or not isinstance(answer, dict):
        fail(f"{route} with {body!r:.300} -> {status} {answer!r:.300}")
    if status != 200 and ("error" not in answer or answer["error"]["status"] != status):
        fail(f"{route} with {body!r:.300} -> {status} without a JSON error: {answer}")
if server.process.poll() is not None:
    fail("the server died")
worst = max(worst_difference(r, ref[t["img_path"]])
            for r, t in zip(server.score([path_item(t) for t in train[:4]]), train[:4]))
if worst > 1e-6:
    fail(f"after fuzzing, |serve - score| = {worst:.2e}")
server.stop()
print(f"serve fuzz: {sent} random bodies in {seconds:.0f} s, answers {dict(sorted(counts.items()))}; "
      f"still correct (max |diff| {worst:.1e}); SIGTERM -> exit 0")
