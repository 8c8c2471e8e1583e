"""Load on `tokenfocus serve` from a loopback client: items/s and p50/p99 latency with 1, 8 and
32 concurrent clients, dynamic batching against --max-batch 1, and against running
`tokenfocus score` once per request (a process per call, the model loaded each time).

Usage: serve_load.py TOKENFOCUS FIXTURE_DIR [SECONDS_PER_RUN=8]
Each client sends one-item requests back to back (a reward loop scoring images as they come)."""
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "launch", "serve"))
from serve_support import Server, path_item, records  # noqa: E402

exe, fixture = sys.argv[1], sys.argv[2]
seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 8.0
model = f"{fixture}/run/models/tiny/fold0"
train = records(fixture)


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def load(server, clients):
    latencies, lock, stop = [], threading.Lock(), time.time() + seconds

    def client(c):
        k = c
        while time.time() < stop:
            item = path_item(train[k % len(train)])
            k += clients
            start = time.perf_counter()
            status, _, body = server.request("POST", "/v1/score", {"items": [item]})
            elapsed = time.perf_counter() - start
            assert status == 200, body
            with lock:
                latencies.append(elapsed)

    start = time.time()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.time() - start
    return len(latencies) / wall, percentile(latencies, 0.5), percentile(latencies, 0.99)


def counters(server):
    """(items, batches) scored so far, from /metrics."""
    text = server.request("GET", "/metrics")[2]
    get = lambda name: float(next(l for l in text.splitlines() if l.startswith(name)).split()[1])
    return get("tokenfocus_serve_items_total"), get("tokenfocus_serve_batches_total")


rows = {}
for name, args in (("dynamic batching (max 16, 5 ms)", ["--max-batch", "16", "--max-wait-ms", "5"]),
                   ("--max-batch 1", ["--max-batch", "1", "--max-wait-ms", "0"])):
    server = Server(exe, ["--model", model, "--image-root", f"{fixture}/data"] + args)
    load(server, 2)  # warm-up
    for clients in (1, 8, 32):
        items0, batches0 = counters(server)
        result = load(server, clients)
        items1, batches1 = counters(server)
        rows[(name, clients)] = result + ((items1 - items0) / max(batches1 - batches0, 1),)
    server.stop()

# The peer: one `tokenfocus score` process per request.
per_call = []
for k in range(6):
    r = train[k]
    start = time.perf_counter()
    subprocess.run([exe, "score", "--model", model, "--image", f"{fixture}/data/{r['img_path']}",
                    "--prompt", r["prompt"], "--device", "cpu"], check=True, capture_output=True)
    per_call.append(time.perf_counter() - start)
per_call_rate = 1 / (sum(per_call) / len(per_call))

print(f"serve load: {len(train)} images of {fixture}, {seconds:.0f} s per run, one item per request")
print(f"{'server':34} {'clients':>7} {'items/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'mean batch':>10} {'vs score/call':>13}")
for (name, clients), (rate, p50, p99, batch) in rows.items():
    print(f"{name:34} {clients:7d} {rate:9.1f} {p50 * 1e3:8.1f} {p99 * 1e3:8.1f} {batch:10.2f} "
          f"{rate / per_call_rate:12.1f}x")
print(f"{'tokenfocus score per request':34} {1:7d} {per_call_rate:9.2f} "
      f"{percentile(per_call, 0.5) * 1e3:8.1f} {percentile(per_call, 0.99) * 1e3:8.1f}")
for clients in (1, 8, 32):
    ratio = rows[("dynamic batching (max 16, 5 ms)", clients)][0] / rows[("--max-batch 1", clients)][0]
    print(f"ratio dynamic / --max-batch 1 at {clients} clients: {ratio:.2f}")
