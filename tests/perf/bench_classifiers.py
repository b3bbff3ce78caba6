"""Benchmark: supptable2's cross-validation of one feature set, against the number of cells.

Run from the repository root:  python tests/perf/bench_classifiers.py [--quick] [--trees N] [--folds-timed N]

``classifier_benchmark`` runs, on each family's best layer, an L1 logistic regression (liblinear,
one vs rest) and a random forest (500 trees, max_features 0.2), each under 5-fold stratified and
5-fold image-grouped cross-validation: 20 fits per feature set. This times that work on
synthetic features shaped like a best layer (384 float32 ReLU features, correlated through a
32-dimensional latent; 15 classes of unequal size; images of 30 cells of one class each, with an
image effect, so grouped folds are harder than stratified ones), at 10,000 and 30,000 cells with
1 and 2 workers (``n_jobs``), side by side: every case of one size runs back to back, 1 worker
then 2, so load from other work on the machine falls on both. Wall seconds depend on that load;
CPU seconds (this process's threads and its worker processes) much less, so the fits and
extrapolations use the 1-worker CPU seconds (core-seconds).

To take about 15 minutes of CPU time (longer on a shared machine), each case times the first
``--folds-timed`` of the 5 folds (folds are stratified, so of equal size and cost) and forests of
``--trees`` trees, and scales to 5 folds and 500 trees (a forest's trees are independent draws:
fitting and predicting are linear in their number; ``--trees 500 --folds-timed 5`` times the
whole protocol). From the 1-worker core-seconds at the two sizes it fits time = a * cells^b per
model and extrapolates to the default ``benchmarks.classifier_max_cells`` (30,000) and to
``max_cells`` (100,000) for a dataset of 8 best layers like this one (PCI, random encoder,
autoencoder, three VGG16 strategies, raw pixels, classic features), and prints the
``classifier_benchmark`` cost (``pcinpaint.resources``) that matches the fit. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.metrics import balanced_accuracy_score

from pcinpaint.benchmarks.classify import ClassifierSettings, drop_rare_classes, make_folds, make_model
from pcinpaint.resources import TYPICAL_SETS

FOLDS, TREES = 5, 500
#: best layers of a dataset with VGG16 (8 families), each costed as the 384-feature set measured
SETS = 8
#: the best layers in resources.TYPICAL_SETS (the docs table's dataset): a PCI, random-encoder and
#: autoencoder layer of 384 features (conv3/conv4 win the kNN), raw pixels (768) and classic
#: features (50); the work is about linear in the features (liblinear passes over every value,
#: the forest sorts 20% of them per split), so they cost 1,970 / 384 sets of 384
TYPICAL_BEST = (384, 384, 384, 3 * 16 * 16, 50)


@dataclass(frozen=True)
class LayerShape:
    """The synthetic layer's make-up: features, classes, cells per image, latent dimensions and
    how far apart the class centres lie in the latent (in units of the cell noise)."""

    n_features: int = 384
    n_classes: int = 15
    cells_per_image: int = 30
    latent: int = 32
    separation: float = 0.6


def synthetic_layer(
    n: int, seed: int = 0, shape: LayerShape | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features, labels, image ids) of ``n`` cells: ReLU features of a latent that is a class
    centre plus an image effect plus cell noise; classes drawn per image with unequal shares."""
    shape = shape or LayerShape()
    n_features, n_classes, cells_per_image = shape.n_features, shape.n_classes, shape.cells_per_image
    latent, separation = shape.latent, shape.separation
    rng = np.random.default_rng(seed)
    shares = np.sort(rng.dirichlet(np.full(n_classes, 2.0)))[::-1]
    n_images = -(-n // cells_per_image)
    image_class = rng.choice(n_classes, n_images, p=shares)
    images = np.repeat(np.arange(n_images), cells_per_image)[:n]
    codes = image_class[images]
    centres = rng.normal(size=(n_classes, latent)) * separation
    image_effect = rng.normal(size=(n_images, latent)) * 0.5
    z = centres[codes] + image_effect[images] + rng.normal(size=(n, latent))
    weights = rng.normal(size=(latent, n_features)) / np.sqrt(latent)
    x = np.maximum(z @ weights + 0.5 * rng.normal(size=(n, n_features)), 0).astype(np.float32)
    return x, np.array([f"class{c:02d}" for c in codes]), images


def cpu_seconds() -> dict[int, float]:
    """CPU seconds of this process (all its threads, key 0) and of each live child process
    (the logistic regression's workers, by pid), from /proc on Linux; this process alone elsewhere."""
    times = {0: sum(os.times()[:2])}
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # a process that ended meanwhile
            continue
        if fields[1] == me:  # ppid
            times[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def cpu_since(start: dict[int, float]) -> float:
    """CPU seconds used since ``start``: per process, so that idle workers that exit meanwhile
    (joblib stops them after 300 s) take no CPU seconds with them."""
    return sum(seconds - start.get(pid, 0.0) for pid, seconds in cpu_seconds().items())


def timed_cv(x, labels, groups, settings: ClassifierSettings, folds_timed: int):
    """(seconds scaled to 5 folds and 500 trees, mean balanced accuracy of the timed folds): the
    steps of ``classify.cross_validate`` on its first ``folds_timed`` folds, with the classifier
    ``settings`` (its ``n_estimators`` the trees timed, its ``n_jobs`` the workers)."""
    model, trees = settings.model, settings.n_estimators
    keep = drop_rare_classes(labels, FOLDS, groups)
    classes, y = np.unique(labels[keep], return_inverse=True)
    xk, g = x[keep], None if groups is None else groups[keep]
    template = make_model(settings)
    scores = []
    t0, c0 = time.perf_counter(), cpu_seconds()
    for train, test in make_folds(y, g, FOLDS, settings.seed)[:folds_timed]:
        fitted = clone(template).fit(xk[train], y[train])
        scores.append(balanced_accuracy_score(y[test], fitted.predict(xk[test])))
    seconds, cpu = time.perf_counter() - t0, cpu_since(c0)
    scale = FOLDS / folds_timed * (TREES / trees if model == "forest" else 1)
    forest_mb = 0.0
    if model == "forest":  # node arrays of the last forest, scaled to 500 trees
        nbytes = sum(t.tree_.__getstate__()["nodes"].nbytes + t.tree_.value.nbytes for t in fitted.estimators_)
        forest_mb = nbytes / 2**20 * TREES / trees
    return seconds * scale, cpu * scale, float(np.mean(scores)), forest_mb


def fit_power(n1: float, t1: float, n2: float, t2: float) -> tuple[float, float]:
    """(a, b) of t = a * n^b through two points."""
    b = np.log(t2 / t1) / np.log(n2 / n1)
    return t1 / n1**b, b


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 and 6,000 cells, 20 trees (a smoke run)")
    parser.add_argument("--sizes", type=int, nargs=2, default=None, help="two cell counts (default 10000 30000)")
    parser.add_argument("--trees", type=int, default=None, help="trees timed, scaled to 500 (default 50)")
    parser.add_argument("--folds-timed", type=int, default=1, help="folds timed of 5, scaled to 5 (default 1)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="n_jobs values (default 1 2)")
    args = parser.parse_args()
    sizes = args.sizes or ((2_000, 6_000) if args.quick else (10_000, 30_000))
    trees = args.trees or (20 if args.quick else 50)
    folds_timed = min(FOLDS, args.folds_timed)
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, scikit-learn {sklearn.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
        "(other work on the machine slows figures)"
    )
    print(
        f"timed: {folds_timed} of {FOLDS} folds per case, forests of {trees} trees; "
        f"seconds below are scaled to {FOLDS} folds and {TREES} trees\n"
    )
    make_model(ClassifierSettings("logreg", n_jobs=2)).fit(*synthetic_layer(300)[:2])  # start the worker processes once

    rows = {}
    columns = " ".join(f"{f'{w}w wall s':>10s} {f'{w}w CPU s':>10s}" for w in args.workers)
    print(f"{'cells':>7s} {'model':7s} {'folds':10s} {columns} {'speed-up':>8s} {'bal.acc.':>8s} {'forest MB':>9s}")
    for n in sizes:
        x, labels, images = synthetic_layer(n, seed=n)
        for model in ("logreg", "forest"):
            for kind, groups in (("stratified", None), ("grouped", images)):
                cases = [
                    timed_cv(x, labels, groups, ClassifierSettings(model, n_estimators=trees, n_jobs=w), folds_timed)
                    for w in args.workers
                ]
                rows[n, model, kind] = cases
                speedup = cases[0][0] / cases[-1][0]
                figures = " ".join(f"{wall:10.1f} {cpu:10.1f}" for wall, cpu, _, _ in cases)
                accuracy, forest_mb = cases[-1][2], cases[-1][3]
                mb = f"{forest_mb:9.0f}" if model == "forest" else ""
                print(f"{n:7d} {model:7s} {kind:10s} {figures} {speedup:7.2f}x {accuracy:8.3f} {mb}", flush=True)

    n1, n2 = sizes
    print(f"\nper feature set, both fold kinds, {args.workers[0]} worker(s): core-seconds (CPU), time = a * cells^b")
    fits = {}
    for model in ("logreg", "forest"):
        t1, t2 = (sum(rows[n, model, k][0][1] for k in ("stratified", "grouped")) for n in sizes)
        fits[model] = fit_power(n1, t1, n2, t2)
        print(f"  {model:7s} {t1:8,.0f} s at {n1:,} cells, {t2:8,.0f} s at {n2:,}: b = {fits[model][1]:.2f}")
    total1, total2 = (
        sum(rows[n, m, k][0][1] for m in ("logreg", "forest") for k in ("stratified", "grouped")) for n in sizes
    )
    _, b = fit_power(n1, total1, n2, total2)
    print(f"  both    {total1:8,.0f} s at {n1:,} cells, {total2:8,.0f} s at {n2:,}: b = {b:.2f}")
    if len(args.workers) > 1:
        overhead = sum(c[-1][1] for c in rows.values()) / sum(c[0][1] for c in rows.values())
        print(f"  {args.workers[-1]} workers use {overhead:.2f}x the CPU seconds of {args.workers[0]} (all cases)")

    print(f"\nextrapolated (each model on its own fit), {SETS} best layers of 384 features, 8 CPUs fully used:")
    print(f"{'cells':>9s} {'core-s per set':>15s} {f'core-s, {SETS} sets':>15s} {'h on 8 CPUs':>12s}")
    for n in sorted({n1, n2, 30_000, 100_000}):
        per_set = sum(am * n**bm for am, bm in fits.values())
        print(f"{n:9,d} {per_set:15,.0f} {per_set * SETS:15,.0f} {per_set * SETS / 8 / 3600:12.2f}")

    # resources.py's unit "values": millions of (cells x columns of every table in the manifest)
    manifest_features = sum(TYPICAL_SETS)
    best_sets = sum(TYPICAL_BEST) / 384
    rate = total2 * best_sets / (n2 * manifest_features / 1e6) ** b
    print(
        f"\nclassifier_benchmark cost for resources.TYPICAL_SETS ({manifest_features:,} features in the manifest; "
        f"best layers worth {best_sets:.2f} sets of 384): unit values, exponent {b:.2f}, seconds_per_unit "
        f"{rate:.3g} ({total2 * best_sets:,.0f} core-s at {n2:,} cells)"
    )


if __name__ == "__main__":
    main()
