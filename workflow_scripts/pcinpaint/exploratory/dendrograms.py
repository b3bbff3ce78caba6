"""Single-cell trees of spatially variable proteins (Lu et al. 2019, Fig 6).

The cells of one spatially variable protein (found by the spread of its multi-localization
scores, ``multiloc``) are clustered hierarchically; cutting the tree into a few branches and
showing the cell nearest each branch's mean names the phenotypes and their proportions without
knowing them beforehand. Branches are ``clustering.cut``'s clusters, numbered left to right in
the dendrogram's leaf order, so the numbers match the figure.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.cluster import hierarchy

from pcinpaint.exploratory.clustering import cluster, cut
from pcinpaint.exploratory.multiloc import check_features


def single_cell_tree(features: np.ndarray, method: str = "ward", metric: str = "euclidean") -> np.ndarray:
    """Agglomerative clustering of one protein's cells: a scipy linkage matrix.

    Pass the protein's rows of screen-wide z-scored features (``features.matrix.zscore`` over all
    cells): z-scoring within one protein would give features that barely vary in it as much
    weight as the ones that separate its phenotypes. Ward (Euclidean) merges the branches that
    add least within-branch variance, so compact phenotypes form clean clades.
    """
    x = check_features(features).astype(np.float64)
    if len(x) < 2:
        raise ValueError(f"need at least 2 cells to build a tree, got {len(x)}")
    return cluster(x, method=method, metric=metric)


def representative_cells(linkage: np.ndarray, features: np.ndarray, n_branches: int = 4) -> pd.DataFrame:
    """Cut the tree into ``n_branches`` branches and pick, per branch, the cell nearest its mean.

    The cell nearest the branch mean is a real cell typical of the branch, so its crop can
    stand for the phenotype in the figure. Returns one row per branch (left to right):
    ``branch``, ``cell`` (row index into ``features``), ``n_cells``, ``fraction`` of the
    protein's cells, and ``leaf_start``/``leaf_stop`` (the branch's span of leaf positions
    in the dendrogram, stop exclusive). ``features`` must be those the tree was built from.
    """
    x = check_features(features).astype(np.float64)
    if len(x) != len(linkage) + 1:
        raise ValueError(f"the tree has {len(linkage) + 1} cells but features have {len(x)} rows")
    if not 1 <= n_branches <= len(x):  # in the config's words (exploratory.n_branches), not cut's
        raise ValueError(f"n_branches must be between 1 and the number of cells ({len(x)}), got {n_branches}")
    branch = cut(linkage, n_clusters=n_branches)
    position = np.empty(len(x), np.int64)
    position[hierarchy.leaves_list(linkage)] = np.arange(len(x))
    rows = []
    for k in range(1, branch.max() + 1):
        members = np.flatnonzero(branch == k)
        centre = x[members].mean(axis=0)
        nearest = members[np.argmin(np.linalg.norm(x[members] - centre, axis=1))]
        span = position[members]
        rows.append(
            dict(
                branch=k,
                cell=int(nearest),
                n_cells=len(members),
                fraction=len(members) / len(x),
                leaf_start=int(span.min()),
                leaf_stop=int(span.max()) + 1,
            )
        )
    return pd.DataFrame(rows)


def branch_purity(clusters, truth) -> float:
    """Agreement of branches with known sub-populations: the adjusted Rand index (1 = identical
    partitions, about 0 = chance), indifferent to how branches are numbered."""
    from sklearn.metrics import adjusted_rand_score

    clusters, truth = np.asarray(clusters), np.asarray(truth)
    if clusters.shape != truth.shape or clusters.ndim != 1:
        raise ValueError(f"clusters and truth must be 1-D of the same length, got {clusters.shape} and {truth.shape}")
    return float(adjusted_rand_score(truth, clusters))
