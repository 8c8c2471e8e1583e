"""InternViT forward in plain PyTorch, written after OpenGVLab's modeling_intern_vit.py (nn.Conv2d
patch embedding, F.interpolate bicubic position embedding, InternRMSNorm / nn.LayerNorm, q/k
RMS-norm over the full width before the head split, layer scale). Reads IN.safetensors (weights
with vision_model names + "pixel_values" + a JSON config in the metadata) and writes the hidden
states of every layer to OUT.safetensors. Used by vision_reference_test.cpp."""
import json
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32", info
        a, b = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy()).reshape(info["shape"])
    return out, meta


def write(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        raw = tensors[name].contiguous().numpy().astype(np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def rms(x, w, eps):
    h = x.float()
    return w * (h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def main():
    w, meta = read(sys.argv[1])
    c = json.loads(meta["config"])
    eps, heads, patch = c["layer_norm_eps"], c["num_attention_heads"], c["patch_size"]
    norm = (lambda x, p: rms(x, w[p + ".weight"], eps)) if c["norm_type"] == "rms_norm" else (
        lambda x, p: F.layer_norm(x, (x.shape[-1],), w[p + ".weight"], w[p + ".bias"], eps))
    px = w["pixel_values"]
    pre = "vision_model.embeddings."
    emb = F.conv2d(px, w[pre + "patch_embedding.weight"], w[pre + "patch_embedding.bias"], stride=patch)
    b, d, gh, gw = emb.shape
    emb = emb.flatten(2).transpose(1, 2)
    cls = w[pre + "class_embedding"].expand(b, 1, -1)
    pos = w[pre + "position_embedding"]
    g = c["image_size"] // patch
    grid = pos[:, 1:].float().reshape(1, g, g, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
    grid = grid.reshape(1, -1, gh * gw).permute(0, 2, 1)
    x = torch.cat([cls, emb], 1) + torch.cat([pos[:, :1], grid], 1)
    states = {"hidden_0": x}
    for k in range(c["num_hidden_layers"]):
        p = "vision_model.encoder.layers.%d." % k
        h = norm(x, p + "norm1")
        qkv = F.linear(h, w[p + "attn.qkv.weight"], w.get(p + "attn.qkv.bias"))
        B, N, C = h.shape
        qkv = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
        q, kk, v = qkv.unbind(0)
        if c["qk_normalization"]:
            q = rms(q.transpose(1, 2).flatten(-2, -1), w[p + "attn.q_norm.weight"], eps).view(B, N, heads, -1).transpose(1, 2)
            kk = rms(kk.transpose(1, 2).flatten(-2, -1), w[p + "attn.k_norm.weight"], eps).view(B, N, heads, -1).transpose(1, 2)
        attn = ((q * (C // heads) ** -0.5) @ kk.transpose(-2, -1)).softmax(-1)
        a = F.linear((attn @ v).transpose(1, 2).reshape(B, N, C), w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
        x = x + a * w[p + "ls1"]
        m = F.linear(F.gelu(F.linear(norm(x, p + "norm2"), w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])),
                     w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        x = x + m * w[p + "ls2"]
        states["hidden_%d" % (k + 1)] = x
    write(sys.argv[2], states)


if __name__ == "__main__":
    main()
