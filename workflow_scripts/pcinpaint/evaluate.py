"""Evaluation core: leave-one-out kNN on z-scored features, balanced accuracy.

One neighbour query on the whole set, each cell excluded from its own neighbours (no N
refits). Votes are majority; a tie goes to the tied class whose nearest member ranks first,
so results are deterministic and match a brute-force reference.

Command line: ``python -m pcinpaint.evaluate FEATURES.parquet... --label true_class --k 11``
prints the balanced accuracy of each feature table.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import NearestNeighbors


def zscore(features: np.ndarray) -> np.ndarray:
    """Centre and scale each feature; zero-variance features (dead ReLU channels) are dropped."""
    x = np.asarray(features, np.float64)
    sd = x.std(axis=0)
    keep = sd > 1e-12
    return ((x[:, keep] - x[:, keep].mean(axis=0)) / sd[keep]).astype(np.float32)


def loo_neighbours(features: np.ndarray, k: int, extra: int = 16) -> np.ndarray:
    """(n, k) indices of each row's k nearest other rows (Euclidean), nearest first.

    Equal distances are ordered by row index, as a brute-force reference would: candidates
    come from one scikit-learn query (``extra`` beyond k, for ties at the boundary), then
    their exact distances are recomputed and sorted by (distance, index).
    """
    x = np.asarray(features, np.float64)
    n = len(x)
    if k >= n:
        raise ValueError(f"k={k} needs more than {k} cells, got {n}")
    m = min(n, k + 1 + extra)
    _, candidates = NearestNeighbors(n_neighbors=m, algorithm="brute").fit(x).kneighbors(x)
    out = np.empty((n, k), np.int64)
    for i in range(n):
        cand = candidates[i][candidates[i] != i]
        dist = np.sqrt(((x[cand] - x[i]) ** 2).sum(axis=1))
        order = np.lexsort((cand, dist))
        if m < n and dist[order[k - 1]] >= dist.max():  # the tie may run past the candidates
            cand = np.delete(np.arange(n), i)
            dist = np.sqrt(((x[cand] - x[i]) ** 2).sum(axis=1))
            order = np.lexsort((cand, dist))
        out[i] = cand[order[:k]]
    return out


def vote(neighbour_labels: np.ndarray) -> np.ndarray:
    """Majority label per row; ties go to the tied label seen first (nearest)."""
    preds = np.empty(len(neighbour_labels), dtype=neighbour_labels.dtype)
    for i, row in enumerate(neighbour_labels):
        values, first, counts = np.unique(row, return_index=True, return_counts=True)
        best = counts == counts.max()
        preds[i] = values[best][np.argmin(first[best])]
    return preds


def loo_knn_predict(features: np.ndarray, labels: Sequence, k: int = 11, standardise: bool = True) -> np.ndarray:
    x = zscore(features) if standardise else np.asarray(features, np.float32)
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    return classes[vote(codes[loo_neighbours(x, k)])]


def loo_knn_accuracy(features: np.ndarray, labels: Sequence, k: int = 11) -> float:
    """Balanced accuracy of leave-one-out kNN (the paper's benchmark classifier)."""
    return float(balanced_accuracy_score(np.asarray(labels).astype(str), loo_knn_predict(features, labels, k)))


def _main(argv=None):
    from .featuretable import split_table
    from .io import read_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tables", nargs="+", type=Path)
    parser.add_argument("--label", default="label", help="cell-table column with the class")
    parser.add_argument("--k", type=int, default=11)
    parser.add_argument("--single", action="store_true", help="keep cells whose label has no '+' only")
    args = parser.parse_args(argv)
    rows = []
    for path in args.tables:
        meta, x = split_table(read_table(path))
        y = meta[args.label]
        keep = y.notna()
        if args.single:
            keep &= ~y.astype(str).str.contains("+", regex=False)
        acc = loo_knn_accuracy(x[keep.to_numpy()], y[keep].to_numpy(), args.k)
        rows.append(dict(features=path.stem, cells=int(keep.sum()), dims=x.shape[1], balanced_accuracy=round(acc, 4)))
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    _main()
