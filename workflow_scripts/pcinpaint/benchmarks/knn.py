"""Leave-one-out kNN on z-scored features, scored by balanced accuracy (the paper's benchmark).

The paper's benchmark (Methods, "Baseline Feature Extraction and Benchmarking") z-scores
each feature set, predicts every cell from its k nearest other cells (Euclidean) and
reports balanced accuracy for several k (Supplementary Table 1; k = 11 in the main text).

One neighbour query serves the whole set and every k: each cell is excluded from its own
neighbours (no N refits), and the k nearest are the first k of the max(k) nearest. Votes are
majority; a tie goes to the tied class whose nearest member ranks first. Neighbours are
ordered by exact float64 distance, equal distances by row index, so results are
deterministic and match a brute-force reference, ties included.

The query runs blockwise on float32 matrix products and only recomputes exact distances for
a few candidates per cell; a rounding-error bound decides when the candidates provably hold
every cell that could be among (or tied with) the k nearest, and a wider exact search covers
the rest. At the paper's yeast benchmark size (30,889 cells, 384 features) all five k take
seconds on two cores (``tests/perf/bench_knn.py``).

Command line: ``python -m pcinpaint.benchmarks.knn FEATURES.parquet... --label true_class --k 1 5 11``
prints the balanced accuracy of each feature table, one column per k.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score

from pcinpaint.benchmarks.sample import drop_rare_classes, skipped_note
from pcinpaint.features.matrix import row_chunks, squared_distances, zscore

PAPER_KS = (1, 5, 11, 25, 50)
#: a class is scored when it has at least this many cells: leave-one-out finds no class-mate
#: for the only cell of a class, whose recall is then 0 whatever the features
MIN_CLASS_CELLS = 2

_EXACT_BYTES = 2 * 2**20  # float64 differences per chunk: small enough to stay in cache
_BLOCK_ELEMENTS = 2**25  # float32 distance block: rows x cells (128 MiB)


def _exact_sq(x: np.ndarray, rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
    """Squared distances of x[rows] to x[cand] (one candidate row per query), float64.

    Summed over the last axis of the difference array as a brute-force reference does, so
    the values (and hence orderings) are bit-identical to it.
    """
    out = np.empty(cand.shape)
    width = cand.shape[1] if cand.ndim == 2 else 1
    for part in row_chunks(len(rows), width * x.shape[1] * 8, _EXACT_BYTES):
        diff = np.subtract(x[cand[part]], x[rows[part], None, :], dtype=np.float64)
        out[part] = np.square(diff, out=diff).sum(axis=-1)
    return out


def _order_exact(x: np.ndarray, rows: np.ndarray, cand: np.ndarray):
    """Candidates (one row per query, ascending index) sorted by (exact distance, index).

    Returns the sorted candidates and their squared distances.
    """
    sq = _exact_sq(x, rows, cand)
    order = np.argsort(np.sqrt(sq), axis=1, kind="stable")  # stable: equal distances by index
    return np.take_along_axis(cand, order, 1), np.take_along_axis(sq, order, 1)


def _smallest(block: np.ndarray, m: int, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the m smallest entries (column indices and values), in ascending value order.

    Every entry left out is >= the largest value returned. A full argpartition of the block
    is the slow step, so a threshold per row is first estimated from a column sample,
    entries at or below it gathered (about 3m per row), and only those partitioned; rows
    where the sample misled (too few or too many below the threshold) are partitioned in full.
    """
    b, n = block.shape
    picked = np.empty((b, m), np.int64)
    values = np.empty((b, m), np.float32)
    full = np.ones(b, bool)
    if len(sample) < n:
        rank = min(len(sample) - 1, int(np.ceil(3 * m * len(sample) / n)))
        threshold = np.partition(block[:, sample], rank, axis=1)[:, rank]
        flat = np.flatnonzero(block <= threshold[:, None])
        row = flat // n
        counts = np.bincount(row, minlength=b)
        good = (counts >= m) & (counts <= 16 * m)
        if good.any():
            keep = good[row]
            flat, row = flat[keep], row[keep]
            starts = np.concatenate([[0], np.cumsum(counts * good)])
            pos = np.arange(len(flat)) - starts[row]
            width = int(counts[good].max())
            gathered = np.full((b, width), np.inf, np.float32)
            index = np.zeros((b, width), np.int64)
            gathered[row, pos] = block.ravel()[flat]
            index[row, pos] = flat - row * n
            rows = np.flatnonzero(good)
            part = np.argpartition(gathered[rows], m - 1, axis=1)[:, :m]
            picked[rows] = np.take_along_axis(index[rows], part, 1)
            values[rows] = np.take_along_axis(gathered[rows], part, 1)
            full = ~good
    if full.any():
        rows = np.flatnonzero(full)
        part = np.argpartition(block[rows], m - 1, axis=1)[:, :m]
        picked[rows] = part
        values[rows] = np.take_along_axis(block[rows], part, 1)
    order = np.argsort(values, axis=1)
    return np.take_along_axis(picked, order, 1), np.take_along_axis(values, order, 1)


