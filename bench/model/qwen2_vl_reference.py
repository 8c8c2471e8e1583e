"""Peer for bench/model: the same Qwen2-VL maths written compactly in PyTorch (not Hugging Face's
code), run on the weights and inputs the C++ benchmark wrote. Prints one JSON line:
{"loss": first-step loss, "seconds_per_step": mean over the timed steps}.

usage: qwen2_vl_reference.py MODEL_DIR INPUTS.safetensors STEPS THREADS
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data, DTYPES[info["dtype"]], (end - begin) // np.dtype(DTYPES[info["dtype"]]).itemsize,
                              8 + n + begin)
        out[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return out


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def rms_norm(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class Model:
    def __init__(self, cfg, weights):
        self.c, self.v, self.w = cfg, cfg["vision_config"], weights
        for t in self.w.values():
            t.requires_grad_(True)

    def vision(self, pixels, grid):
        w, v = self.w, self.v
        dim, heads, m = v["embed_dim"], v["num_heads"], v.get("spatial_merge_size", 2)
        hd = dim // heads
        x = pixels @ w["visual.patch_embed.proj.weight"].reshape(dim, -1).t()
        t, h, wd = grid
        hp = torch.arange(h).view(h // m, m, 1, 1).expand(h // m, m, wd // m, m).permute(0, 2, 1, 3).flatten()
        wp = torch.arange(wd).view(1, 1, wd // m, m).expand(h // m, m, wd // m, m).permute(0, 2, 1, 3).flatten()
        inv = 1.0 / (10000 ** (torch.arange(0, hd // 2, 2).float() / (hd // 2)))
        freqs = torch.cat([hp[:, None].float() * inv, wp[:, None].float() * inv], -1)
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        n = x.shape[0]
        for i in range(v["depth"]):
            p = f"visual.blocks.{i}."
            y = F.layer_norm(x, (dim,), w[p + "norm1.weight"], w[p + "norm1.bias"], 1e-6)
            q, k, vv = F.linear(y, w[p + "attn.qkv.weight"], w[p + "attn.qkv.bias"]).view(n, 3, heads, hd).unbind(1)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            q, k, vv = (z.transpose(0, 1) for z in (q, k, vv))  # one image: full attention
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd), -1) @ vv
            x = x + F.linear(a.transpose(0, 1).reshape(n, dim), w[p + "attn.proj.weight"], w[p + "attn.proj.bias"])
            y = F.layer_norm(x, (dim,), w[p + "norm2.weight"], w[p + "norm2.bias"], 1e-6)
            y = F.linear(y, w[p + "mlp.fc1.weight"], w[p + "mlp.fc1.bias"])
            y = y * torch.sigmoid(1.702 * y)
            x = x + F.linear(y, w[p + "mlp.fc2.weight"], w[p + "mlp.fc2.bias"])
        y = F.layer_norm(x, (dim,), w["visual.merger.ln_q.weight"], w["visual.merger.ln_q.bias"], 1e-6)
        y = F.gelu(F.linear(y.reshape(-1, dim * m * m), w["visual.merger.mlp.0.weight"], w["visual.merger.mlp.0.bias"]))
        return F.linear(y, w["visual.merger.mlp.2.weight"], w["visual.merger.mlp.2.bias"])

    def positions(self, ids, grid):
        # One image block per sequence: text, then (t, h, w) ids of the merged grid, then text.
        c, m = self.c, self.v.get("spatial_merge_size", 2)
        ids = ids.tolist()
        start = ids.index(c["image_token_id"])
        gh, gw = grid[1] // m, grid[2] // m
        pos = [[i, i, i] for i in range(start)]
        pos += [[start, start + r, start + q] for r in range(gh) for q in range(gw)]
        nxt = start + max(gh, gw)
        pos += [[nxt + i] * 3 for i in range(len(ids) - len(pos))]
        return torch.tensor(pos).t()  # [3,S]

    def loss(self, ids, pixels, grid, target):
        c, w = self.c, self.w
        H, heads, kvh = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
        hd = H // heads
        x = w["model.embed_tokens.weight"][ids]
        img = ids == c["image_token_id"]
        x = x.index_put((img,), self.vision(pixels, grid))
        pos = self.positions(ids, grid).float()
        inv = 1.0 / (c["rope_theta"] ** (torch.arange(0, hd, 2).float() / hd))
        f = pos[..., None] * inv
        emb = torch.cat([f, f], -1)
        sec = c["rope_scaling"]["mrope_section"] * 2
        cos = torch.cat([z[i % 3] for i, z in enumerate(emb.cos().split(sec, -1))], -1)[None]
        sin = torch.cat([z[i % 3] for i, z in enumerate(emb.sin().split(sec, -1))], -1)[None]
        S = ids.shape[0]
        mask = torch.full((S, S), torch.finfo(torch.float32).min).triu(1)
        eps = c["rms_norm_eps"]
        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            y = rms_norm(x, w[p + "input_layernorm.weight"], eps)
            q = F.linear(y, w[p + "self_attn.q_proj.weight"], w[p + "self_attn.q_proj.bias"]).view(S, heads, hd).transpose(0, 1)
            k = F.linear(y, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.k_proj.bias"]).view(S, kvh, hd).transpose(0, 1)
            v = F.linear(y, w[p + "self_attn.v_proj.weight"], w[p + "self_attn.v_proj.bias"]).view(S, kvh, hd).transpose(0, 1)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            k, v = k.repeat_interleave(heads // kvh, 0), v.repeat_interleave(heads // kvh, 0)
            a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + mask, -1) @ v
            x = x + F.linear(a.transpose(0, 1).reshape(S, H), w[p + "self_attn.o_proj.weight"])
            y = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
            y = F.silu(F.linear(y, w[p + "mlp.gate_proj.weight"])) * F.linear(y, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(y, w[p + "mlp.down_proj.weight"])
        last = rms_norm(x[-1], w["model.norm.weight"], eps)
        logits = last @ w["lm_head.weight"].t()
        return F.cross_entropy(logits[None], target.view(1))


def main():
    model_dir, inputs_path, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    cfg = json.load(open(model_dir + "/config.json"))
    model = Model(cfg, read_safetensors(model_dir + "/model.safetensors"))
    inputs = read_safetensors(inputs_path)
    grid = inputs["image_grid_thw"][0].tolist()
    args = (inputs["input_ids"][0], inputs["pixel_values"], grid, inputs["target"])
    first = model.loss(*args)
    first.backward()  # warm-up step
    times = []
    for _ in range(steps):
        for t in model.w.values():
            t.grad = None
        start = time.perf_counter()
        model.loss(*args).backward()
        times.append(time.perf_counter() - start)
    print(json.dumps({"loss": first.item(), "seconds_per_step": sum(times) / len(times)}))


if __name__ == "__main__":
    main()
