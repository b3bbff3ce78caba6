"""Protein clustering: profiles, Ward linkage, cuts, leaf order, the iterative dendrogram and figures."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import dendrogram, fcluster, leaves_list, linkage
from sklearn.metrics import adjusted_rand_score

from pcinpaint.crops.store import write_crop_store
from pcinpaint.exploratory.clustering import (
    cluster,
    cut,
    dendrogram_coords,
    leaf_order,
    memberships,
    protein_profiles,
    subclusters,
)
from pcinpaint.features.matrix import zscore
from pcinpaint.figures.clustering import (
    ExampleSettings,
    HeatmapRows,
    HeatmapStyle,
    cluster_examples_figure,
    heatmap_figure,
)
from pcinpaint.figures.common import FigureOutput


def _planted(n_groups=3, proteins_per_group=12, d=16, seed=0):
    """Cells of proteins in well-separated groups; each protein's cells spread over two images."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_groups, d)) * 8
    rows, feats, truth = [], [], {}
    for g in range(n_groups):
        for p in range(proteins_per_group):
            name = f"G{g}P{p:02d}"
            truth[name] = g
            offset = rng.normal(size=d) * 0.5
            n = int(rng.integers(15, 40))
            feats.append(centres[g] + offset + rng.normal(size=(n, d)))
            rows += [{"protein": name, "image_id": f"{name}_{i % 2}", "cell_line": "A"} for i in range(n)]
    meta = pd.DataFrame(rows)
    order = rng.permutation(len(meta))  # cells of a protein need not be contiguous
    return meta.iloc[order].reset_index(drop=True), np.concatenate(feats)[order].astype(np.float32), truth


def test_ward_recovers_planted_groups_by_count_and_by_height():
    meta, x, truth = _planted()
    profiles, matrix = protein_profiles(meta, x)
    z = cluster(matrix)
    expected = profiles.index.map(truth).to_numpy()
    by_count = cut(z, n_clusters=3)
    assert adjusted_rand_score(expected, by_count) == 1.0
    by_height = cut(z, height=(z[-3, 2] + z[-2, 2]) / 2)
    assert np.array_equal(by_height, by_count)
    assert sorted(np.unique(by_count)) == [1, 2, 3]


def _leaf_ordered_maxclust(z, k):
    """The contract both Fig 4's and Fig 6's cuts had: scipy's ``maxclust`` clusters renumbered
    1.. by their first leaf, left to right."""
    ids = fcluster(z, t=k, criterion="maxclust")
    first_seen = dict.fromkeys(ids[leaves_list(z)])
    renumber = {old: new for new, old in enumerate(first_seen, start=1)}
    return np.array([renumber[v] for v in ids], np.int64)


@pytest.mark.parametrize("method", ["ward", "average", "single"])
def test_one_cut_for_protein_and_single_cell_trees(method):
    """``cut`` keeps the contract Fig 4's and Fig 6's separate cuts had, at every count, ties
    included (integer data gives merges of equal height, which ``maxclust`` cannot split)."""
    rng = np.random.default_rng(11)
    for x in (rng.normal(size=(60, 5)), rng.integers(0, 3, size=(40, 3)).astype(float)):
        z = linkage(x, method=method)
        for k in range(1, len(x) + 1):
            ids = cut(z, n_clusters=k)
            assert ids.dtype == np.int64
            assert np.array_equal(ids, _leaf_ordered_maxclust(z, k))


def test_cluster_ids_run_in_leaf_order():
    rng = np.random.default_rng(1)
    z = cluster(rng.normal(size=(200, 8)))
    ids = cut(z, n_clusters=7)
    along = ids[leaf_order(z)]
    assert along[0] == 1 and np.all(np.diff(along) >= 0) and along.max() == 7


def test_profiles_match_pandas_groupby_at_protein_and_image_level():
    meta, x, _ = _planted(n_groups=2, proteins_per_group=5, d=6)
    x[:, 2] = 1.5  # a constant feature is dropped
    frame = pd.DataFrame(x.astype(np.float64)).assign(protein=meta["protein"], image_id=meta["image_id"])
    for level, key in (("protein", "protein"), ("image", "image_id")):
        profiles, matrix = protein_profiles(meta, x, level=level)
        means = frame.drop(columns=["protein", "image_id"]).groupby(frame[key]).mean()
        assert list(profiles.index) == list(means.index) and profiles.index.name == key
        assert list(profiles["n_cells"]) == list(frame.groupby(key).size())
        kept = means.drop(columns=[2])
        expected = (kept - kept.mean()) / kept.std(ddof=0)
        np.testing.assert_allclose(matrix, expected.to_numpy(), atol=1e-5)
        assert profiles.attrs["features"] == [0, 1, 3, 4, 5]
    images, _ = protein_profiles(meta, x, level="image")
    assert len(images) == 2 * meta["protein"].nunique()
    assert (images["protein"] == images.index.str.rsplit("_", n=1).str[0]).all()