class _RoundingBound:
    """Bound on |float32 |x_i|^2 + |x_j|^2 - 2 x_i.x_j - exact squared distance|, by norms.

    With u the float32 unit roundoff: the product's error is at most d u |x_i||x_j|
    (doubled, as it enters twice); rounding |x_j|^2 and the sum add u (2 |x_j|^2 +
    2 |x_i||x_j|), and the float32 cast of the centred data 2u (|x_i| + |x_j|)^2 at most.
    Twice that, rounded up, as margin: 2u ((2d + 8) |x_i||x_j| + 4 (|x_i|^2 + |x_j|^2)).
    """

    def __init__(self, d: int):
        u = float(np.finfo(np.float32).eps) / 2
        self.product = 2 * u * (2 * d + 8)
        self.norms = 8 * u

    def __call__(self, sq_i, sq_j):
        return self.product * np.sqrt(sq_i * sq_j) + self.norms * (sq_i + sq_j)


def loo_neighbours(features: np.ndarray, k: int, extra: int = 16, block_rows: int | None = None) -> np.ndarray:
    """(n, k) indices of each row's k nearest other rows (Euclidean), nearest first.

    Exact: equal to sorting each row's float64 distances to all other rows by
    (distance, index). Candidates (k + ``extra`` per row) come from blockwise float32
    products ``|x|^2 + |y|^2 - 2 x.y`` on centred data; their exact distances are recomputed
    and sorted. A row is accepted when the float32 rounding bound proves no other row can be
    as close as its k-th candidate; otherwise every row the bound cannot exclude is measured
    exactly. ``extra`` sets how many candidates are kept beyond k, not which neighbours are
    returned. ``block_rows`` rows are processed at a time (default: about 128 MiB per block).
    """
    x = _checked_features(features, k)
    n = len(x)
    m = k + extra
    if m >= n - 1:  # every other row is a candidate: exact sort, no bound needed
        return _all_neighbours(x, k)
    search = _Search.of(x, k, m)
    out = np.empty((n, k), np.int64)
    if block_rows is None:
        block_rows = _BLOCK_ELEMENTS // n
    block_rows = int(max(1, min(n, block_rows)))
    for start in range(0, n, block_rows):
        _block_neighbours(search, np.arange(start, min(n, start + block_rows)), out)
    return out


def _checked_features(features: np.ndarray, k: int) -> np.ndarray:
    """The features as a 2-D finite array with more rows than k: the query's preconditions."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {x.shape}")
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k={k} needs 1 <= k < number of cells ({n})")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    return x


def _all_neighbours(x: np.ndarray, k: int) -> np.ndarray:
    """Every row's k nearest by sorting its exact distances to all others: for small sets,
    where the candidates would be every other row anyway."""
    n, d = x.shape
    out = np.empty((n, k), np.int64)
    others = np.arange(n - 1)[None, :]
    for part in row_chunks(n, n * d * 8):
        rows = np.arange(part.start, part.stop)
        cand = others + (others >= rows[:, None])
        out[part] = _order_exact(x, rows, cand)[0][:, :k]
    return out


def _centred(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred float32 rows and their float64 squared norms.

    Distances are translation invariant: centring keeps the float32 norms (and so the rounding
    bound) small. fl(x - mu) and the float32 cast are relative roundings per coordinate, which
    the bound covers."""
    n, d = x.shape
    mean = np.zeros(d)
    for part in row_chunks(n, d * 8):
        mean += np.add.reduce(x[part], axis=0, dtype=np.float64)
    mean /= n
    work = np.empty((n, d), np.float32)
    for part in row_chunks(n, d * 8):
        work[part] = x[part].astype(np.float64) - mean
    norms = np.empty(n)
    for part in row_chunks(n, d * 8):
        norms[part] = np.square(work[part].astype(np.float64)).sum(axis=1)
    return work, norms


