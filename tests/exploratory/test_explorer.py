"""The explorer's data: the drawn cells are the benchmarks' subsample, every protein's nearest
proteins are localize_like's feature neighbours, each protein shows a cell of its own, and a
cell's multi-localization scores are Fig 5's."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.exploratory.clustering import cluster, protein_profiles
from pcinpaint.exploratory.explorer import MapSettings, explorer_data, multiloc_by_cell, representatives
from pcinpaint.exploratory.neighbours import feature_neighbours, nearest_proteins
from pcinpaint.features.reading import FeatureFile
from pcinpaint.features.table import feature_table
from pcinpaint.io import write_table

UMAP = {"n_neighbors": 10, "min_dist": 0.3}


def _screen(tmp_path, n_proteins=12, cells_per_protein=20):
    """Four planted compartments of proteins, their cells around each protein's centre."""
    rng = np.random.default_rng(0)
    compartments = rng.normal(size=(4, 6)) * 8
    rows, x = [], []
    for p in range(n_proteins):
        centre = compartments[p % 4] + rng.normal(size=6) * 0.3
        for c in range(cells_per_protein):
            rows.append({"cell_id": f"P{p:02d}_w1_f1:{c}", "image_id": f"P{p:02d}_w1", "protein": f"P{p:02d}"})
            x.append(centre + rng.normal(size=6) * 0.3)
    cells = pd.DataFrame(rows)
    cells["store_index"] = np.arange(len(cells))
    cells["label"] = [f"c{int(p[1:]) % 4}" for p in cells["protein"]]
    write_table(feature_table(cells, np.asarray(x), "pci_conv3"), tmp_path / "pci_conv3.parquet")
    return cells, np.asarray(x)


def test_every_proteins_neighbours_are_localize_likes_feature_ranks():
    rng = np.random.default_rng(1)
    matrix = np.concatenate([c + rng.normal(size=(6, 5)) for c in rng.normal(size=(3, 5)) * 6])
    names = pd.Index([f"P{i:02d}" for i in range(18)])
    near, dist = feature_neighbours(matrix, names, 4)
    for q in ("P00", "P07", "P17"):
        table = nearest_proteins(names, matrix, cluster(matrix), q, 4)
        ranked = table.dropna(subset="feature_rank").sort_values("feature_rank")
        assert near[names.get_loc(q)] == list(ranked["protein"])
        np.testing.assert_allclose(dist[names.get_loc(q)], ranked["feature_distance"])
    assert all(len(n) == 4 and q not in n for q, n in zip(names, near))
    assert feature_neighbours(matrix[:1], names[:1], 4) == ([[]], [[]])  # one protein: none near
    assert [len(n) for n in feature_neighbours(matrix[:3], names[:3], 10)[0]] == [2, 2, 2]


def test_a_protein_shows_its_middle_drawn_cell_or_else_its_first():
    drawn = pd.DataFrame(
        {
            "protein": ["A", "A", "A", "B"],
            "x": [0.0, 1.0, 10.0, 5.0],
            "y": [0.0, 1.0, 10.0, 5.0],
            "store_index": [7, 3, 9, 4],
        }
    )
    meta = pd.DataFrame({"protein": ["A", "B", "C", "C"], "store_index": [3, 4, 12, 11]})
    assert representatives(drawn, meta, ["A", "B", "C"]).to_dict() == {"A": 3, "B": 4, "C": 11}


def test_a_cells_multilocalization_scores_are_listed_by_pair(tmp_path):
    table = pd.DataFrame(
        {
            "cell_id": ["a", "a", "b", "c"],
            "pair": ["er+golgi", "nucleus+cytosol", "er+golgi", "er+golgi"],
            "score": [0.5, -0.25, 1.0, 0.1],
        }
    )
    write_table(table, tmp_path / "scores.tsv")
    got = multiloc_by_cell(tmp_path / "scores.tsv", ["a", "b"])
    assert got.to_dict() == {"a": "er+golgi: +0.50; nucleus+cytosol: -0.25", "b": "er+golgi: +1.00"}
    assert multiloc_by_cell(None, ["a"]).empty


@pytest.mark.parametrize("max_cells", [None, 100])
def test_the_page_draws_the_benchmarks_subsample_and_every_protein(tmp_path, max_cells):
    from pcinpaint.benchmarks.sample import benchmark_cells

    cells, x = _screen(tmp_path)
    features = FeatureFile(tmp_path / "pci_conv3.parquet")
    meta = features.metadata(("cell_id", "store_index", "image_id", "protein"))
    labels = cells["label"].astype(object)
    terms = cells.groupby("protein")["label"].first()
    clusters = pd.DataFrame({"protein": terms.index, "cluster": [int(t[1:]) + 1 for t in terms]})
    settings = MapSettings(max_cells, 2, 1, UMAP, UMAP, sample_seed=5, seed=6)
    data = explorer_data(("pci_conv3", meta, features, cells, terms), labels, clusters, None, settings)
    drawn = benchmark_cells(labels, max_cells, 5, labelled_only=False)
    assert list(data.cells["store_index"]) == list(np.flatnonzero(drawn))
    assert len(data.cells) == (240 if max_cells is None else 100) and data.cells[["x", "y"]].notna().all().all()
    assert data.note == ("all 240" if max_cells is None else "100 of 240")
    assert list(data.cells["cluster"]) == [int(lab[1:]) + 1 for lab in data.cells["label"]]
    assert list(data.proteins["protein"]) == [f"P{i:02d}" for i in range(12)]
    # the 2 nearest proteins of each are the others of its compartment (planted: every 4th protein)
    assert all(
        {int(n[1:]) % 4 for n in near} == {int(p[1:]) % 4}
        for p, near in zip(data.proteins["protein"], data.proteins["neighbours"])
    )
    profiles, matrix = protein_profiles(meta, x, "protein", 1)
    assert list(data.proteins["neighbours"]) == feature_neighbours(matrix, profiles.index, 2)[0]
    own = cells.set_index("store_index")["protein"]
    assert all(own[i] == p for i, p in zip(data.proteins["store_index"], data.proteins["protein"]))
    assert not data.not_run


def test_a_map_that_cannot_be_made_says_why(tmp_path):
    cells, _ = _screen(tmp_path, n_proteins=2, cells_per_protein=1)
    features = FeatureFile(tmp_path / "pci_conv3.parquet")
    meta = features.metadata(("cell_id", "store_index", "image_id", "protein"))
    terms = cells.groupby("protein")["label"].first()
    clusters = pd.DataFrame({"protein": terms.index, "cluster": [1, 2]})
    settings = MapSettings(None, 3, 1, UMAP, UMAP, sample_seed=5, seed=6)
    data = explorer_data(("pci_conv3", meta, features, cells, terms), cells["label"], clusters, None, settings)
    assert "a map needs 3 or more" in data.not_run["cells"] and "proteins" in data.not_run
    assert data.cells[["x", "y"]].isna().all().all() and len(data.proteins) == 2
