"""Benchmark: leave-one-out kNN at the paper's yeast benchmark size, for k = 1, 5, 11, 25, 50.

Run from the repository root:  python tests/perf/bench_knn.py [--quick] [--threads N]

The paper scores every feature set by leave-one-out kNN on 30,889 labelled yeast cells
(Supplementary Table 1: five values of k), so the query runs once per feature set and
layer. This times, on random float32 features (384 dimensions, 10 classes with shifted
means), z-scoring, the neighbour query at k = 50 and the votes for all five k
(``pcinpaint.benchmarks.knn.loo_knn_multi``). Side by side in the same run, the previous
implementation (scikit-learn brute-force query, then a Python loop per cell for exact
tie-breaking and voting; one query per k) runs on a subset of cells, and both are checked
to give identical neighbours and predictions there. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import sklearn
from sklearn.neighbors import NearestNeighbors
from threadpoolctl import threadpool_info, threadpool_limits  # a scikit-learn dependency

from pcinpaint.benchmarks.knn import PAPER_KS, _vote_codes, loo_neighbours
from pcinpaint.features.matrix import zscore


def old_zscore(features: np.ndarray) -> np.ndarray:
    x = np.asarray(features, np.float64)
    sd = x.std(axis=0)
    keep = sd > 1e-12
    return ((x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]).astype(np.float32)


def old_loo_neighbours(features: np.ndarray, k: int, extra: int = 16) -> np.ndarray:
    x = np.asarray(features, np.float64)
    n = len(x)
    m = min(n, k + 1 + extra)
    _, candidates = NearestNeighbors(n_neighbors=m, algorithm="brute").fit(x).kneighbors(x)
    out = np.empty((n, k), np.int64)
    for i in range(n):
        cand = candidates[i][candidates[i] != i]
        dist = np.sqrt(((x[cand] - x[i]) ** 2).sum(axis=1))
        order = np.lexsort((cand, dist))
        if m < n and dist[order[k - 1]] >= dist.max():
            cand = np.delete(np.arange(n), i)
            dist = np.sqrt(((x[cand] - x[i]) ** 2).sum(axis=1))
            order = np.lexsort((cand, dist))
        out[i] = cand[order[:k]]
    return out


def old_vote(neighbour_labels: np.ndarray) -> np.ndarray:
    preds = np.empty(len(neighbour_labels), dtype=neighbour_labels.dtype)
    for i, row in enumerate(neighbour_labels):
        values, first, counts = np.unique(row, return_index=True, return_counts=True)
        best = counts == counts.max()
        preds[i] = values[best][np.argmin(first[best])]
    return preds


def make_data(n: int, d: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    centres = rng.normal(size=(n_classes, d)).astype(np.float32) * 0.15
    return rng.normal(size=(n, d)).astype(np.float32) + centres[labels], labels


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def new_all_k(z: np.ndarray, codes: np.ndarray, n_classes: int, ks) -> tuple[dict, float, float]:
    neighbours, t_query = timed(loo_neighbours, z, max(ks))
    t0 = time.perf_counter()
    labels = codes[neighbours]
    preds = {k: _vote_codes(labels[:, :k], n_classes) for k in ks}
    return preds, t_query, time.perf_counter() - t0


def old_all_k(z: np.ndarray, codes: np.ndarray, ks) -> tuple[dict, float, float]:
    t_query = t_vote = 0.0
    preds = {}
    for k in ks:  # the previous code ran one query per k
        neighbours, t = timed(old_loo_neighbours, z, k)
        t_query += t
        preds[k], t = timed(old_vote, codes[neighbours])
        t_vote += t
    return preds, t_query, t_vote


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5,000 cells, old code on 2,000 (a smoke run)")
    parser.add_argument("--cells", type=int, default=None, help="cells (default 30,889, the paper's benchmark)")
    parser.add_argument("--old-cells", type=int, default=None, help="subset for the old code (default 5,000)")
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads (default: all)")
    args = parser.parse_args()
    n = args.cells or (5_000 if args.quick else 30_889)
    n_old = min(n, args.old_cells or (2_000 if args.quick else 5_000))
    d, n_classes, ks = 384, 10, PAPER_KS

    if args.threads:
        threadpool_limits(args.threads)
    blas = ", ".join(f"{i['internal_api']} {i['version']} ({i['num_threads']} threads)" for i in threadpool_info())
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}"
    )
    print(f"thread pools: {blas}")
    print(f"data: {n} x {d} float32, {n_classes} classes; k = {', '.join(map(str, ks))}", flush=True)

    x, codes = make_data(n, d, n_classes)
    z, t_z = timed(zscore, x)
    z_old, t_z_old = timed(old_zscore, x)
    print(
        f"zscore: {t_z:6.2f} s  (previous float64 version {t_z_old:6.2f} s, "
        f"max |difference| {np.abs(z - z_old).max():.1e})",
        flush=True,
    )
    preds, t_query, t_vote = new_all_k(z, codes, n_classes, ks)
    print(
        f"all {n} cells: neighbour query (k={max(ks)}) {t_query:6.2f} s, votes for {len(ks)} k {t_vote:6.2f} s, "
        f"total {t_query + t_vote:6.2f} s",
        flush=True,
    )
    for k in ks:
        recall = np.bincount(codes, weights=preds[k] == codes, minlength=n_classes) / np.bincount(codes)
        print(f"  k={k:2d}: balanced accuracy {recall.mean():.4f}")

    sub = zscore(x[:n_old])
    new_sub, new_q, new_v = new_all_k(sub, codes[:n_old], n_classes, ks)
    old_sub, old_q, old_v = old_all_k(sub, codes[:n_old], ks)
    same = all(np.array_equal(new_sub[k], old_sub[k]) for k in ks)
    same_neighbours = np.array_equal(loo_neighbours(sub, max(ks)), old_loo_neighbours(sub, max(ks)))
    print(
        f"\nprevious and current code side by side on {n_old} cells, all {len(ks)} k "
        f"(identical neighbours at k={max(ks)}: {same_neighbours}, identical predictions: {same})"
    )
    print(f"{'':10s} {'query s':>9s} {'votes s':>9s} {'total s':>9s}")
    print(f"{'previous':10s} {old_q:9.2f} {old_v:9.2f} {old_q + old_v:9.2f}")
    print(f"{'now':10s} {new_q:9.2f} {new_v:9.2f} {new_q + new_v:9.2f}")
    ratios = (old_q / new_q, old_v / max(new_v, 1e-9), (old_q + old_v) / (new_q + new_v))
    print(f"{'ratio':10s} " + " ".join(f"{r:8.1f}x" for r in ratios))


if __name__ == "__main__":
    main()