def _outliers(norms: np.ndarray) -> tuple[np.ndarray, float]:
    """Rows of the largest norms, and the largest norm of the rest.

    Outliers would loosen a bound taken over all rows: the bound over the rest serves every
    row, and the outliers are checked one by one."""
    n = len(norms)
    outliers = np.argsort(norms)[-max(1, n // 100) :]
    typical = float(np.delete(norms, outliers).max()) if n > len(outliers) else float(norms.max())
    return outliers[norms[outliers] > typical], typical


@dataclass(frozen=True)
class _Search:
    """What every block of the neighbour query shares: the data, its centred float32 copy and
    norms, the rounding bound, the outlier rows and the column sample of ``_smallest``."""

    x: np.ndarray
    work: np.ndarray
    norms: np.ndarray
    norms32: np.ndarray
    error: _RoundingBound
    typical: float
    outliers: np.ndarray
    sample: np.ndarray
    k: int
    m: int

    @classmethod
    def of(cls, x: np.ndarray, k: int, m: int) -> _Search:
        """Prepare the query of the k nearest of each row of x, m candidates per row."""
        n, d = x.shape
        work, norms = _centred(x)
        outliers, typical = _outliers(norms)
        sample = np.sort(np.random.default_rng(0).choice(n, size=min(n, 32 * m), replace=False))
        return cls(x, work, norms, norms.astype(np.float32), _RoundingBound(d), typical, outliers, sample, k, m)


def _block_neighbours(search: _Search, rows: np.ndarray, out: np.ndarray) -> None:
    """The k nearest of each of ``rows`` into ``out``: candidates from one float32 block,
    measured exactly, then rows the bound leaves unsure searched exactly."""
    row_norms = search.norms[rows]
    # |x_j|^2 - 2 x_i.x_j: |x_i|^2 is added per row below
    block = squared_distances(search.work[rows], search.work, None, search.norms32, clip=False)
    block[np.arange(len(rows)), rows] = np.inf  # self is never a neighbour
    cand, approx = _smallest(block, search.m, search.sample)
    slack = search.error(row_norms, search.typical)
    kth, lowest = _measure_candidates(search, rows, cand, approx, slack, out)
    # Every row not measured has an approximation >= lowest (+ |x_i|^2); if even that,
    # less the bound, exceeds the k-th exact distance, no such row can be as close.
    unsure = lowest + row_norms - slack <= kth
    if len(search.outliers):
        bound = search.error(row_norms[:, None], search.norms[search.outliers])
        far = block[:, search.outliers] + row_norms[:, None] - bound > kth[:, None]
        unsure |= ~far.all(axis=1)
    for i in np.flatnonzero(unsure):
        # every row whose exact distance could be <= the k-th candidate's
        close = np.flatnonzero(block[i] <= kth[i] - row_norms[i] + search.error(row_norms[i], search.norms))
        if len(close) < search.k:  # cannot happen if the bound holds; stay exact regardless
            close = np.delete(np.arange(len(search.x)), rows[i])
        out[rows[i]] = _order_exact(search.x, rows[i : i + 1], close[None, :])[0][0, : search.k]


def _measure_candidates(
    search: _Search, rows: np.ndarray, cand: np.ndarray, approx: np.ndarray, slack: np.ndarray, out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Exact distances of the candidates that could be among the k nearest; the k nearest of
    them into ``out``; per row the k-th squared distance and the lowest approximation left out.

    Those are the candidates whose approximation is within twice the error bound of the k-th:
    all m for rows with a wide bound (large norms), for the others as many as the widest of
    them needs."""
    k, m = search.k, search.m
    need = (approx <= (approx[:, k - 1] + 2 * slack)[:, None]).sum(axis=1)
    wide = need > min(m, k + 8)
    kth = np.empty(len(rows))
    lowest = np.empty(len(rows))
    for part in (np.flatnonzero(~wide), np.flatnonzero(wide)):
        if not len(part):
            continue
        width = int(need[part].max())
        near, sq = _order_exact(search.x, rows[part], np.sort(cand[part, :width], axis=1))
        out[rows[part]] = near[:, :k]
        kth[part] = sq[:, k - 1] * (1 + 1e-9)  # margin: equal square roots cannot slip through
        lowest[part] = approx[part, width] if width < m else approx[part, -1]
    return kth, lowest


def _vote_codes(codes: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority code per row of (n, k) integer codes; ties go to the tied code seen first."""
    n, k = codes.shape
    if n * n_classes <= _BLOCK_ELEMENTS:  # votes per (row, class) by one bincount
        counts = np.bincount((np.arange(n)[:, None] * n_classes + codes).ravel(), minlength=n * n_classes)
        counts = counts.reshape(n, n_classes)
        count_at = np.take_along_axis(counts, codes, 1)
    else:  # many distinct labels: compare each row's labels with each other instead
        count_at = np.empty((n, k), np.int64)
        for part in row_chunks(n, k * k):
            row = codes[part]
            count_at[part] = (row[:, :, None] == row[:, None, :]).sum(axis=2)
    # the first position holding a label with the most votes is the nearest tied label
    first_best = np.argmax(count_at == count_at.max(axis=1, keepdims=True), axis=1)
    return codes[np.arange(n), first_best]


def vote(neighbour_labels: np.ndarray) -> np.ndarray:
    """Majority label per row; ties go to the tied label seen first (nearest)."""
    neighbour_labels = np.asarray(neighbour_labels)
    values, codes = np.unique(neighbour_labels.ravel(), return_inverse=True)
    return values[_vote_codes(codes.reshape(neighbour_labels.shape), len(values))]


def _prepare(features: np.ndarray, labels: Sequence, standardise: bool):
    x = zscore(features) if standardise else np.asarray(features)
    classes, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    if len(codes) != len(x):
        raise ValueError(f"{len(codes)} labels for {len(x)} cells")
    return x, classes, codes.ravel()


def loo_knn_multi(
    features: np.ndarray, labels: Sequence, ks: Sequence[int] = PAPER_KS, standardise: bool = True
) -> dict[int, np.ndarray]:
    """Leave-one-out kNN predictions (labels as str) for each k, from one neighbour query."""
    ks = sorted({int(k) for k in ks})
    if not ks:
        return {}
    x, classes, codes = _prepare(features, labels, standardise)
    neighbours = codes[loo_neighbours(x, ks[-1])]
    return {k: classes[_vote_codes(neighbours[:, :k], len(classes))] for k in ks}


def loo_knn_predict(features: np.ndarray, labels: Sequence, k: int = 11, standardise: bool = True) -> np.ndarray:
    """Leave-one-out kNN prediction (label as str) for each cell."""
    return loo_knn_multi(features, labels, (k,), standardise)[k]


def loo_knn_accuracy(features: np.ndarray, labels: Sequence, k: int = 11) -> float:
    """Balanced accuracy of leave-one-out kNN (the paper's benchmark classifier)."""
    return float(balanced_accuracy_score(np.asarray(labels).astype(str), loo_knn_predict(features, labels, k)))


def scored_cells(labels: Sequence) -> tuple[np.ndarray, str]:
    """Mask of the cells kNN scores (classes of at least ``MIN_CLASS_CELLS`` cells) and a note
    naming the classes left out ("" when none)."""
    truth = np.asarray(labels).astype(str)
    keep = drop_rare_classes(truth, MIN_CLASS_CELLS)
    return keep, skipped_note(truth, keep, f"{MIN_CLASS_CELLS} cells")


def knn_report(
    features: np.ndarray, labels: Sequence, ks: Sequence[int] = PAPER_KS, standardise: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-out kNN for several k: overall and per-class tables.

    Overall: k, balanced_accuracy, n_cells, n_classes. Per class: k, label, n_cells,
    accuracy (the class's recall: the fraction of its cells predicted as it). Balanced
    accuracy is the mean of the per-class accuracies. Classes with fewer than
    ``MIN_CLASS_CELLS`` cells take no part (as neighbours either; ``scored_cells`` names them),
    and a k needs more cells than k: larger k are left out.
    """
    keep, _ = scored_cells(labels)
    truth = np.asarray(labels).astype(str)[keep]
    classes, codes = np.unique(truth, return_inverse=True)
    sizes = np.bincount(codes, minlength=len(classes))
    ks = [k for k in ks if k < len(truth)]
    overall, per_class = [], []
    x = np.asarray(features)[keep] if not keep.all() else features
    for k, pred in loo_knn_multi(x, truth, ks, standardise).items():
        hits = np.bincount(codes, weights=pred == truth, minlength=len(classes))
        recall = hits / sizes
        overall.append(dict(k=k, balanced_accuracy=float(recall.mean()), n_cells=len(truth), n_classes=len(classes)))
        per_class.append(pd.DataFrame(dict(k=k, label=classes, n_cells=sizes, accuracy=recall)))
    if not overall:  # no k given, or too few cells for any
        return (
            pd.DataFrame(columns=["k", "balanced_accuracy", "n_cells", "n_classes"]),
            pd.DataFrame(columns=["k", "label", "n_cells", "accuracy"]),
        )
    return pd.DataFrame(overall), pd.concat(per_class, ignore_index=True)


def _main(argv=None):
    from pcinpaint.features.table import split_table
    from pcinpaint.io import read_table

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tables", nargs="+", type=Path)
    parser.add_argument("--label", default="label", help="cell-table column with the class")
    parser.add_argument("--k", type=int, nargs="+", default=[11], help="one or more k (default 11)")
    parser.add_argument("--single", action="store_true", help="keep cells whose label has no '+' only")
    args = parser.parse_args(argv)
    rows = []
    for path in args.tables:
        meta, x = split_table(read_table(path))
        y = meta[args.label]
        keep = y.notna()
        if args.single:
            keep &= ~y.astype(str).str.contains("+", regex=False)
        overall, _ = knn_report(x[keep.to_numpy()], y[keep].to_numpy(), args.k)
        row = dict(features=path.stem, cells=int(keep.sum()), dims=x.shape[1])
        for k, acc in zip(overall["k"], overall["balanced_accuracy"]):
            row[f"balanced_accuracy_k{k}"] = round(acc, 4)
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    _main()
