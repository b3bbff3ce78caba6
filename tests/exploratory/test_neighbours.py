"""Proteins that localize like a query: tree (cophenetic) and feature neighbours."""

import numpy as np
import pandas as pd
import pytest
from scipy.cluster.hierarchy import cophenet
from scipy.spatial.distance import squareform

from pcinpaint.exploratory.clustering import cluster
from pcinpaint.exploratory.neighbours import nearest_proteins, tree_distances
from pcinpaint.exploratory.truth import neighbour_agreement


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
