"""The peer side of bench_ensemble: the same bootstrap draws and nested stacking CV with scipy and
scikit-learn, timed. Reads the binary arrays bench_ensemble writes; prints one JSON object."""
import json
import sys
import time

import numpy as np
import scipy.stats
from scipy.optimize import curve_fit, nnls
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold


def logistic_func(X, b1, b2, b3, b4):
    return b2 + np.divide(b1 - b2, 1 + np.exp(np.negative(np.divide(X - b3, np.abs(b4)))))


def plcc_official(gt, pred):
    popt, _ = curve_fit(logistic_func, gt, pred,
                        p0=[np.max(pred), np.min(pred), np.mean(gt), np.std(gt)], maxfev=int(1e8))
    return scipy.stats.pearsonr(pred, logistic_func(gt, *popt))[0]


def main():
    meta = json.load(open(sys.argv[1]))
    n, m, b, k = meta["samples"], meta["models"], meta["draws"], meta["labels"]
    d = meta["dir"]
    mos = np.fromfile(d + "/mos.f64")
    scores = np.fromfile(d + "/scores.f64").reshape(m, n)
    q = np.fromfile(d + "/q.f64").reshape(m, n, k)
    correct = np.fromfile(d + "/correct.f64").reshape(m, n)
    counts = np.fromfile(d + "/counts.f64")
    draws = np.fromfile(d + "/draws.u32", dtype=np.uint32).reshape(b, n)
    folds = np.fromfile(d + "/folds.i32", dtype=np.int32)

    start, cpu = time.perf_counter(), time.process_time()
    finals = np.zeros((m, b))
    for i in range(b):
        idx = draws[i]
        g = mos[idx]
        for j in range(m):
            p = scores[j][idx]
            srcc = scipy.stats.spearmanr(g, p)[0]
            scipy.stats.kendalltau(g, p)
            plcc = plcc_official(g, p)
            np.sqrt(np.mean((g - p) ** 2))
            acc = correct[j][idx].sum() / counts[idx].sum()
            finals[j, i] = srcc / 4 + plcc / 4 + acc / 2
    bootstrap_seconds = time.perf_counter() - start
    bootstrap_cpu = time.process_time() - cpu

    x = np.concatenate([scores.T[:, :, None], q.transpose(1, 0, 2)], axis=2).reshape(n, -1)
    alphas = [mantissa * 10.0 ** e for e in range(-4, 5) for mantissa in (1.0, 3.0)]
    start, cpu = time.perf_counter(), time.process_time()
    nested = {"ridge": np.zeros(n), "nnls": np.zeros(n)}
    for f in np.unique(folds):
        tr, te = folds != f, folds == f
        xt, yt = x[tr], mos[tr]
        best, best_alpha = np.inf, None
        for alpha in alphas:
            err = 0.0
            for itr, ite in KFold(meta["inner_folds"], shuffle=True, random_state=0).split(xt):
                r = Ridge(alpha=alpha).fit(xt[itr], yt[itr])
                err += np.sum((r.predict(xt[ite]) - yt[ite]) ** 2)
            if err < best:
                best, best_alpha = err, alpha
        nested["ridge"][te] = Ridge(alpha=best_alpha).fit(xt, yt).predict(x[te])
        mx, my = xt.mean(axis=0), yt.mean()
        w, _ = nnls(xt - mx, yt - my)
        nested["nnls"][te] = (x[te] - mx) @ w + my
    stacking_seconds = time.perf_counter() - start
    stacking_cpu = time.process_time() - cpu
    print(json.dumps({
        "bootstrap_seconds": bootstrap_seconds,
        "stacking_seconds": stacking_seconds,
        "bootstrap_cpu": bootstrap_cpu,
        "stacking_cpu": stacking_cpu,
        "final_low": np.percentile(finals, 2.5, axis=1).tolist(),
        "final_high": np.percentile(finals, 97.5, axis=1).tolist(),
        "nested_srcc": {key: float(scipy.stats.spearmanr(mos, v)[0]) for key, v in nested.items()},
    }))


main()
