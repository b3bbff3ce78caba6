"""The benchmarks' cell subsample (`benchmarks.max_cells`): stratified, seeded, the same for every
benchmark, and recorded in the tables."""

import numpy as np
import pandas as pd

from pcinpaint.benchmarks.comparisons import knn_tables
from pcinpaint.benchmarks.sample import benchmark_cells, benchmark_images, sample_note


def _labels(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(["a", "b", "c", "d", None], size=n, p=[0.5, 0.3, 0.1, 0.01, 0.09]))


def test_each_class_keeps_its_share_and_unlabelled_cells_stay_out():
    labels = _labels()
    used = benchmark_cells(labels, 2_000, seed=7)
    assert used.sum() == 2_000 and labels[used].notna().all()
    labelled = labels.dropna()
    for name, n in labelled.value_counts().items():
        assert abs(labels[used].eq(name).sum() - 2_000 * n / len(labelled)) <= 1, name
    # the rare class (about 200 cells) is still there
    assert labels[used].eq("d").sum() >= 15


def test_the_same_seed_draws_the_same_cells_and_another_seed_others():
    labels = _labels()
    first = benchmark_cells(labels, 1_000, seed=3)
    assert np.array_equal(first, benchmark_cells(labels, 1_000, seed=3))
    assert not np.array_equal(first, benchmark_cells(labels, 1_000, seed=4))


def test_below_the_cap_every_labelled_cell_is_used():
    labels = _labels(500)
    assert np.array_equal(benchmark_cells(labels, 1_000, seed=0), labels.notna().to_numpy())
    assert np.array_equal(benchmark_cells(labels, None, seed=0), labels.notna().to_numpy())
    assert sample_note(benchmark_cells(labels, None, 0), labels) == f"all {labels.notna().sum():,}"


def test_the_umap_subsample_keeps_unlabelled_cells_as_a_class():
    labels = _labels()
    used = benchmark_cells(labels, 2_000, seed=1, labelled_only=False)
    assert used.sum() == 2_000
    assert abs(labels[used].isna().sum() - 2_000 * labels.isna().mean()) <= 1
    assert sample_note(used, labels, labelled_only=False) == "2,000 of 20,000"


def test_the_knn_table_records_the_cells_it_used(tmp_path):
    rng = np.random.default_rng(0)
    labels = pd.Series(rng.choice(["x", "y"], size=300))
    centres = np.where(labels.to_numpy()[:, None] == "x", 0.0, 3.0)
    table = pd.DataFrame(centres + rng.normal(size=(300, 4)), columns=[f"f{i}" for i in range(4)])
    path = tmp_path / "set.parquet"
    table.to_parquet(path)
    manifest = pd.DataFrame(
        [
            {
                "name": "s",
                "family": "s",
                "layer": "",
                "level": "cell",
                "n_features": 4,
                "status": "ran",
                "reason": "",
                "path": str(path),
            }
        ]
    )
    used = benchmark_cells(labels, 120, seed=0)
    wide, _ = knn_tables(manifest, labels.where(used), [1, 11], sample_note(used, labels))
    assert wide.loc[0, "n_cells"] == 120 and wide.loc[0, "cells"] == "120 of 300"
    assert wide.loc[0, "k11"] > 0.9


def test_the_pairwise_images_are_capped_by_their_cells_and_keep_every_term():
    terms = pd.Series({f"img{i:04d}": f"t{i % 4}" for i in range(2000)})
    sizes = pd.Series(30, index=terms.index)
    assert benchmark_images(terms, sizes, None, 0).equals(terms)
    assert benchmark_images(terms, sizes, 60_000, 0).equals(terms)  # 60,000 cells: under the cap
    drawn = benchmark_images(terms, sizes, 6_000, 0)
    assert len(drawn) == 200 and sizes[drawn.index].sum() == 6_000
    assert drawn.value_counts().to_dict() == {f"t{i}": 50 for i in range(4)}  # each term keeps its share
    assert list(drawn.index) == sorted(drawn.index)  # in the order given
    assert drawn.equals(benchmark_images(terms, sizes, 6_000, 0))
    assert not drawn.index.equals(benchmark_images(terms, sizes, 6_000, 1).index)
