"""Arithmetic on feature matrices that every later stage shares.

Feature tables reach a million rows, so these work over row chunks in float64 without a
float64 copy of the whole matrix: z-scoring (the paper normalises every feature set before
kNN, pairwise distances and clustering), group means (protein and image profiles) and the
squared Euclidean distances |a|^2 + |b|^2 - 2 a.b behind kNN, clustering and the pairwise
score.
"""

from __future__ import annotations

import numpy as np

_ZSCORE_BYTES = 8 * 2**20  # float64 scratch per chunk of rows


def row_chunks(n: int, row_bytes: int, budget: int = 32 * 2**20):
    """Slices of ``n`` rows, each about ``budget`` bytes of ``row_bytes``-wide rows."""
    step = max(1, budget // max(1, row_bytes))
    for start in range(0, n, step):
        yield slice(start, min(n, start + step))


def zscore(features: np.ndarray) -> np.ndarray:
    """Centre and scale each feature; zero-variance features (dead ReLU channels) are dropped.

    Returns C-contiguous float32. Means and standard deviations (ddof 0) are accumulated in
    float64 over row chunks in one pass (sums shifted by the first chunk's mean, so the
    variance does not cancel), so no float64 copy of the whole matrix is made.
    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {x.shape}")
    n, d = x.shape
    chunks = list(row_chunks(n, d * 8, _ZSCORE_BYTES))
    shift = x[chunks[0]].astype(np.float64).mean(axis=0) if n else np.zeros(d)
    total, squares = np.zeros(d), np.zeros(d)
    for rows in chunks:
        part = x[rows].astype(np.float64)
        part -= shift
        total += part.sum(axis=0)
        squares += np.einsum("ij,ij->j", part, part)
    offset = total / max(n, 1)
    sd = np.sqrt(np.maximum(squares / max(n, 1) - offset**2, 0.0))
    keep = np.flatnonzero(sd > 1e-12)
    mean, scale = (shift + offset)[keep], 1.0 / sd[keep]
    out = np.empty((n, len(keep)), np.float32)
    for rows in chunks:
        part = (x[rows] if len(keep) == d else x[rows][:, keep]).astype(np.float64)
        part -= mean
        part *= scale
        out[rows] = part
    return out


def group_means(
    keys: np.ndarray, features: np.ndarray, chunk_rows: int = 65536
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted unique keys, row counts, float64 means) of ``features`` grouped by ``keys``.

    Sums are accumulated in float64 over row chunks with a sparse indicator product, so a
    million-cell float32 table is never copied whole to float64 (and ``np.add.at`` is slow).
    """
    from scipy import sparse

    names, codes = np.unique(keys, return_inverse=True)
    codes = codes.ravel()
    counts = np.bincount(codes, minlength=len(names))
    sums = np.zeros((len(names), features.shape[1]))
    for start in range(0, len(codes), chunk_rows):
        part = slice(start, start + chunk_rows)
        c = codes[part]
        indicator = sparse.csr_matrix((np.ones(len(c)), (c, np.arange(len(c)))), shape=(len(names), len(c)))
        sums += indicator @ np.asarray(features[part], np.float64)
    return names, counts, sums / np.maximum(counts, 1)[:, None]


def squared_distances(
    a: np.ndarray, b: np.ndarray, a_sq: np.ndarray | None, b_sq: np.ndarray | None, clip: bool = True
) -> np.ndarray:
    """|a_i|^2 + |b_j|^2 - 2 a_i.b_j for every row pair, from one matrix product.

    ``a`` is (..., n, d) and ``b`` (..., m, d) (a leading batch axis allowed); ``a_sq`` and
    ``b_sq`` are their rows' squared norms, either left out (None) when the caller adds it
    later. The product is scaled in place and the norms added in that order, so the result is
    the same to the bit whoever calls; ``clip`` sets rounding negatives to 0.
    """
    out = np.matmul(a, np.swapaxes(b, -1, -2))
    out *= -2
    if a_sq is not None:
        out += a_sq[..., :, None]
    if b_sq is not None:
        out += b_sq[..., None, :]
    if clip:
        np.maximum(out, 0, out=out)
    return out
