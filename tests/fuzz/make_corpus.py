#!/usr/bin/python3
"""Writes the seed corpus of the safetensors header fuzzer (tests/fuzz/corpus/): small valid files
and one file per way of being malformed. Independent of our writer: plain struct + json."""
import json
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)


def raw(name, header_text, data=b"", length=None):
    header_bytes = header_text.encode() if isinstance(header_text, str) else header_text
    n = len(header_bytes) if length is None else length
    with open(os.path.join(out, name), "wb") as f:
        f.write(struct.pack("<Q", n) + header_bytes + data)


def valid(name, tensors, metadata=None, pad=True):
    header, data = {}, b""
    for tname, (dtype, shape, payload) in sorted(tensors.items()):
        header[tname] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(payload)]}
        data += payload
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header, sort_keys=True, separators=(",", ":"))
    if pad:
        text += " " * ((8 - len(text) % 8) % 8)
    raw(name, text, data)


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
valid("valid_f32.safetensors", {"w": ("F32", [2, 2], f32(1, 2, 3, 4))}, {"format": "pt"})
valid("valid_mixed.safetensors", {
    "a": ("F64", [1], struct.pack("<d", 1.5)), "b": ("I64", [2], struct.pack("<2q", -1, 7)),
    "c": ("BF16", [2], b"\x80\x3f\x00\x40"), "d": ("F16", [1, 1], b"\x00\x3c"),
    "e": ("BOOL", [3], b"\x01\x00\x01"), "f": ("U8", [], b"\x05"), "g": ("I32", [0, 4], b""),
    "h": ("F8_E4M3", [1], b"\x38"), "i": ("U16", [1], b"\x01\x00")})
valid("valid_empty.safetensors", {})
valid("valid_metadata_only.safetensors", {}, {"format": "pt", "note": "\u00e9\u4e2d"})
valid("valid_unpadded.safetensors", {"x": ("F32", [1], f32(0.5))}, pad=False)
valid("valid_two_empty.safetensors", {"p": ("F32", [0], b""), "q": ("F32", [0], b""), "r": ("U8", [1], b"\x01")})

ok = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
with open(os.path.join(out, "bad_short.safetensors"), "wb") as f:
    f.write(b"\x10\x00")  # shorter than the 8-byte length
raw("bad_length_beyond_file.safetensors", ok, f32(1), length=len(ok) + 100)
raw("bad_length_absurd.safetensors", ok, f32(1), length=1 << 40)
raw("bad_json.safetensors", '{"w":{"dtype":"F32",', f32(1))
raw("bad_not_object.safetensors", '[1, 2, 3]', b"")
raw("bad_unknown_dtype.safetensors", ok.replace("F32", "F31"), f32(1))
raw("bad_size_mismatch.safetensors", ok.replace("[1]", "[2]"), f32(1))
raw("bad_offsets_beyond.safetensors", ok.replace("[0,4]", "[0,8]").replace("[1]", "[2]"), f32(1))
raw("bad_trailing_bytes.safetensors", ok, f32(1, 2))
raw("bad_hole.safetensors", ok.replace("[0,4]", "[4,8]"), f32(1, 2))
raw("bad_overlap.safetensors",
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    f32(1, 2))
raw("bad_negative_shape.safetensors", ok.replace("[1]", "[-1]"), f32(1))
raw("bad_float_shape.safetensors", ok.replace("[1]", "[1.0]"), f32(1))
raw("bad_overflow_shape.safetensors",
    '{"w":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,0]}}', b"")
raw("bad_end_before_begin.safetensors", ok.replace("[0,4]", "[4,0]"), f32(1))
raw("bad_duplicate_key.safetensors", ok[:-1] + ',"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
raw("bad_metadata_value.safetensors", '{"__metadata__":{"format":1}}', b"")
raw("bad_deep_nesting.safetensors", '{"w":{"shape":[[[[1]]]]}}', b"")
raw("bad_unknown_field.safetensors", ok.replace('"dtype"', '"extra":1,"dtype"'), f32(1))
raw("bad_invalid_utf8.safetensors", b'{"w\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1))
