"""Leave-one-out kNN against a brute-force reference; balanced accuracy; z-scoring."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from pcinpaint.evaluate import loo_knn_accuracy, loo_knn_predict, loo_neighbours, vote, zscore


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
