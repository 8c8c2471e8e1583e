"""Helpers of the serve tests: start `tokenfocus serve` on a free loopback port, talk HTTP with
the standard library's client, read the fixture's reference scores."""
import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time


def fail(message):
    print("FAIL:", message, file=sys.stderr)
    sys.exit(1)


class Server:
    """`tokenfocus serve ARGS --port 0`; the port comes back through --port-file."""

    def __init__(self, exe, args, log_name="serve.log"):
        self.folder = tempfile.mkdtemp(prefix="tokenfocus-serve-")
        port_file = os.path.join(self.folder, "port")
        self.log = open(os.path.join(self.folder, log_name), "w+")
        self.process = subprocess.Popen(
            [exe, "serve", "--port", "0", "--port-file", port_file, "--device", "cpu"] + args,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 120
        while not os.path.exists(port_file):
            if self.process.poll() is not None:
                fail(f"serve exited with {self.process.returncode}:\n{self.output()}")
            if time.time() > deadline:
                fail("serve did not start listening within 120 s:\n" + self.output())
            time.sleep(0.05)
        self.port = int(open(port_file).read())

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, headers, parsed JSON or raw text)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers = {"Content-Type": "application/json", **(headers or {})}
        if isinstance(body, str):
            body = body.encode()
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        connection.close()
        content_type = response.getheader("Content-Type", "")
        parsed = json.loads(data) if content_type.startswith("application/json") else data.decode()
        return response.status, dict(response.getheaders()), parsed

    def score(self, items):
        status, _, body = self.request("POST", "/v1/score", {"items": items})
        if status != 200:
            fail(f"/v1/score answered {status}: {body}")
        return body["results"]

    def stop(self, expect_code=0, timeout=60):
        self.process.terminate()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            fail("serve did not exit within 60 s of SIGTERM:\n" + self.output())
        if code != expect_code:
            fail(f"serve exited with {code} after SIGTERM (wanted {expect_code}):\n{self.output()}")


def reference(fixture, fold):
    """img_path -> the JSON line `tokenfocus score` wrote for it."""
    lines = [json.loads(l) for l in open(f"{fixture}/reference_fold{fold}.jsonl")]
    return {l["img_path"]: l for l in lines}


def records(fixture):
    return json.load(open(f"{fixture}/data/train.json"))


def path_item(record):
    return {"image": {"path": record["img_path"]}, "prompt": record["prompt"],
            "elements": list(record["element_score"].keys())}


def base64_item(fixture, record):
    data = open(os.path.join(fixture, "data", record["img_path"]), "rb").read()
    return {"image": {"base64": base64.b64encode(data).decode()}, "prompt": record["prompt"],
            "elements": list(record["element_score"].keys())}


def worst_difference(result, expected):
    """Largest |difference| over score, label_probs and element_probs; keys must match."""
    wanted = {k for k in ("score", "label_probs", "element_probs") if k in expected}
    if set(result) != wanted:
        fail(f"result fields {sorted(result)}, `score` wrote {sorted(wanted)}")
    worst = abs(result["score"] - expected["score"])
    for part in wanted - {"score"}:
        if list(result[part]) != list(expected[part]):
            fail(f"{part} keys {list(result[part])} vs {list(expected[part])}")
        for key, value in expected[part].items():
            worst = max(worst, abs(result[part][key] - value))
    return worst
