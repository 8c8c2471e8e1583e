"""The Rust `tokenizers` library (PyPI) encoding texts: the live reference of
tokenizer_live_test.cpp.

  tokenizers_reference.py TOKENIZER_JSON GOLDEN_CASES_JSONL SEED COUNT OUT_JSONL

Writes one line {"text", "ids"} per text: every golden case's text, then COUNT random texts drawn
from SEED. The random texts mix scripts and the characters that pre-tokenizers treat specially:
letters of Latin, Greek, Cyrillic, Arabic, Devanagari, Hangul, kana and CJK ideographs, combining
marks, digits (ASCII and full-width), punctuation, emoji, several kinds of whitespace and
newlines, contractions, and the special tokens. Only code points assigned since Unicode 6 are drawn,
so that the Unicode version of either side's tables does not decide the result.
"""
import json
import random
import sys

from tokenizers import Tokenizer

RANGES = [
    (0x20, 0x7E), (0xA1, 0xFF), (0x100, 0x17F), (0x391, 0x3A9), (0x3B1, 0x3C9), (0x410, 0x44F),
    (0x621, 0x64A), (0x905, 0x939), (0xAC00, 0xD7A3), (0x3041, 0x3096), (0x30A1, 0x30FA),
    (0x4E00, 0x9FA5), (0x300, 0x36F), (0xFF10, 0xFF19), (0x2010, 0x2027), (0x1F600, 0x1F64F),
]
PIECES = [" ", "  ", "\t", "\n", "\n\n", "\r\n", "\u00a0", "\u3000", "'s", "'t", "'re", "'ll",
          "'ve", "'m", "'d", "123", "4567", "<|im_start|>", "<|im_end|>", "<|image_pad|>",
          "<|vision_start|>", "Does this image show", " yes", " no", "1", "5"]


def random_text(rng):
    parts = []
    for _ in range(rng.randint(1, 24)):
        if rng.random() < 0.35:
            parts.append(rng.choice(PIECES))
        else:
            low, high = rng.choice(RANGES)
            parts.append("".join(chr(rng.randint(low, high)) for _ in range(rng.randint(1, 6))))
    return "".join(parts)


def main():
    tokenizer_json, golden, seed, count, out = sys.argv[1:6]
    tokenizer = Tokenizer.from_file(tokenizer_json)
    texts = [json.loads(line)["text"] for line in open(golden, encoding="utf-8") if line.strip()]
    rng = random.Random(int(seed))
    texts += [random_text(rng) for _ in range(int(count))]
    with open(out, "w", encoding="utf-8") as f:
        for text in texts:
            ids = tokenizer.encode(text, add_special_tokens=False).ids
            f.write(json.dumps({"text": text, "ids": ids}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
