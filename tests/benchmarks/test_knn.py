"""Leave-one-out kNN against a brute-force reference; balanced accuracy; z-scoring."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from pcinpaint.benchmarks.knn import (
    knn_report,
    loo_knn_accuracy,
    loo_knn_multi,
    loo_knn_predict,
    loo_neighbours,
    scored_cells,
    vote,
)
from pcinpaint.features.matrix import zscore


def brute_force(x, labels, k):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    preds = []
    for i in range(len(x)):
        order = np.lexsort((np.arange(len(x)), d[i]))[:k]  # by distance, then index
        neigh = labels[order]
        best, best_count = None, -1
        for lab in neigh:  # nearest first: a later label must have strictly more votes to win
            count = np.sum(neigh == lab)
            if count > best_count:
                best, best_count = lab, count
        preds.append(best)
    return np.array(preds)


@pytest.mark.parametrize("k", [1, 5, 11])
def test_loo_knn_equals_brute_force(k):
    rng = np.random.default_rng(k)
    x = rng.normal(size=(150, 8)) + np.repeat(rng.normal(size=(3, 8)) * 1.5, 50, axis=0)
    labels = np.repeat(np.array(["u", "v", "w"]), 50)
    z = zscore(x)
    np.testing.assert_array_equal(loo_knn_predict(x, labels, k), brute_force(z, labels, k))
    acc = loo_knn_accuracy(x, labels, k)
    assert acc == pytest.approx(balanced_accuracy_score(labels, brute_force(z, labels, k)))
    assert 0.5 < acc <= 1.0


def test_ties_are_broken_like_the_brute_force_reference():
    rng = np.random.default_rng(3)
    for _ in range(10):
        x = rng.integers(0, 2, size=(120, 3)).astype(float)  # only 8 distinct points: huge ties
        labels = rng.choice(np.array(["u", "v", "w"]), 120)
        np.testing.assert_array_equal(loo_knn_predict(x, labels, 5, standardise=False), brute_force(x, labels, 5))


def test_self_is_excluded_even_with_duplicates():
    x = np.array([[0.0], [0.0], [5.0], [5.1]])
    neigh = loo_neighbours(x, 1)
    assert neigh[0, 0] == 1 and neigh[1, 0] == 0 and neigh[2, 0] == 3


def test_ties_go_to_the_nearest_tied_class():
    assert list(vote(np.array([["a", "b"], ["b", "a"]]))) == ["a", "b"]
    assert list(vote(np.array([["c", "a", "b", "a", "b", "c"]]))) == ["c"]
    assert list(vote(np.array([["c", "a", "a", "b"]]))) == ["a"]


def test_zscore_drops_dead_features_and_scales():
    x = np.column_stack([np.arange(10.0), np.zeros(10), np.arange(10.0) * 3 + 7])
    z = zscore(x)
    assert z.shape == (10, 2)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-6)


def test_perfectly_separated_and_random_labels():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 1, (60, 5)), rng.normal(20, 1, (60, 5))])
    labels = np.repeat(["p", "q"], 60)
    assert loo_knn_accuracy(x, labels, 11) == 1.0
    assert loo_knn_accuracy(x, rng.permutation(labels), 11) < 0.75


def brute_force_neighbours(x, k=None):
    """Full float64 distance matrix, self excluded, each row sorted by (distance, index)."""
    x = np.asarray(x, np.float64)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return np.array([np.lexsort((np.arange(len(x)), row))[:k] for row in d])


def tied_sets(rng):
    """Integer-valued features with duplicated rows: many exactly equal distances."""
    for n, d in ((90, 3), (300, 2), (700, 5)):
        base = rng.integers(-2, 3, size=(n // 3, d)).astype(np.float32)
        yield base[rng.integers(0, len(base), n)]
    yield rng.normal(size=(600, 6)).astype(np.float32) * np.exp(rng.normal(size=(600, 1)))


@pytest.mark.parametrize("block_rows", [None, 37])
def test_loo_neighbours_equal_brute_force_with_ties(block_rows):
    rng = np.random.default_rng(5)
    for x in tied_sets(rng):
        n = len(x)
        expected = brute_force_neighbours(x)
        for k in sorted({1, 3, 11, 50, n // 2, n - 1}):
            for extra in (16, 0):  # extra=0: every row needs the wider exact search
                got = loo_neighbours(x, k, extra=extra, block_rows=block_rows)
                np.testing.assert_array_equal(got, expected[:, :k], err_msg=f"n={n} k={k} extra={extra}")


def test_loo_neighbours_with_a_large_offset_and_float64_input():
    rng = np.random.default_rng(6)
    base = rng.normal(size=(200, 4))
    x = np.concatenate([base, base[:100]]) + 1e6  # duplicates, far from the origin
    np.testing.assert_array_equal(loo_neighbours(x, 7), brute_force_neighbours(x, 7))


def test_loo_neighbours_rejects_bad_input():
    with pytest.raises(ValueError):
        loo_neighbours(np.zeros((5, 2)), 5)
    with pytest.raises(ValueError):
        loo_neighbours(np.array([[0.0], [np.nan], [1.0]]), 1)


def test_vote_matches_a_per_row_reference():
    rng = np.random.default_rng(7)
    few = rng.choice(np.array(["a", "b", "c", "d"]), size=(500, 9))
    many = rng.integers(0, 40_000, size=(6000, 9))  # tens of thousands of distinct labels
    for rows in (few, many):
        expected = []
        for row in rows:
            values, first, counts = np.unique(row, return_index=True, return_counts=True)
            best = counts == counts.max()
            expected.append(values[best][np.argmin(first[best])])
        np.testing.assert_array_equal(vote(rows), expected)
        assert vote(rows).dtype == rows.dtype


def test_loo_knn_multi_equals_separate_predictions():
    rng = np.random.default_rng(8)
    x = rng.integers(0, 4, size=(400, 5)).astype(float) + np.repeat(rng.normal(size=(4, 5)), 100, axis=0)
    labels = np.repeat(np.array(["p", "q", "r", "s"]), 100)
    ks = (1, 5, 11, 25, 50)
    multi = loo_knn_multi(x, labels, ks)
    assert sorted(multi) == list(ks)
    for k in ks:
        np.testing.assert_array_equal(multi[k], loo_knn_predict(x, labels, k))
        np.testing.assert_array_equal(multi[k], brute_force(zscore(x), labels, k))


def test_knn_report_matches_sklearn_and_per_class_recall():
    rng = np.random.default_rng(9)
    sizes = [120, 60, 20]
    labels = np.repeat(np.array(["big", "mid", "small"]), sizes)
    x = rng.normal(size=(200, 6)) + np.repeat(rng.normal(size=(3, 6)), sizes, axis=0)
    overall, per_class = knn_report(x, labels, ks=(1, 11))
    assert list(overall.columns) == ["k", "balanced_accuracy", "n_cells", "n_classes"]
    assert list(per_class.columns) == ["k", "label", "n_cells", "accuracy"]
    assert list(overall["k"]) == [1, 11] and set(overall["n_cells"]) == {200} and set(overall["n_classes"]) == {3}
    for k in (1, 11):
        pred = loo_knn_predict(x, labels, k)
        row = overall.set_index("k").loc[k]
        assert row["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(labels, pred))
        table = per_class[per_class["k"] == k].set_index("label")
        for lab, size in zip(["big", "mid", "small"], sizes):
            assert table.loc[lab, "n_cells"] == size
            assert table.loc[lab, "accuracy"] == pytest.approx(np.mean(pred[labels == lab] == lab))


def test_knn_report_with_no_k_gives_empty_tables():
    overall, per_class = knn_report(np.zeros((4, 2)), ["a", "a", "b", "b"], ks=[])
    assert overall.empty and list(overall.columns) == ["k", "balanced_accuracy", "n_cells", "n_classes"]
    assert per_class.empty and list(per_class.columns) == ["k", "label", "n_cells", "accuracy"]


def test_zscore_is_float32_c_order_and_matches_float64():
    rng = np.random.default_rng(10)
    x = (rng.normal(size=(3000, 7)) * [1, 10, 0, 1e-3, 5, 1, 2] + [0, 1e3, 4, 0, -5, 0, 7]).astype(np.float32)
    x[:, 5] = 2.5  # a dead channel
    z = zscore(x)
    assert z.dtype == np.float32 and z.flags.c_contiguous and z.shape == (3000, 5)
    np.testing.assert_allclose(z.mean(0, dtype=np.float64), 0, atol=1e-6)
    np.testing.assert_allclose(z.std(0, dtype=np.float64), 1, atol=1e-6)
    x64 = x.astype(np.float64)[:, [0, 1, 3, 4, 6]]
    np.testing.assert_allclose(z, (x64 - x64.mean(0)) / x64.std(0), rtol=1e-6, atol=1e-6)


def test_a_class_of_one_cell_is_not_scored_and_is_named():
    rng = np.random.default_rng(11)
    sizes = [40, 40]
    labels = np.repeat(np.array(["a", "b"]), sizes)
    x = rng.normal(size=(80, 4)) + np.repeat([[0, 0, 0, 0], [6, 6, 6, 6]], sizes, axis=0)
    lonely = np.vstack([x, rng.normal(size=(1, 4)) + 3])
    lonely_labels = np.append(labels, "lonely")
    keep, note = scored_cells(lonely_labels)
    assert keep.sum() == 80 and not keep[-1]
    assert note == "1 class with fewer than 2 cells not scored (1 cell): lonely"
    overall, per_class = knn_report(lonely, lonely_labels, ks=(1, 11))
    clean, clean_per_class = knn_report(x, labels, ks=(1, 11))
    # the lonely cell would score 0 by construction and drag balanced accuracy to 2/3 of it
    pd.testing.assert_frame_equal(overall, clean)
    pd.testing.assert_frame_equal(per_class, clean_per_class)
    assert set(overall["balanced_accuracy"]) == {1.0} and set(overall["n_classes"]) == {2}
    assert "lonely" not in set(per_class["label"])
    assert scored_cells(labels)[1] == ""
