"""Protein clustering figures (``pcinpaint.figures.clustering``): the clustered heat map with its
tree and strips, the feature order beside it, GO notes, and example crops per cluster."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import leaves_list, linkage

from pcinpaint.crops.store import write_crop_store
from pcinpaint.figures.clustering import (
    NO_CROPS,
    ExampleSettings,
    HeatmapRows,
    HeatmapStyle,
    cluster_examples_figure,
    draw_dendrogram,
    feature_order,
    go_notes,
    heatmap_figure,
)
from pcinpaint.figures.common import FigureOutput, plt

PNG, PDF = b"\x89PNG\r\n\x1a\n", b"%PDF-"


def _profiles(n=12, d=5):
    x = np.random.default_rng(0).normal(size=(n, d))
    x[: n // 2] += 3  # two clear groups
    tree = linkage(x, "average")
    return x, tree, leaves_list(tree), np.where(np.arange(n) < n // 2, 1, 2)


def test_the_heat_map_is_written_as_png_and_pdf(tmp_path):
    x, tree, order, clusters = _profiles()
    rows = HeatmapRows(clusters, labels=["nucleus", None] * 6, subclusters=["1a", ""] * 6, names=list("abcdefghijkl"))
    out = heatmap_figure(x, tree, order, rows, FigureOutput(tmp_path / "h.png", tmp_path / "h.pdf"))
    assert out == tmp_path / "h.png"
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 5000
    assert (tmp_path / "h.pdf").read_bytes().startswith(PDF)


def test_without_a_png_the_figure_comes_back_with_its_rows_in_leaf_order():
    x, tree, order, clusters = _profiles()
    names = [f"P{i}" for i in range(12)]
    fig = heatmap_figure(x, tree, order, HeatmapRows(clusters, names=names), style=HeatmapStyle(columns="given"))
    heat = fig.axes[1]
    assert [t.get_text() for t in heat.get_yticklabels()] == [names[i] for i in order]
    np.testing.assert_allclose(heat.images[0].get_array(), np.clip(x[order], -3, 3), rtol=1e-6)
    assert fig._suptitle.get_text() == "12 profiles x 5 features, 2 clusters"
    plt.close(fig)


def test_rows_labels_and_columns_that_do_not_fit_are_refused():
    x, tree, order, clusters = _profiles()
    with pytest.raises(ValueError, match="12 rows but 11 leaf positions, 12 cluster ids and a linkage of 12 leaves"):
        heatmap_figure(x, tree, order[:-1], HeatmapRows(clusters))
    with pytest.raises(ValueError, match="12 rows but 3 labels"):
        heatmap_figure(x, tree, order, HeatmapRows(clusters, labels=["a", "b", "c"]))
    with pytest.raises(ValueError, match="columns must be 'cluster', 'given' or a column order, got 'sorted'"):
        heatmap_figure(x, tree, order, HeatmapRows(clusters), style=HeatmapStyle(columns="sorted"))


def test_feature_order_puts_correlated_columns_together():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(50, 1)), rng.normal(size=(50, 1))
    x = np.hstack([a, b, a + 0.01 * rng.normal(size=(50, 1)), np.ones((50, 1)), b * 2])
    order = feature_order(x).tolist()
    assert sorted(order) == [0, 1, 2, 3, 4]
    assert abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(4)) == 1
    assert feature_order(x[:, :2]).tolist() == [0, 1]


def test_the_dendrogram_spans_every_leaf():
    x, tree, order, _ = _profiles()
    fig, ax = plt.subplots()
    draw_dendrogram(ax, tree, order)
    segments = ax.collections[0].get_segments()
    assert len(segments) == len(tree)
    assert ax.get_ylim() == (11.5, -0.5) and ax.get_xlim()[1] == 0
    plt.close(fig)


def test_go_notes_print_q_values_as_the_paper():
    top = pd.DataFrame(
        {"cluster": [1, 2], "name": ["nucleolus", "cytosol"], "fdr": [0.034, 0.000123], "ratio": ["4/5", "2/9"]}
    )
    assert go_notes(top) == {1: "nucleolus, q=0.034, 4/5", 2: "cytosol, q=1e-4, 2/9"}


def test_example_crops_per_cluster_from_a_store(tmp_path):
    n = 12
    crops = np.random.default_rng(2).integers(0, 255, size=(n, 2, 16, 16), dtype=np.uint8)
    store = write_crop_store(tmp_path / "c.zarr", [crops], n, 2, size=16, attrs={"roles": ["protein", "structural"]})
    cells = pd.DataFrame({"protein": [f"P{i % 4}" for i in range(n)], "store_index": np.arange(n)})
    table = pd.DataFrame({"protein": ["P0", "P1", "P2", "P3"], "cluster": [1, 1, 2, 2]})
    out = cluster_examples_figure(store, cells, table, FigureOutput(tmp_path / "ex.png"), ExampleSettings(n_examples=3))
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 2000
    fig = cluster_examples_figure(
        store, cells, table, examples=ExampleSettings(n_examples=3, clusters=[2], notes={2: "cytosol"})
    )
    assert fig.axes[0].texts[0].get_text() == "cluster 2\n2 proteins\ncytosol"
    assert {ax.get_title() for ax in fig.axes[1:]} == {"P2", "P3"}  # distinct proteins first
    plt.close(fig)
    with pytest.raises(ValueError, match="no cluster to show"):
        cluster_examples_figure(store, cells, table, examples=ExampleSettings(clusters=[9]))
    with pytest.raises(ValueError, match="3 channel roles for a store of 2 channels"):
        cluster_examples_figure(store, cells, table, examples=ExampleSettings(roles=["protein"] * 3))


def test_without_a_store_each_cluster_lists_its_proteins_and_the_title_says_no_crops(tmp_path):
    """A dataset that is a feature table has no crop store: the rows and their labels are the
    ones drawn with crops, the crops' place holds the cluster's proteins."""
    n = 12
    crops = np.random.default_rng(2).integers(0, 255, size=(n, 2, 16, 16), dtype=np.uint8)
    store = write_crop_store(tmp_path / "c.zarr", [crops], n, 2, size=16, attrs={"roles": ["protein", "structural"]})
    cells = pd.DataFrame({"protein": [f"P{i % 4}" for i in range(n)], "store_index": np.arange(n)})
    table = pd.DataFrame({"protein": ["P0", "P1", "P2", "P3"], "cluster": [1, 1, 2, 2]})
    settings = ExampleSettings(n_examples=3, notes={2: "cytosol"})
    with_crops = cluster_examples_figure(store, cells, table, FigureOutput(title="t"), settings)
    without = cluster_examples_figure(None, cells, table, FigureOutput(title="t"), settings)
    assert NO_CROPS == "no crops: the dataset is a feature table"
    assert without._suptitle.get_text().splitlines() == ["t", f"{NO_CROPS} (no images): each row lists its proteins"]
    assert NO_CROPS not in with_crops._suptitle.get_text()
    assert not any(ax.images for ax in without.axes) and any(ax.images for ax in with_crops.axes)
    labels = [[t.get_text() for t in ax.texts] for ax in without.axes]
    assert labels == [["cluster 1\n2 proteins"], ["P0, P1"], ["cluster 2\n2 proteins\ncytosol"], ["P2, P3"]]
    assert labels[::2] == [[t.get_text() for t in ax.texts] for ax in with_crops.axes[::4]]  # same row labels
    plt.close("all")
    out = cluster_examples_figure(None, cells, table, FigureOutput(tmp_path / "ex.png"))
    assert out.read_bytes().startswith(PNG) and out.stat().st_size > 2000
    many = pd.DataFrame({"protein": [f"protein{i:03d}" for i in range(300)], "cluster": 1})
    fig = cluster_examples_figure(None, cells, many, examples=ExampleSettings(n_examples=2))
    assert fig.axes[1].texts[0].get_text().endswith("... (300 in all)")  # a long list is cut
    plt.close(fig)
    with pytest.raises(ValueError, match="no cluster to show"):
        cluster_examples_figure(None, cells, table, examples=ExampleSettings(clusters=[9]))
