"""Proteome-wide clustering of protein profiles: the paper's Fig 4 and Supplementary Data 1.

The paper averages the single-cell features of each protein (pooling every image, antibody
and cell line), mean-centres and scales each feature over proteins, and orders the proteins
by "maximum likelihood agglomerative hierarchical clustering" (Results, "Proteome-wide
clustering"; Fig 4, Supp Figs 4 and 5). Ward's criterion is that clustering: each merge is the
one that least increases the within-cluster sum of squares, which is the merge that most
increases the likelihood of a model of clusters as Gaussians with equal spherical covariance.
Average, complete and single linkage (with any ``scipy.spatial.distance.pdist`` metric) are
offered for comparison.

Scale: at the paper's size (about 12,000 proteins x 256 features) Ward's linkage holds the
condensed distance matrix, n(n-1)/2 float64 = 0.58 GB, and scipy copies it once while merging
(about 1.2 GB peak); time is O(n^2). Euclidean distances are computed blockwise with matrix
products (about four times faster than ``pdist``). Leaf order and dendrogram coordinates are
computed iteratively from the linkage: ``scipy.cluster.hierarchy.dendrogram`` recurses once
per tree level, which exceeds Python's recursion limit on deep trees (a chained single-linkage
tree of 12,000 proteins is 11,999 levels deep), so it is never needed here
(``tests/perf/bench_clustering.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, is_valid_linkage, leaves_list
from scipy.cluster.hierarchy import linkage as _scipy_linkage
from scipy.spatial.distance import pdist

from pcinpaint.errors import NotRun
from pcinpaint.features.matrix import group_means, squared_distances, zscore

LEVELS = ("protein", "image")
METHODS = ("ward", "average", "complete", "single")
#: methods whose merge criterion is only defined for Euclidean distances
EUCLIDEAN_ONLY = ("ward",)
METRICS = (
    "euclidean",
    "sqeuclidean",
    "cityblock",
    "chebyshev",
    "cosine",
    "correlation",
    "canberra",
    "braycurtis",
    "minkowski",
)

_BLOCK_BYTES = 64 * 2**20  # float64 distance block (rows x n) for the blockwise Euclidean distances


# --------------------------------------------------------------------------------------------
# Profiles
# --------------------------------------------------------------------------------------------


def protein_profiles(
    meta: pd.DataFrame, features: np.ndarray, level: str = "protein", min_cells: int = 1
) -> tuple[pd.DataFrame, np.ndarray]:
    """Mean features per protein (or per image), z-scored per feature over the profiles.

    ``meta`` holds the cell-table columns without the ``Metadata_`` prefix, one row per row of
    ``features``: an array, or a ``features.reading.FeatureFile`` summed one row group at a time
    (sums in float64 either way). ``level="protein"`` pools every image, antibody
    and cell line of a protein, as the paper does; ``level="image"`` keeps one profile per
    image (with its protein). An imported per-protein table (one row per protein) passes
    through unchanged before z-scoring. ``n_cells`` counts the rows averaged, or sums a
    ``n_cells`` column of ``meta`` where there is one. Profiles from fewer than ``min_cells``
    cells are left out (before z-scoring). Feature columns with zero variance over the profiles
    are dropped by ``features.matrix.zscore``; the kept column indices are in
    ``profiles.attrs["features"]``. Rows are sorted by protein (or image) id.
    """
    key = _profile_key(meta, level)
    x, lazy = _checked_features(meta, features)
    keys = meta[key].astype(str).to_numpy()
    names, counts, means = group_means(keys, x)
    if lazy and not np.isfinite(means).all():  # a sum is finite when every value it adds is
        raise ValueError(f"{x.path}: features hold missing or infinite values")
    if "n_cells" in meta.columns:
        counts = pd.Series(pd.to_numeric(meta["n_cells"]).to_numpy(), index=keys).groupby(level=0).sum()
        counts = counts.reindex(names).to_numpy()
    profiles = pd.DataFrame({"n_cells": counts.astype(np.int64)}, index=pd.Index(names, name=key))
    if level == "image":
        profiles["protein"] = _image_proteins(meta, keys, names)
    keep = profiles["n_cells"].to_numpy() >= min_cells
    profiles, means = profiles[keep], means[keep]
    if len(profiles) < 2:
        raise NotRun(f"{len(profiles)} {level} profile(s) with at least {min_cells} cells; clustering needs 2 or more")
    kept = np.flatnonzero(means.std(axis=0) > 1e-12)
    matrix = zscore(means[:, kept])
    profiles.attrs["features"] = kept.tolist()
    if matrix.shape[1] == 0:
        raise NotRun(f"the {len(profiles)} {level} profiles are identical in every feature; nothing to cluster")
    return profiles, matrix


def _profile_key(meta: pd.DataFrame, level: str) -> str:
    """The cell-table column a profile is averaged over at ``level``, checked to be there."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    key = "protein" if level == "protein" else "image_id"
    if key not in meta.columns:
        raise ValueError(f"{level}-level profiles need a '{key}' column; the table has {list(meta.columns)[:12]}")
    return key


