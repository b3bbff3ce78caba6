"""Feature-matrix arithmetic (``pcinpaint.features.matrix``): z-scores, group means and squared
distances equal the textbook formulas, whether rows come at once or block by block."""

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from pcinpaint.features.matrix import (
    GroupSums,
    Moments,
    array_blocks,
    blocks_of,
    group_means,
    row_chunks,
    squared_distances,
    zscore,
)


def _features(n=50, d=6, seed=0):
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    x[:, 2] = 3.0  # a dead channel
    return x


class _Blocks:
    """A stand-in for a table on disk: rows handed out in blocks of 7."""

    def __init__(self, x):
        self.x, self.n_features = x, x.shape[1]

    def blocks(self, rows=None):
        rows = np.arange(len(self.x)) if rows is None else np.asarray(rows)
        for start in range(0, len(rows), 7):
            at = rows[start : start + 7]
            yield at, self.x[at]


def test_row_chunks_cover_every_row_once_within_the_budget():
    parts = list(row_chunks(10, row_bytes=8, budget=24))
    assert [(p.start, p.stop) for p in parts] == [(0, 3), (3, 6), (6, 9), (9, 10)]
    assert list(row_chunks(0, 8)) == []
    assert [p.stop - p.start for p in row_chunks(3, row_bytes=100, budget=1)] == [1, 1, 1]


def test_array_blocks_give_positions_and_rows():
    x = _features()
    blocks = list(array_blocks(x, rows=np.array([4, 1, 9]), row_bytes_budget=16 * 8 * x.shape[1]))
    assert [b[0].tolist() for b in blocks] == [[4, 1, 9]]
    np.testing.assert_array_equal(blocks[0][1], x[[4, 1, 9]])
    with pytest.raises(ValueError, match=r"features must be 2-D, got shape \(50,\)"):
        list(array_blocks(x[:, 0]))


def test_zscore_is_the_textbook_formula_without_dead_features():
    x = _features()
    z = zscore(x)
    live = np.delete(x, 2, axis=1).astype(np.float64)
    expected = (live - live.mean(axis=0)) / live.std(axis=0)
    assert z.dtype == np.float32 and z.flags.c_contiguous and z.shape == (50, 5)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="features must be 2-D"):
        zscore(x[0])


def test_moments_of_blocks_match_the_whole_array_to_the_bit():
    x = _features(n=200)
    whole = zscore(x)
    blockwise = Moments.of(_Blocks(x))
    keep, mean, scale = blockwise.finish()
    assert keep.tolist() == [0, 1, 3, 4, 5]
    np.testing.assert_allclose(blockwise.transform(x), whole, rtol=1e-6)
    np.testing.assert_array_equal(Moments.of(x).transform(x), whole)


def test_moments_keep_precision_far_from_zero():
    rng = np.random.default_rng(1)
    x = 1e8 + rng.normal(size=(1000, 2))  # a naive sum of squares cancels here
    _, mean, scale = Moments.of(x).finish()
    np.testing.assert_allclose(1 / scale, x.std(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mean, x.mean(axis=0), rtol=1e-12)


def test_moments_of_a_subset_of_rows():
    x = _features()
    rows = np.arange(0, 50, 3)
    _, mean, _ = Moments.of(x, rows).finish()
    np.testing.assert_allclose(mean, np.delete(x[rows], 2, axis=1).mean(axis=0), rtol=1e-5)
    assert list(blocks_of(_Blocks(x), rows))[0][0].tolist() == rows[:7].tolist()


def test_group_means_are_sorted_keys_with_counts_and_float64_means():
    x = _features(n=40)
    keys = np.array(["b", "a", "c", "a"] * 10)
    names, counts, means = group_means(keys, x, chunk_rows=6)
    assert names.tolist() == ["a", "b", "c"] and counts.tolist() == [20, 10, 10]
    assert means.dtype == np.float64
    for name, mean in zip(names, means):
        np.testing.assert_allclose(mean, x[keys == name].astype(np.float64).mean(axis=0), rtol=1e-12)
    names_b, counts_b, means_b = group_means(keys, _Blocks(x))
    assert names_b.tolist() == names.tolist() and counts_b.tolist() == counts.tolist()
    np.testing.assert_allclose(means_b, means, rtol=1e-12)


def test_an_empty_group_has_a_zero_mean_not_nan():
    sums = GroupSums(3, 2)
    sums.add(np.array([0, 0]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    np.testing.assert_array_equal(sums.means(), [[2.0, 3.0], [0.0, 0.0], [0.0, 0.0]])
    assert sums.counts.tolist() == [2, 0, 0]


def test_squared_distances_match_cdist_and_clip_rounding():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    d = squared_distances(a, b, (a**2).sum(1), (b**2).sum(1))
    np.testing.assert_allclose(d, cdist(a, b, "sqeuclidean"), rtol=1e-10, atol=1e-12)
    self_d = squared_distances(a, a, (a**2).sum(1), (a**2).sum(1))
    assert (self_d >= 0).all() and np.allclose(np.diag(self_d), 0, atol=1e-12)
    partial = squared_distances(a, b, None, None, clip=False)
    np.testing.assert_allclose(partial, -2 * a @ b.T)
    batched = squared_distances(np.stack([a, a]), np.stack([b, b]), None, (b**2).sum(1)[None].repeat(2, 0))
    assert batched.shape == (2, 5, 4)
