"""Cross-validated logistic regression and random forest: accuracy, folds, determinism."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from pcinpaint.benchmarks import classify
from pcinpaint.benchmarks.classify import (
    BalancedL1OneVsRest,
    ClassifierSettings,
    classifier_cap,
    classifier_cells,
    cross_validate,
    drop_rare_classes,
    make_folds,
)
from pcinpaint.benchmarks.sample import benchmark_cells

FAST = dict(n_estimators=25, max_iter=500)


def blobs(seed, n_per=60, n_classes=3, d=8, spread=8.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, d)) * spread
    labels = np.repeat(np.array([f"c{i}" for i in range(n_classes)]), n_per)
    x = np.repeat(centres, n_per, axis=0) + rng.normal(size=(n_per * n_classes, d))
    return x * rng.uniform(0.1, 10, d), labels  # features on different scales


@pytest.mark.parametrize("model", ["logreg", "forest"])
def test_separable_classes_are_learned(model):
    x, labels = blobs(0)
    result = cross_validate(x, labels, ClassifierSettings(model=model, **FAST))
    assert result["balanced_accuracy"] > 0.9
    assert len(result["folds"]) == 5 and result["sd"] == pytest.approx(np.std(result["folds"]))
    assert (result["n_cells"], result["n_classes"], result["n_dropped"]) == (180, 3, 0)


def test_saga_multinomial_also_learns():
    x, labels = blobs(1, spread=3.0)  # far apart, saga's coefficients grow for many epochs
    saga = ClassifierSettings(model="logreg", solver="saga", max_iter=500)
    assert cross_validate(x, labels, saga)["balanced_accuracy"] > 0.9


@pytest.mark.parametrize("model", ["logreg", "forest"])
def test_random_labels_score_chance(model):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 10))
    labels = rng.choice(np.array(["a", "b", "c", "d"]), 400)
    accuracy = cross_validate(x, labels, ClassifierSettings(model=model, **FAST))["balanced_accuracy"]
    assert abs(accuracy - 0.25) < 0.1


def test_groups_never_straddle_train_and_test():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(40), 6)  # 40 images of 6 cells
    labels = np.repeat(rng.choice(np.array(["a", "b", "c"]), 40), 6)  # one class per image
    folds = make_folds(labels, groups, 5, seed=0)
    assert len(folds) == 5
    assert np.array_equal(np.sort(np.concatenate([test for _, test in folds])), np.arange(240))
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])


def test_cross_validate_uses_grouped_folds(monkeypatch):
    seen = []
    real = classify.make_folds

    def spy(labels, groups, folds, seed):
        out = real(labels, groups, folds, seed)
        seen.append((groups, out))
        return out

    monkeypatch.setattr(classify, "make_folds", spy)
    x, labels = blobs(4, n_per=40)
    groups = np.arange(len(labels)) // 4
    cross_validate(x, labels, ClassifierSettings(model="forest", **FAST), groups=groups)
    ((used_groups, folds),) = seen
    for train, test in folds:
        assert not set(used_groups[train]) & set(used_groups[test])


def test_deterministic_for_a_seed():
    x, labels = blobs(5, spread=1.0)  # overlapping classes: scores depend on the folds
    for model in ("logreg", "forest"):
        settings = ClassifierSettings(model=model, seed=7, n_jobs=2, **FAST)
        first = cross_validate(x, labels, settings)
        assert cross_validate(x, labels, settings) == first
        assert cross_validate(x, labels, replace(settings, n_jobs=1)) == first  # workers do not matter
        assert cross_validate(x, labels, replace(settings, seed=8, n_jobs=1))["folds"] != first["folds"]


def test_rare_classes_are_dropped_and_counted():
    x, labels = blobs(6, n_per=30)
    x = np.concatenate([x, np.zeros((3, x.shape[1]))])
    labels = np.concatenate([labels, ["rare"] * 3])
    result = cross_validate(x, labels, ClassifierSettings(model="forest", **FAST))
    assert (result["n_cells"], result["n_classes"], result["n_dropped"]) == (90, 3, 3)
    groups = np.arange(len(labels)) // 3  # "rare" is one group: too few groups for 5 folds
    assert drop_rare_classes(labels, 5, groups).sum() == 90
    assert drop_rare_classes(labels, 3).all()


def test_one_vs_rest_weights_follow_the_old_liblinear_rule():
    x, labels = blobs(7, n_per=20, n_classes=4)
    keep = np.concatenate([np.arange(20), np.arange(20, 80)[::2]])  # classes of 20, 10, 10, 10
    model = BalancedL1OneVsRest(max_iter=500).fit(x[keep], labels[keep])
    weights = [est.class_weight[1] for est in model.estimators_]
    np.testing.assert_allclose(weights, [50 / (4 * 20), 50 / (4 * 10), 50 / (4 * 10), 50 / (4 * 10)])
    assert all(est.class_weight[0] == 1.0 for est in model.estimators_)
    assert model.predict(x[keep]).tolist() == labels[keep].tolist()


def test_bad_arguments():
    x, labels = blobs(8)
    with pytest.raises(ValueError):
        cross_validate(x, labels, ClassifierSettings(model="svm"))
    with pytest.raises(ValueError):
        cross_validate(x, labels, ClassifierSettings(solver="lbfgs"))
    with pytest.raises(ValueError):
        cross_validate(x, labels[:-1])


def test_labels_that_read_as_numbers_score_as_names_would():
    x, labels = blobs(9, n_per=30, n_classes=3, spread=1.5)
    numeric = np.select([labels == "c0", labels == "c1"], ["1", "10"], "2")  # sorted as "c0" < "c1" < "c2"
    for model in ("logreg", "forest"):  # the forest's balanced weights once failed on such labels
        settings = ClassifierSettings(model=model, **FAST)
        assert cross_validate(x, numeric, settings) == cross_validate(x, labels, settings)


def test_the_classifier_cap_is_the_smaller_cap():
    assert classifier_cap({"max_cells": 100_000, "classifier_max_cells": 30_000}) == 30_000
    assert classifier_cap({"max_cells": 10_000, "classifier_max_cells": 30_000}) == 10_000
    assert classifier_cap({"max_cells": 100_000, "classifier_max_cells": None}) == 100_000
    assert classifier_cap({"max_cells": None, "classifier_max_cells": 30_000}) == 30_000
    assert classifier_cap({"max_cells": None}) is None


def _labels(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(["a", "b", "c", "d", None], size=n, p=[0.5, 0.3, 0.1, 0.02, 0.08]))


def test_classifier_cells_are_a_stratified_subset_of_the_knn_cells():
    labels = _labels()
    bench = {"max_cells": 5_000, "classifier_max_cells": 2_000}
    knn = benchmark_cells(labels, 5_000, seed=3)
    used = classifier_cells(labels, bench, seed=3)
    assert used.sum() == 2_000 and not (used & ~knn).any()
    for name, n in labels[knn].value_counts().items():
        assert abs(labels[used].eq(name).sum() - 2_000 * n / 5_000) <= 1, name
    assert np.array_equal(used, classifier_cells(labels, bench, seed=3))
    assert not np.array_equal(used, classifier_cells(labels, bench, seed=4))


def test_classifier_cells_are_the_knn_cells_where_their_cap_does_not_bind():
    labels = _labels()
    for bench in (
        {"max_cells": 2_000, "classifier_max_cells": 30_000},
        {"max_cells": 2_000, "classifier_max_cells": None},
    ):
        assert np.array_equal(classifier_cells(labels, bench, seed=5), benchmark_cells(labels, 2_000, seed=5))
    every = {"max_cells": None, "classifier_max_cells": None}
    assert np.array_equal(classifier_cells(labels, every, seed=5), labels.notna().to_numpy())