def test_per_protein_table_passes_through_and_min_cells_filters():
    rng = np.random.default_rng(2)
    names = [f"P{i}" for i in (3, 1, 2, 0)]
    x = rng.normal(size=(4, 5)).astype(np.float32)
    profiles, matrix = protein_profiles(pd.DataFrame({"protein": names}), x)
    assert list(profiles.index) == ["P0", "P1", "P2", "P3"] and (profiles["n_cells"] == 1).all()
    np.testing.assert_allclose(matrix, zscore(x[[3, 1, 2, 0]]), atol=1e-6)
    with_counts = pd.DataFrame({"protein": names, "n_cells": [5, 1, 9, 9]})
    kept, _ = protein_profiles(with_counts, x, min_cells=5)
    assert list(kept.index) == ["P0", "P2", "P3"]


def test_leaf_order_and_dendrogram_coordinates_match_scipy():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5))
    for method in ("ward", "average", "single"):
        z = cluster(x, method=method)
        ref = dendrogram(z, no_plot=True)
        assert list(leaf_order(z)) == ref["leaves"]
        icoord, dcoord = dendrogram_coords(z)
        ours = {tuple(np.round(np.r_[10 * i + 5, d], 8)) for i, d in zip(icoord, dcoord)}
        theirs = {tuple(np.round(np.r_[i, d], 8)) for i, d in zip(np.asarray(ref["icoord"]), np.asarray(ref["dcoord"]))}
        assert ours == theirs and len(ours) == len(z)


def test_linkage_matches_scipy_ward():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 20))
    np.testing.assert_allclose(cluster(x), linkage(x, method="ward"), atol=1e-8)
    np.testing.assert_allclose(
        cluster(x, "average", "cosine"), linkage(x, method="average", metric="cosine"), atol=1e-10
    )


def test_large_and_deep_trees_run_without_recursion(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5000, 32)).astype(np.float32)
    z = cluster(x)
    order = leaf_order(z)
    ids = cut(z, n_clusters=20)
    heatmap_figure(x, z, order, HeatmapRows(ids), FigureOutput(tmp_path / "heat.png", title="5,000 random proteins"))
    assert (tmp_path / "heat.png").stat().st_size > 10_000
    # single linkage on points with growing gaps is a chain: tree depth n - 1
    chain = np.cumsum(1.0 + np.arange(3000) * 1e-3)[:, None]
    zc = cluster(chain, method="single")
    icoord, dcoord = dendrogram_coords(zc)
    assert len(leaf_order(zc)) == 3000 and icoord.shape == (2999, 4) and dcoord.max() == zc[-1, 2]


def test_heatmap_with_labels_names_and_pdf(tmp_path):
    meta, x, truth = _planted(proteins_per_group=6)
    profiles, matrix = protein_profiles(meta, x)
    z = cluster(matrix)
    labels = [("nucleus", "cytosol", None)[truth[p]] for p in profiles.index]
    out = heatmap_figure(
        matrix,
        z,
        leaf_order(z),
        HeatmapRows(cut(z, n_clusters=3), labels=labels, names=list(profiles.index)),
        FigureOutput(tmp_path / "h.png", tmp_path / "h.pdf", "planted"),
    )
    assert out == tmp_path / "h.png" and (tmp_path / "h.pdf").stat().st_size > 0
    fig = heatmap_figure(
        matrix, z, leaf_order(z), HeatmapRows(cut(z, n_clusters=3)), style=HeatmapStyle(columns="given")
    )
    assert len(fig.axes) >= 3


