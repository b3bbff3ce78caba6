"""Arithmetic on feature matrices that every later stage shares.

Feature tables reach millions of rows, so these work over row chunks in float64 without a
float64 copy of the whole matrix, from an array or block by block from a table on disk
(``features.reading``): z-scoring (the paper normalises every feature set before
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


def array_blocks(features: np.ndarray, rows: np.ndarray | None = None, row_bytes_budget: int = _ZSCORE_BYTES):
    """(row positions, rows) of an array in memory, in chunks of about ``row_bytes_budget`` bytes
    of float64: the same form ``features.reading.FeatureFile.blocks`` gives from a table on disk,
    so the accumulators below take either."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {x.shape}")
    positions = np.arange(len(x)) if rows is None else np.asarray(rows, np.int64)
    for part in row_chunks(len(positions), x.shape[1] * 8, row_bytes_budget):
        at = positions[part]
        yield at, (x[part] if rows is None else x[at])


def blocks_of(features, rows: np.ndarray | None = None):
    """Row blocks of an array or of anything with a ``blocks`` method (a ``FeatureFile``)."""
    if hasattr(features, "blocks"):
        return features.blocks(rows)
    return array_blocks(features, rows)


class Moments:
    """Per-feature mean and standard deviation (ddof 0), accumulated block by block in float64.

    Sums are shifted by the first block's mean, so the variance does not cancel; a whole array
    passed at once is cut into the chunks ``zscore`` always used, so its result is unchanged to
    the bit. ``transform`` then z-scores any rows with these statistics: the whole screen's
    scaling applied to a subsample, without holding the screen."""

    def __init__(self, n_features: int):
        self.n, self.shift = 0, None
        self.total, self.squares = np.zeros(n_features), np.zeros(n_features)

    @classmethod
    def of(cls, features, rows: np.ndarray | None = None) -> Moments:
        """Moments of an array or a ``FeatureFile`` (only ``rows`` when given); a source that keeps
        its own (``FeatureRows.moments``) is read once."""
        if rows is None and hasattr(features, "moments"):
            return features.moments()
        d = features.n_features if hasattr(features, "n_features") else np.asarray(features).shape[1]
        return cls.of_blocks(blocks_of(features, rows), d)

    @classmethod
    def of_blocks(cls, blocks, n_features: int) -> Moments:
        """Moments of the rows of ``(positions, block)`` pairs."""
        stats = cls(n_features)
        for _, x in blocks:
            stats.add(x)
        return stats

    def add(self, block: np.ndarray) -> None:
        for rows in row_chunks(len(block), block.shape[1] * 8, _ZSCORE_BYTES):
            part = block[rows].astype(np.float64)
            if self.shift is None:
                self.shift = part.mean(axis=0)
            part -= self.shift
            self.total += part.sum(axis=0)
            self.squares += np.einsum("ij,ij->j", part, part)
            self.n += len(part)

    def finish(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kept feature indices: those that vary, their means, 1 / their standard deviations)."""
        n = max(self.n, 1)
        offset = self.total / n
        sd = np.sqrt(np.maximum(self.squares / n - offset**2, 0.0))
        keep = np.flatnonzero(sd > 1e-12)
        shift = self.shift if self.shift is not None else np.zeros(len(sd))
        return keep, (shift + offset)[keep], 1.0 / sd[keep]

    def transform(self, features: np.ndarray) -> np.ndarray:
        """C-contiguous float32 z-scores of ``features`` (varying features only)."""
        keep, mean, scale = self.finish()
        x = np.asarray(features)
        out = np.empty((len(x), len(keep)), np.float32)
        for rows in row_chunks(len(x), x.shape[1] * 8, _ZSCORE_BYTES):
            part = (x[rows] if len(keep) == x.shape[1] else x[rows][:, keep]).astype(np.float64)
            part -= mean
            part *= scale
            out[rows] = part
        return out


def zscore(features: np.ndarray) -> np.ndarray:
    """Centre and scale each feature; zero-variance features (dead ReLU channels) are dropped.

    Returns C-contiguous float32. Means and standard deviations (ddof 0) are accumulated in
    float64 over row chunks in one pass (``Moments``), so no float64 copy of the whole matrix is
    made.
    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be 2-D, got shape {x.shape}")
    stats = Moments(x.shape[1])
    stats.add(x)
    return stats.transform(x)


class GroupSums:
    """Per-group float64 sums and row counts of features, accumulated block by block with a
    sparse indicator product (``np.add.at`` is slow), so no float64 copy of a table is made."""

    def __init__(self, n_groups: int, n_features: int):
        self.sums = np.zeros((n_groups, n_features))
        self.counts = np.zeros(n_groups, np.int64)

    def add(self, codes: np.ndarray, block: np.ndarray, chunk_rows: int = 65536) -> None:
        """Add rows ``block`` whose groups are ``codes`` (integers below n_groups)."""
        from scipy import sparse

        n_groups = len(self.counts)
        self.counts += np.bincount(codes, minlength=n_groups)
        for start in range(0, len(codes), chunk_rows):
            part = slice(start, start + chunk_rows)
            c = codes[part]
            indicator = sparse.csr_matrix((np.ones(len(c)), (c, np.arange(len(c)))), shape=(n_groups, len(c)))
            self.sums += indicator @ np.asarray(block[part], np.float64)

    def means(self) -> np.ndarray:
        return self.sums / np.maximum(self.counts, 1)[:, None]


def group_means(keys: np.ndarray, features, chunk_rows: int = 65536) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sorted unique keys, row counts, float64 means) of ``features`` grouped by ``keys`` (one
    per row): an array, or a ``FeatureFile`` summed one row group at a time."""
    names, codes = np.unique(keys, return_inverse=True)
    codes = codes.ravel()
    if hasattr(features, "blocks"):
        sums = GroupSums(len(names), features.n_features)
        for positions, x in features.blocks():
            sums.add(codes[positions], x, chunk_rows)
    else:
        sums = GroupSums(len(names), np.asarray(features).shape[1])
        sums.add(codes, features, chunk_rows)
    return names, sums.counts, sums.means()


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