def _checked_features(meta: pd.DataFrame, features) -> tuple:
    """The features (an array, or a lazily summed table) with one row per cell, and whether
    they are lazy; an array is checked finite here, a lazy table by its sums."""
    lazy = hasattr(features, "blocks")  # a table summed one row group at a time (features.reading)
    x = features if lazy else np.asarray(features)
    shape = (x.n_rows, x.n_features) if lazy else x.shape
    if len(shape) != 2 or shape[0] != len(meta):
        raise ValueError(f"features must be 2-D with one row per metadata row: {shape} vs {len(meta)} rows")
    if not lazy and not np.isfinite(x).all():
        raise ValueError(f"features hold {int((~np.isfinite(x)).sum())} missing or infinite values")
    return x, lazy


def _image_proteins(meta: pd.DataFrame, keys: np.ndarray, names: np.ndarray) -> np.ndarray:
    """The protein of each image profile (in ``names`` order): an image shows one protein."""
    if "protein" not in meta.columns:
        raise ValueError("image-level profiles need a 'protein' column beside 'image_id'")
    per_image = pd.Series(meta["protein"].astype(str).to_numpy(), index=keys).groupby(level=0)
    if (per_image.nunique() > 1).any():
        bad = per_image.nunique().idxmax()
        raise ValueError(f"image {bad!r} holds cells of more than one protein")
    return per_image.first().reindex(names).to_numpy()


# --------------------------------------------------------------------------------------------
# Linkage, cut, order
# --------------------------------------------------------------------------------------------