def test_subclusters_split_clusters_in_two_levels_as_table3(tmp_path):
    """Three planted groups, one of them two sub-groups: a cut in 3 and a finer cut in 4 name
    the sub-group as sub-clusters of its cluster only; the heat map draws both levels."""
    rng = np.random.default_rng(3)
    centres = np.array([[0.0] * 6, [30.0] * 6, [-30.0] * 3 + [30.0] * 3])
    sub_centres = np.array([[0, 0, 0, 4, 4, 4], [0, 0, 0, -4, -4, -4]], np.float32)
    x = np.concatenate(
        [centres[0] + rng.normal(size=(10, 6)), centres[1] + rng.normal(size=(10, 6))]
        + [centres[2] + sub_centres[k] + 0.5 * rng.normal(size=(10, 6)) for k in (0, 1)]
    )
    z = cluster(x)
    major, finer = cut(z, n_clusters=3), cut(z, n_clusters=4)
    names = subclusters(major, finer)
    split = major[20]
    assert set(names[major != split]) == {""}  # whole clusters have no sub-clusters
    assert set(names[20:30]) | set(names[30:]) == {f"{split}.1", f"{split}.2"}
    assert len(set(names[20:30])) == 1 and set(names[20:30]) != set(names[30:])
    profiles = pd.DataFrame({"n_cells": 1}, index=pd.Index([f"P{i}" for i in range(40)], name="protein"))
    table = memberships(profiles, major, leaf_order(z), names)
    assert set(table["subcluster"]) == {"", f"{split}.1", f"{split}.2"}
    fig = heatmap_figure(x, z, leaf_order(z), HeatmapRows(major, labels=["a"] * 40, subclusters=names))
    assert "sub-cluster" in [t.get_text() for ax in fig.axes for t in ax.get_xticklabels()]
    with pytest.raises(ValueError, match="40 cluster ids but 3 finer ids"):
        subclusters(major, finer[:3])


def test_memberships_table():
    meta, x, _ = _planted(n_groups=2, proteins_per_group=4, d=4)
    for level in ("protein", "image"):
        profiles, matrix = protein_profiles(meta, x, level=level)
        z = cluster(matrix)
        order, ids = leaf_order(z), cut(z, n_clusters=2)
        table = memberships(profiles, ids, order)
        key = profiles.index.name
        assert list(table.columns) == ([key] if level == "protein" else [key, "protein"]) + [
            "cluster",
            "subcluster",
            "leaf_position",
            "n_cells",
        ]
        assert list(table[key]) == list(profiles.index[order]) and list(table["leaf_position"]) == list(
            range(len(order))
        )
        assert table["n_cells"].sum() == len(meta)


def test_cluster_examples_figure(tmp_path):
    rng = np.random.default_rng(6)
    n = 40
    crops = rng.integers(0, 255, size=(n, 2, 16, 16), dtype=np.uint8)
    store = write_crop_store(
        tmp_path / "crops.zarr",
        [crops],
        n,
        2,
        size=16,
        attrs={"channels": ["gfp", "dapi"], "roles": ["protein", "structural"]},
    )
    cells = pd.DataFrame({"protein": [f"P{i % 8}" for i in range(n)], "store_index": np.arange(n)})
    table = pd.DataFrame({"protein": [f"P{i}" for i in range(9)], "cluster": [1, 1, 1, 2, 2, 2, 2, 3, 3]})
    out = cluster_examples_figure(store, cells, table, FigureOutput(tmp_path / "ex.png"), ExampleSettings(n_examples=4))
    assert out.stat().st_size > 0
    fig = cluster_examples_figure(
        store, cells, table, examples=ExampleSettings(n_examples=4, clusters=[3], protein_only=True)
    )
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert set(titles) <= {"P7"} and len(titles) == 4  # P8 has no cells: all examples from P7


def test_errors_are_one_line_value_errors():
    x = np.random.default_rng(7).normal(size=(10, 3))
    z = cluster(x)
    cases = [
        lambda: cluster(x, "ward", "cosine"),
        lambda: cut(z),
        lambda: cut(z, n_clusters=2, height=1.0),
        lambda: cluster(x[:1]),
        lambda: protein_profiles(pd.DataFrame({"protein": ["A", "A"]}), x[:2]),
        lambda: cluster(x, "median"),
        lambda: protein_profiles(pd.DataFrame({"gene": list("ab")}), x[:2]),
        lambda: cut(z, n_clusters=11),
    ]
    for case in cases:
        with pytest.raises(ValueError) as info:
            case()
        assert "\n" not in str(info.value) and str(info.value)
    with pytest.raises(ValueError, match="euclidean"):
        cluster(x, "ward", "cosine")
