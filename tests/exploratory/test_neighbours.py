"""Proteins that localize like a query: tree (cophenetic) and feature neighbours."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import cophenet
from scipy.spatial.distance import squareform

from pcinpaint.crops.store import write_crop_store
from pcinpaint.exploratory.clustering import cluster
from pcinpaint.exploratory.neighbours import like_examples, localize_like, nearest_proteins, tree_distances
from pcinpaint.exploratory.truth import neighbour_agreement
from pcinpaint.figures.clustering import NO_CROPS, ExampleSettings, cluster_examples_figure, example_store
from pcinpaint.figures.common import FigureOutput, plt


def test_tree_distances_are_scipys_cophenetic_distances():
    x = np.random.default_rng(0).normal(size=(60, 5))
    z = cluster(x)
    full = squareform(cophenet(z))
    for leaf in (0, 17, 59):
        np.testing.assert_allclose(tree_distances(z, leaf), full[leaf])


def test_a_querys_neighbours_are_its_groups_proteins():
    """Four planted compartments of 10 proteins: the 9 nearest of a query, by the tree and by
    the features, are the other proteins of its compartment."""
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 8)) * 6
    x = np.concatenate([c + rng.normal(size=(10, 8)) for c in centres])
    proteins = pd.Index([f"P{i:02d}" for i in range(40)], name="protein")
    terms = pd.Series(np.repeat(["nucleoli", "cytosol", "er", "golgi"], 10), index=proteins)
    table = nearest_proteins(proteins, x, cluster(x), "p13", 9, terms)  # any case
    assert set(table["query"]) == {"P13"} and "P13" not in set(table["protein"])
    assert set(table.loc[table["tree_rank"].notna(), "terms"]) == {"cytosol"}
    assert set(table.loc[table["feature_rank"].notna(), "terms"]) == {"cytosol"}
    assert list(table["tree_rank"].dropna()) == list(range(1, 10))
    assert table["tree_distance"].is_monotonic_increasing
    with pytest.raises(ValueError, match="query protein 'MKI67' is not among the 40 clustered proteins"):
        nearest_proteins(proteins, x, cluster(x), "MKI67", 9, terms)


def test_neighbour_agreement_counts_the_querys_exact_class():
    """R-precision over the query's class (feature-only rows do not count), the nearest
    neighbour's class, and shared compartments."""
    terms = pd.Series(
        {"Q1": "nucleoli", "Q2": "cytosol", "A": "nucleoli", "B": "cytosol+nucleoli", "C": "cytosol", "D": "nucleoli"}
    )
    like = pd.DataFrame(
        {
            "query": ["Q1", "Q1", "Q1", "Q1", "Q2", "Q2"],
            "protein": ["A", "B", "D", "C", "C", "A"],
            "tree_rank": pd.array([1, 2, 3, None, 2, 1], dtype="Int64"),
        }
    )
    got = neighbour_agreement(like, terms)
    # Q1's class has A and D besides it (R=2): A at rank 1, B at 2 -> 1/2; Q2's has C (R=1): A first -> 0
    assert got == dict(r_precision=0.25, nearest=0.5, shares_term=0.8, queries=2, n=5)


def test_localize_like_tables_and_figure_with_and_without_crops(tmp_path):
    """The rule's table is each query's neighbours in query order (neighbours capped at the
    proteins there are); its figure rows are each query then its tree neighbours, drawn with
    crops from a store or, where the dataset is a feature table, listed and said so."""
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(2, 6)) * 6
    x = np.concatenate([c + rng.normal(size=(5, 6)) for c in centres])
    proteins = pd.Index([f"P{i}" for i in range(10)], name="protein")
    terms = pd.Series(np.repeat(["nucleoli", "cytosol"], 5), index=proteins)
    tree = cluster(x)
    table = localize_like(proteins, x, tree, ["P1", "P7"], 20, terms)
    expected = pd.concat([nearest_proteins(proteins, x, tree, q, 9, terms) for q in ["P1", "P7"]], ignore_index=True)
    pd.testing.assert_frame_equal(table, expected)
    examples = like_examples(table)
    assert list(examples["cluster"].drop_duplicates()) == ["P1", "like P1", "P7", "like P7"]
    assert list(examples.loc[examples["cluster"] == "like P1", "protein"]) == list(
        table.loc[table["query"] == "P1", "protein"]
    )
    crops = rng.integers(0, 255, size=(20, 2, 16, 16), dtype=np.uint8)
    write_crop_store(tmp_path / "c.zarr", [crops], 20, 2, size=16, attrs={"roles": ["protein", "structural"]})
    meta = pd.DataFrame({"protein": [f"P{i % 10}" for i in range(20)], "store_index": np.arange(20)})
    settings = ExampleSettings(seed=0, clusters=list(dict.fromkeys(examples["cluster"])))
    assert example_store([]) is None  # the rule's store input for a feature table
    outputs = {}
    for name, store in (("crops", example_store(tmp_path / "c.zarr")), ("none", example_store([]))):
        fig = cluster_examples_figure(store, meta, examples, FigureOutput(title="like"), settings)
        outputs[name] = fig
    assert any(ax.images for ax in outputs["crops"].axes)
    without = outputs["none"]
    assert NO_CROPS in without._suptitle.get_text() and not any(ax.images for ax in without.axes)
    assert len(without.axes) == 2 * 4  # a label and a list per row
    listed = without.axes[3].texts[0].get_text().replace("\n", " ")
    assert listed == ", ".join(table.loc[table["query"] == "P1", "protein"])
    plt.close("all")
