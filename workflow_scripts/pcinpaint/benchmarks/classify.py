"""Cross-validated logistic regression and random forest on feature sets (Supplementary Table 2).

The paper checks that the ranking of feature sets does not hinge on the kNN classifier:
"For our logistic regression classifiers, we used a L1 penalty with a balanced class
weight. For our random forest classifiers, we used 500 trees with 20% of the features used
to determine best splits, and a balanced class weight." Metrics are "the average balanced
accuracy on the test sets under 5-fold cross-validation".

Choices the paper leaves open, as implemented:

- Logistic regression (C=1): in 2019 scikit-learn (0.20/0.21) ``LogisticRegression(
  penalty="l1", class_weight="balanced")`` ran liblinear one-vs-rest, each class's model
  weighing its own cells by n / (n_classes * n_class) and the rest by 1. scikit-learn 1.9's
  liblinear is binary only, so ``solver="liblinear"`` (the default) rebuilds that: one
  binary L1 fit per class with those weights, predicting the class of highest decision
  value (two classes: one balanced binary fit, as then). ``solver="saga"`` fits the
  multinomial L1 model instead (one model, usually slower to converge). Features are
  z-scored inside each training fold (a Pipeline), so test cells never inform the scaling.
  The forest gets raw features: trees do not care about scale.
- Folds are stratified by class and shuffled with the seed. With ``groups`` (e.g. image or
  protein ids) no group is split between training and test folds: cells of one image share
  a protein and look alike, so random folds would let a classifier recognise the image
  rather than the localization.
- A class with fewer members than folds (with groups: fewer distinct groups) cannot appear
  in every test fold, so per-fold balanced accuracies would average over different sets of
  classes. Such classes are dropped before splitting; ``n_dropped`` counts their cells.
- ``sd`` is the population standard deviation (ddof 0) of the per-fold scores.
- Labels are fitted as integer codes of their sorted names: the same encoding scikit-learn
  makes, so scores are unchanged, and labels that read as numbers ("1", "10") no longer fail
  the forest's balanced class weights (scikit-learn 1.9 raises "not in class_weight").
- Cells: the rule uses ``classifier_cells``: at most ``benchmarks.classifier_max_cells``
  (default 30,000; the paper scored 30,889), drawn from the kNN's ``max_cells`` subsample with
  the same seed, so they are among the kNN's cells and each class keeps its share. The 20 fits
  per feature set (two models, two fold kinds, 5 folds; 500 trees) take about 5,000
  core-seconds per 384 features at 30,000 cells and grow as cells^1.2
  (``tests/perf/bench_classifiers.py``): 21,000 at 100,000.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from pcinpaint.benchmarks.sample import benchmark_cells, drop_rare_classes
from pcinpaint.config import classifier_cap

MODELS = ("logreg", "forest")
SOLVERS = ("liblinear", "saga")


def _fit(model: LogisticRegression, X, y) -> LogisticRegression:
    return model.fit(X, y)


class BalancedL1OneVsRest(ClassifierMixin, BaseEstimator):
    """L1 logistic regression, one vs rest, weighted as 2019 scikit-learn's liblinear did.

    With class_weight="balanced", class i's binary model weighs its cells by
    n / (n_classes * n_i) and all other cells by 1. With ``n_jobs`` > 1 the binary problems
    are fitted in worker processes, not threads: liblinear draws from one process-wide random
    generator, which concurrent threads would share, making results depend on scheduling.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 2000, tol: float = 1e-4, random_state: int = 0, n_jobs: int = 1):
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _binary(self, class_weight) -> LogisticRegression:
        return LogisticRegression(
            l1_ratio=1.0,
            solver="liblinear",
            C=self.C,
            class_weight=class_weight,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=self.random_state,
        )

    def fit(self, X, y) -> BalancedL1OneVsRest:
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("need at least 2 classes")
        if len(self.classes_) == 2:
            self.estimators_ = [self._binary("balanced").fit(X, codes)]
            return self
        weights = len(codes) / (len(self.classes_) * np.bincount(codes))
        jobs = (
            delayed(_fit)(self._binary({0: 1.0, 1: float(weights[i])}), X, (codes == i).astype(int))
            for i in range(len(self.classes_))
        )
        self.estimators_ = Parallel(n_jobs=self.n_jobs, prefer="processes")(jobs)
        return self

    def decision_function(self, X) -> np.ndarray:
        scores = np.column_stack([est.decision_function(X) for est in self.estimators_])
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X) -> np.ndarray:
        scores = self.decision_function(X)
        if len(self.classes_) == 2:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]


