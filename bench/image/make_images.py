"""Writes the benchmarks' seeded image files: smooth gradients plus noise, SIZE x SIZE pixels.

usage: make_images.py FOLDER COUNT SIZE [jpeg|mixed]
  mixed (default): even files JPEG (quality 90), odd files PNG; jpeg: every file JPEG.
Used by bench_image_pipeline and bench_trainer_loader, so both time the same kind of file.
"""
import os
import sys

import numpy as np
from PIL import Image

folder, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kind = sys.argv[4] if len(sys.argv) > 4 else "mixed"
rng = np.random.default_rng(1234)
y, x = np.mgrid[0:size, 0:size]
for i in range(n):
    base = np.stack([(x * (c + 1) + y * (i + 1)) % 256 for c in range(3)], -1)
    img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
    jpeg = kind == "jpeg" or i % 2 == 0
    name = os.path.join(folder, f"img{i:03d}." + ("jpg" if jpeg else "png"))
    Image.fromarray(img).save(name, **({"quality": 90} if jpeg else {}))
