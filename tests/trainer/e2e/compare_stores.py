"""Compares two runs' predictions stores, read by h5py alone.

usage: compare_stores.py DIR_A DIR_B FOLDS [ATOL]
  DIR_*/tiny/fold<k>.h5 for each k of FOLDS (comma-separated). In both splits (oof, test) the keys
  must be equal and every dataset (score, label_probs, element_prob) of the same shape and equal:
  byte-equal with ATOL 0 (the default), else within ATOL. Prints the largest difference.
"""
import sys

import h5py
import numpy as np

dir_a, dir_b, folds = sys.argv[1], sys.argv[2], [int(k) for k in sys.argv[3].split(",")]
atol = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
worst = 0.0
for k in folds:
    with h5py.File(f"{dir_a}/tiny/fold{k}.h5") as a, h5py.File(f"{dir_b}/tiny/fold{k}.h5") as b:
        for split in ("oof", "test"):
            assert np.array_equal(a[split]["keys"][()], b[split]["keys"][()]), (k, split, "keys")
            for name in ("score", "label_probs", "element_prob"):
                x, y = a[split][name][()], b[split][name][()]
                assert x.shape == y.shape, (k, split, name, x.shape, y.shape)
                diff = float(np.max(np.abs(x - y), initial=0))
                if atol == 0:
                    assert np.array_equal(x, y), (k, split, name, diff)
                else:
                    assert diff <= atol, (k, split, name, diff)
                worst = max(worst, diff)
print(f"stores of folds {folds}: keys equal, largest difference {worst:.2e} (allowed {atol:g})")