@dataclass(frozen=True)
class ClassifierSettings:
    """One classifier as the paper configures it, shared by ``make_model`` and ``cross_validate``.

    ``model``: "logreg" or "forest"; ``n_estimators`` and ``max_features`` apply to the forest,
    ``solver``, ``max_iter`` and ``C`` to logistic regression; ``n_jobs`` workers fit the
    forest's trees or the one-vs-rest logistic models; ``seed`` fixes folds and fits.
    """

    model: str = "logreg"
    n_estimators: int = 500
    max_features: float = 0.2
    seed: int = 0
    n_jobs: int = 1
    solver: str = "liblinear"
    max_iter: int = 2000
    C: float = 1.0


def make_model(settings: ClassifierSettings | None = None) -> Pipeline | RandomForestClassifier:
    """The paper's classifier: L1 logistic regression (z-scored inputs) or a random forest."""
    s = settings or ClassifierSettings()
    if s.model == "logreg":
        if s.solver == "liblinear":
            head = BalancedL1OneVsRest(C=s.C, max_iter=s.max_iter, random_state=s.seed, n_jobs=s.n_jobs)
        elif s.solver == "saga":
            head = LogisticRegression(
                l1_ratio=1.0,
                C=s.C,
                solver="saga",
                class_weight="balanced",
                max_iter=s.max_iter,
                random_state=s.seed,
            )
        else:
            raise ValueError(f"solver must be one of {SOLVERS}, got {s.solver!r}")
        return make_pipeline(StandardScaler(), head)
    if s.model == "forest":
        return RandomForestClassifier(
            n_estimators=s.n_estimators,
            max_features=s.max_features,
            class_weight="balanced",
            random_state=s.seed,
            n_jobs=s.n_jobs,
        )
    raise ValueError(f"model must be one of {MODELS}, got {s.model!r}")


def classifier_cells(labels: pd.Series, bench: dict, seed: int) -> np.ndarray:
    """Mask of the cells the classifiers use: ``benchmark_cells`` (labelled, stratified, seeded)
    within the kNN's ``max_cells`` subsample, down to ``classifier_cap``.

    Drawn in two steps with the same seed, so the classifiers' cells are a subset of the kNN's
    and, where the cap does not bind, exactly them."""
    knn = benchmark_cells(labels, bench.get("max_cells"), seed)
    return benchmark_cells(labels.where(knn), classifier_cap(bench), seed)


def make_folds(
    labels: np.ndarray, groups: np.ndarray | None = None, folds: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs: stratified, shuffled with the seed, grouped if groups are given."""
    placeholder = np.zeros((len(labels), 1))
    if groups is None:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        return list(splitter.split(placeholder, labels))
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    return list(splitter.split(placeholder, labels, groups))


def cross_validate(
    features: np.ndarray,
    labels: Sequence,
    settings: ClassifierSettings | None = None,
    *,
    groups: Sequence | None = None,
    folds: int = 5,
) -> dict:
    """Balanced accuracy of the classifier ``settings`` describe under ``folds``-fold
    cross-validation (mean over folds).

    Returns balanced_accuracy, sd and folds (per-fold scores), n_cells and n_classes (after
    dropping classes too small for every test fold), n_dropped (cells dropped). Deterministic
    for a given ``settings.seed``, whatever ``settings.n_jobs``.
    """
    settings = settings or ClassifierSettings()
    x = np.asarray(features)
    y = np.asarray(labels).astype(str)
    g = None if groups is None else np.asarray(groups)
    if len(x) != len(y) or (g is not None and len(g) != len(y)):
        raise ValueError("features, labels and groups must have one row per cell")
    keep = drop_rare_classes(y, folds, g)
    x, y = x[keep], y[keep]
    g = None if g is None else g[keep]
    classes, y = np.unique(y, return_inverse=True)
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError(f"fewer than 2 classes with at least {folds} members")
    template = make_model(settings)
    scores = []
    for train, test in make_folds(y, g, folds, settings.seed):
        fitted = clone(template).fit(x[train], y[train])
        with warnings.catch_warnings():  # grouped folds may miss a class in one test fold
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            scores.append(float(balanced_accuracy_score(y[test], fitted.predict(x[test]))))
    return dict(
        balanced_accuracy=float(np.mean(scores)),
        sd=float(np.std(scores)),
        folds=scores,
        n_cells=int(len(y)),
        n_classes=int(n_classes),
        n_dropped=int((~keep).sum()),
    )
