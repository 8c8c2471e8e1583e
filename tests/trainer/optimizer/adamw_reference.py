"""PyTorch reference for optimizer_test.cpp: torch.optim.AdamW (fused=True) with two parameter
groups (decay on >= 2-D tensors, none on 1-D), a given lr per step, and clip_grad_norm_ before each
step. Reads raw float32 files written by the test, writes the parameters after the last step."""
import sys

import numpy as np
import torch

directory, steps, max_norm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
shapes = [tuple(int(d) for d in line.split()) for line in open(f"{directory}/shapes.txt")]
params = []
for k, shape in enumerate(shapes):
    params.append(torch.nn.Parameter(torch.from_numpy(np.fromfile(f"{directory}/param{k}.f32", np.float32).reshape(shape))))
lrs = [float(x) for x in open(f"{directory}/lrs.txt").read().split()]
decay = [p for p in params if p.dim() >= 2]
no_decay = [p for p in params if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=lrs[0], betas=(0.9, 0.95), eps=1e-8, fused=True)
norms = []
for step in range(steps):
    for k, p in enumerate(params):
        p.grad = torch.from_numpy(np.fromfile(f"{directory}/grad{step}_{k}.f32", np.float32).reshape(shapes[k]))
    norms.append(float(torch.nn.utils.clip_grad_norm_(params, max_norm)))
    for group in opt.param_groups:
        group["lr"] = lrs[step]
    opt.step()
for k, p in enumerate(params):
    p.detach().numpy().astype(np.float32).tofile(f"{directory}/out{k}.f32")
with open(f"{directory}/norms.txt", "w") as f:
    f.write(" ".join(repr(n) for n in norms))
