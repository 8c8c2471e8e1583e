"""Peer for bench_tokenizer: Hugging Face's Rust tokenizers through its PyPI binding (`tokenizers`).

usage: rust_tokenizers_peer.py TOKENIZER_JSON TEXTS_JSONL PASSES
(the thread count comes from RAYON_NUM_THREADS, set by the caller). Prints one JSON line:
{"tokens": per-pass token count, "seconds": [one per timed pass], "load_seconds": s}.
"""
import json
import sys
import time

from tokenizers import Tokenizer


def main():
    tokenizer_path, texts_path, passes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    texts = [json.loads(line)["text"] for line in open(texts_path, encoding="utf-8") if line.strip()]
    start = time.perf_counter()
    tokenizer = Tokenizer.from_file(tokenizer_path)
    load_seconds = time.perf_counter() - start

    def encode_all():
        return sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))

    tokens = encode_all()  # warm-up, fills the word cache as ours is filled
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        encode_all()
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"tokens": tokens, "seconds": seconds, "load_seconds": load_seconds}))


if __name__ == "__main__":
    main()