def euclidean_condensed(matrix: np.ndarray, block_bytes: int = _BLOCK_BYTES) -> np.ndarray:
    """Condensed Euclidean distances (``pdist`` order, float64) from blockwise matrix products.

    ``|a|^2 + |b|^2 - 2ab`` on column-centred float64 rows; several times faster than
    ``pdist`` (BLAS, all cores) and within ~1e-13 of it on z-scored profiles.
    """
    x = np.asarray(matrix, np.float64)
    x = x - x.mean(axis=0)
    n = len(x)
    sq = np.einsum("ij,ij->i", x, x)
    out = np.empty(n * (n - 1) // 2)
    step = max(1, block_bytes // (8 * max(n, 1)))
    pos = 0
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = squared_distances(x[start:stop], x[start:], sq[start:stop], sq[start:])
        np.sqrt(block, out=block)
        for i in range(start, stop):
            m = n - i - 1
            out[pos : pos + m] = block[i - start, i - start + 1 :]
            pos += m
    return out


def cluster(matrix: np.ndarray, method: str = "ward", metric: str = "euclidean") -> np.ndarray:
    """Agglomerative hierarchical clustering of the rows: a scipy linkage matrix (n-1, 4).

    Ward (the default) merges the pair of clusters whose union least increases the within-
    cluster sum of squares: the maximum-likelihood merge when clusters are Gaussians of equal
    spherical covariance, the paper's "maximum likelihood agglomerative hierarchical
    clustering". It is defined for Euclidean distances only. ``average``, ``complete`` and
    ``single`` take any metric of ``METRICS``. Memory is O(n^2): n(n-1)/2 float64 distances
    (0.58 GB at 12,000 rows), copied once by scipy while merging.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if method in EUCLIDEAN_ONLY and metric != "euclidean":
        raise ValueError(
            f"method '{method}' needs metric 'euclidean' (its merge cost is a Euclidean sum of squares), got '{metric}'"
        )
    x = np.asarray(matrix)
    if x.ndim != 2:
        raise ValueError(f"matrix must be 2-D (profiles x features), got shape {x.shape}")
    if len(x) < 2:
        raise ValueError(f"clustering needs at least 2 profiles, got {len(x)}")
    if not np.isfinite(x).all():
        raise ValueError("matrix holds missing or infinite values")
    if metric == "euclidean":
        distances = euclidean_condensed(x)
    else:
        distances = pdist(np.asarray(x, np.float64), metric)
        if not np.isfinite(distances).all():
            raise ValueError(f"metric '{metric}' gives undefined distances (constant rows?); use another metric")
    return _scipy_linkage(distances, method=method)


def _check_linkage(linkage: np.ndarray) -> np.ndarray:
    z = np.asarray(linkage, np.float64)
    if z.ndim != 2 or z.shape[1] != 4 or not is_valid_linkage(z):
        raise ValueError(f"not a valid scipy linkage matrix (shape {z.shape})")
    return z


def leaf_order(linkage: np.ndarray) -> np.ndarray:
    """Row indices in dendrogram order (left child first), iteratively: ``leaves_list``."""
    return leaves_list(_check_linkage(linkage)).astype(np.int64)


def cut(linkage: np.ndarray, n_clusters: int | None = None, height: float | None = None) -> np.ndarray:
    """Flat clusters 1..K: at most ``n_clusters`` clusters, or all merges below ``height``.

    Exactly one of the two. Ids are numbered in leaf order (cluster 1 is the top of the heat
    map, branch 1 the left of a Fig 6 dendrogram), so tables and figures read the same way.
    Merges of equal height cannot be split, so ``n_clusters`` may give fewer clusters than asked.
    """
    z = _check_linkage(linkage)
    if (n_clusters is None) == (height is None):
        raise ValueError("give exactly one of n_clusters and height")
    n = len(z) + 1
    if n_clusters is not None:
        if int(n_clusters) != n_clusters or not 1 <= n_clusters <= n:
            raise ValueError(f"n_clusters must be an integer from 1 to {n}, got {n_clusters}")
        ids = fcluster(z, t=int(n_clusters), criterion="maxclust")
    else:
        if not np.isfinite(height) or height < 0:
            raise ValueError(f"height must be a finite number >= 0, got {height}")
        ids = fcluster(z, t=float(height), criterion="distance")
    order = leaves_list(z)
    first_seen = pd.unique(ids[order])
    renumber = np.zeros(ids.max() + 1, np.int64)
    renumber[first_seen] = np.arange(1, len(first_seen) + 1)
    return renumber[ids]


def subclusters(clusters: Sequence[int], finer: Sequence[int]) -> np.ndarray:
    """Sub-cluster names ``"<cluster>.<k>"`` (the paper's A1, A2 within A), from a finer cut of
    the same tree: the parts of each cluster that the finer cut separates, numbered in leaf
    order (ids from ``cut`` are in leaf order). A cluster the finer cut leaves whole has no
    sub-clusters (empty name), as most of the paper's Table 3 clusters."""
    clusters, finer = np.asarray(clusters), np.asarray(finer)
    if len(clusters) != len(finer):
        raise ValueError(f"{len(clusters)} cluster ids but {len(finer)} finer ids")
    names = np.full(len(clusters), "", dtype=object)
    for c in np.unique(clusters):
        mine = clusters == c
        parts = np.unique(finer[mine])  # sorted = leaf order
        if len(parts) > 1:
            rank = {p: i + 1 for i, p in enumerate(parts)}
            names[mine] = [f"{int(c)}.{rank[p]}" for p in finer[mine]]
    return names


def dendrogram_coords(linkage: np.ndarray, order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(icoord, dcoord), each (n-1, 4): the bracket of every merge, as scipy's ``dendrogram`` draws it.

    x is in leaf positions (leaf i of ``order`` at x = i; scipy uses 10 i + 5): a leaf sits at
    its position, a merge midway between its two children; heights are merge distances (0 for
    leaves). Computed in one pass over the linkage (children precede parents), so any tree
    depth works. Rows are in merge order, not scipy's traversal order.
    """
    z = _check_linkage(linkage)
    n = len(z) + 1
    order = leaf_order(z) if order is None else np.asarray(order, np.int64)
    x = np.empty(2 * n - 1)
    h = np.zeros(2 * n - 1)
    x[order] = np.arange(n, dtype=np.float64)
    a, b = z[:, 0].astype(np.int64), z[:, 1].astype(np.int64)
    h[n:] = z[:, 2]
    xs = x.tolist()  # plain floats: a Python loop over numpy scalars is several times slower
    for k, (i, j) in enumerate(zip(a.tolist(), b.tolist())):
        xs[n + k] = (xs[i] + xs[j]) / 2
    x = np.asarray(xs)
    icoord = np.stack([x[a], x[a], x[b], x[b]], axis=1)
    dcoord = np.stack([h[a], h[n:], h[n:], h[b]], axis=1)
    return icoord, dcoord


def memberships(
    profiles: pd.DataFrame, clusters: Sequence[int], order: Sequence[int], subcluster: Sequence[str] | None = None
) -> pd.DataFrame:
    """Supplementary Data 1 (``clusters.tsv``): each profile's cluster and leaf position, in leaf order.

    Columns: the profile id (``protein``; for image-level profiles ``image_id`` then
    ``protein``), ``cluster``, ``subcluster`` (``subclusters``' names, empty without a second
    cut), ``leaf_position`` (0 = top of the heat map), ``n_cells``.
    """
    clusters = np.asarray(clusters)
    order = np.asarray(order, np.int64)
    n = len(profiles)
    if len(clusters) != n or len(order) != n:
        raise ValueError(f"{n} profiles but {len(clusters)} cluster ids and {len(order)} leaf positions")
    if not np.array_equal(np.sort(order), np.arange(n)):
        raise ValueError("order must be a permutation of the profile rows (leaf_order's output)")
    position = np.empty(n, np.int64)
    position[order] = np.arange(n)
    key = profiles.index.name or "protein"
    table = pd.DataFrame({key: profiles.index.to_numpy()})
    if key != "protein" and "protein" in profiles.columns:
        table["protein"] = profiles["protein"].to_numpy()
    table["cluster"] = clusters.astype(np.int64)
    table["subcluster"] = [""] * n if subcluster is None else list(subcluster)
    table["leaf_position"] = position
    table["n_cells"] = profiles["n_cells"].to_numpy() if "n_cells" in profiles.columns else 1
    return table.sort_values("leaf_position").reset_index(drop=True)
