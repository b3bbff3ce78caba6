"""Which proteins localize like X: a query protein's nearest proteins in the clustering tree and
in feature space (the paper's search around MKI67: "the 32 proteins nearest to it in the tree",
which revealed the nucleolar rim).

Tree distance is the cophenetic distance, the height at which two proteins first join; it ranks
whole sub-trees, so a query's neighbours are the proteins of the smallest branches around it,
ties broken by feature distance. Feature distance is the Euclidean distance between the
z-scored profiles the tree was built on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pcinpaint.exploratory.clustering import _check_linkage


def tree_distances(linkage: np.ndarray, leaf: int) -> np.ndarray:
    """Cophenetic distance from ``leaf`` to every leaf (0 to itself), in one walk up the tree."""
    z = _check_linkage(linkage)
    n = len(z) + 1
    if not 0 <= leaf < n:
        raise ValueError(f"leaf {leaf} out of range 0..{n - 1}")
    out = np.zeros(n)
    holder = leaf  # the node that holds the leaf so far; its siblings' leaves are disjoint
    for k, (a, b) in enumerate(z[:, :2].astype(np.int64)):
        if holder in (a, b):
            out[_leaves(z, b if holder == a else a, n)] = z[k, 2]
            holder = n + k
    return out


def _leaves(z: np.ndarray, node: int, n: int) -> list[int]:
    """The leaves under ``node`` (iterative: any depth)."""
    stack, leaves = [node], []
    while stack:
        x = stack.pop()
        if x < n:
            leaves.append(x)
        else:
            stack += [int(z[x - n, 0]), int(z[x - n, 1])]
    return leaves


def nearest_proteins(
    proteins: pd.Index, matrix: np.ndarray, linkage: np.ndarray, query: str, n: int, terms: pd.Series | None = None
) -> pd.DataFrame:
    """The ``n`` proteins nearest to ``query`` by tree distance and the ``n`` nearest by feature
    distance (their union, ranked both ways), with their annotation terms.

    Columns: query, protein, tree_rank, feature_rank (1 = nearest; blank beyond ``n``),
    tree_distance, feature_distance, terms.
    """
    names = pd.Index(proteins).astype(str)
    matches = np.flatnonzero(names.str.upper() == str(query).upper())
    if not len(matches):
        raise ValueError(f"query protein '{query}' is not among the {len(names)} clustered proteins")
    q = int(matches[0])
    tree = tree_distances(linkage, q)
    feature = np.linalg.norm(np.asarray(matrix, np.float64) - np.asarray(matrix, np.float64)[q], axis=1)
    others = np.delete(np.arange(len(names)), q)
    by_tree = others[np.lexsort((feature[others], tree[others]))][:n]
    by_feature = others[np.argsort(feature[others], kind="stable")][:n]
    rank_tree = {int(i): r + 1 for r, i in enumerate(by_tree)}
    rank_feature = {int(i): r + 1 for r, i in enumerate(by_feature)}
    rows = sorted(
        set(rank_tree) | set(rank_feature), key=lambda i: (rank_tree.get(i, n + 1), rank_feature.get(i, n + 1))
    )
    table = pd.DataFrame(
        {
            "query": names[q],
            "protein": names[rows],
            "tree_rank": pd.array([rank_tree.get(i) for i in rows], dtype="Int64"),
            "feature_rank": pd.array([rank_feature.get(i) for i in rows], dtype="Int64"),
            "tree_distance": tree[rows],
            "feature_distance": feature[rows],
        }
    )
    table["terms"] = table["protein"].map(terms) if terms is not None else None
    return table


def localize_like(
    proteins: pd.Index,
    matrix: np.ndarray,
    linkage: np.ndarray,
    queries,
    n_neighbours: int,
    terms: pd.Series | None = None,
) -> pd.DataFrame:
    """``nearest_proteins`` of each query, one table in query order; ``n_neighbours`` is capped
    at the other proteins there are, so a small screen lists them all rather than failing."""
    n = min(n_neighbours, len(proteins) - 1)
    return pd.concat([nearest_proteins(proteins, matrix, linkage, q, n, terms) for q in queries], ignore_index=True)


def like_examples(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of localize_like's figure as a clusters table (protein, cluster): each query
    alone, then its tree neighbours as "like <query>", in the table's order."""
    groups = []
    for query, rows in table.groupby("query", sort=False):
        groups.append(pd.DataFrame({"protein": [query], "cluster": query}))
        near = rows.loc[rows["tree_rank"].notna(), "protein"]
        groups.append(pd.DataFrame({"protein": near, "cluster": f"like {query}"}))
    return pd.concat(groups, ignore_index=True)


def feature_neighbours(matrix: np.ndarray, names, k: int) -> tuple[list[list[str]], list[list[float]]]:
    """Every protein's ``k`` nearest other proteins and their feature distances, nearest first
    (``nearest_proteins``' feature ranks, for all proteins at once: the explorer's search)."""
    from sklearn.neighbors import NearestNeighbors

    names = np.asarray(names, dtype=object)
    k = min(int(k), len(names) - 1)
    if k < 1:
        return [[] for _ in names], [[] for _ in names]
    distances, indices = NearestNeighbors(n_neighbors=k + 1).fit(matrix).kneighbors(matrix)
    found, dists = [], []
    for i, (row, dist) in enumerate(zip(indices, distances)):
        keep = [(j, d) for j, d in zip(row, dist) if j != i][:k]  # self first, or a tie listed after it
        found.append([str(names[j]) for j, _ in keep])
        dists.append([float(d) for _, d in keep])
    return found, dists
