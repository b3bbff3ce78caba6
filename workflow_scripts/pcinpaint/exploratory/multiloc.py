"""Single-cell scores of multi-localized proteins (Lu et al. 2019, Fig 5 and Supp Data 2).

Multi-localization score. Annotations are per image (or per protein), but a two-compartment
protein can split its signal unevenly, and unevenly from cell to cell. For a compartment pair
(A, B) the mean feature vector of the cells of images annotated A alone and of images
annotated B alone stand for the two compartments; each cell then gets

    score = log( d(cell, mean_A) / d(cell, mean_B) )

(Euclidean distances on z-scored features, natural log): negative means closer to A,
positive closer to B, near 0 an even mix. The mean of an image's scores says which compartment
dominates; its standard deviation flags images whose cells disagree (single-cell variability),
the paper's way of finding spatially variable proteins without looking at the images; their
cells' trees (Fig 6) are in ``dendrograms``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pcinpaint.features.matrix import GroupSums, Moments, blocks_of

#: cell-table columns carried into the score table when present
CARRIED = ("cell_id", "store_index", "image_id", "protein", "cell_line", "antibody")


# --------------------------------------------------------------------------------------------
# Annotation terms
# --------------------------------------------------------------------------------------------


def parse_terms(value) -> frozenset[str]:
    """Annotation terms as a set: a '+'-joined string ("cytosol+nucleoplasm"), or any iterable
    of terms; missing values give the empty set. Terms are compared exactly (after stripping)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return frozenset()
    if isinstance(value, str):
        parts: Iterable = value.split("+")
    else:
        try:
            parts = list(value)
        except TypeError:
            parts = [value]
    return frozenset(t for t in (str(p).strip() for p in parts) if t and t.lower() != "nan")


def terms_by_image(meta: pd.DataFrame, column: str = "label", key: str = "image_id") -> pd.Series:
    """``key`` -> term set from a per-cell annotation column (the sample sheet's image label).

    Every cell of an image carries its image's label, so one image with two different labels
    means the table is inconsistent; that is an error rather than a silent pick.
    """
    for c in (column, key):
        if c not in meta.columns:
            raise ValueError(f"cell table has no '{c}' column (columns: {', '.join(map(str, meta.columns))})")
    labels = meta[[key, column]].dropna(subset=[key]).drop_duplicates()
    labels = labels.assign(_terms=labels[column].map(parse_terms))
    counts = labels.drop_duplicates([key, "_terms"]).groupby(key).size()
    if (counts > 1).any():
        bad = counts[counts > 1].index[0]
        raise ValueError(f"{key} {bad!r} has more than one '{column}' value")
    return labels.drop_duplicates(key).set_index(key)["_terms"]


# --------------------------------------------------------------------------------------------
# Multi-localization score (Fig 5, Supp Data 2)
# --------------------------------------------------------------------------------------------


def check_features(features, n_rows: int | None = None) -> np.ndarray:
    """A (cells, features) array of finite numbers, with ``n_rows`` rows when given."""
    x = np.asarray(features)
    if x.ndim != 2:
        raise ValueError(f"features must be a 2-D (cells, features) array, got shape {x.shape}")
    if n_rows is not None and len(x) != n_rows:
        raise ValueError(f"{len(x)} feature rows but {n_rows} cells in the cell table")
    if not np.issubdtype(x.dtype, np.number) or not np.isfinite(x).all():
        raise ValueError("features must be finite numbers (NaN or inf found)")
    return x


def pair_scores(
    features: np.ndarray, meta: pd.DataFrame, image_terms: pd.Series, a: str, b: str, key: str = "image_id"
) -> pd.DataFrame:
    """Per-cell score of the compartment pair (A, B) for the cells of A-only, B-only and A+B images.

    ``features`` (cells x features: an array, or a table read block by block,
    ``features.reading.FeatureFile``) and ``meta`` (the cell table, same row order; needs
    ``image_id`` and ``protein``) cover the whole screen: features are z-scored over all of its
    cells (``features.matrix.zscore``, zero-variance features dropped) so the scaling does not depend
    on the pair. ``image_terms`` maps ``key`` (image_id, or protein for protein-level
    annotations) to its terms (a set or a '+'-joined string).

    Groups are by *exact* term sets: an image is "A" when its terms are exactly {A}, "B" for
    exactly {B}, and "A+B" (named ``f"{a}+{b}"``, in the order given) for exactly {A, B}; images
    with a third term, or none, are left out, as the paper took cells annotated to the two
    compartments, or to one of them alone.

    Returns one row per scored cell: ``cell`` (row position in ``features``), the carried
    cell-table columns present (cell_id, store_index, image_id, protein, cell_line, antibody),
    ``pair``, ``group``, ``dist_a``, ``dist_b`` and ``score`` = log(dist_a / dist_b) (negative:
    closer to A). Raises ValueError when A-only or B-only images have no cells.
    """
    a, b = _checked_pair(meta, a, b, key)
    lazy = hasattr(features, "blocks")  # a table read block by block (features.reading)
    if lazy and features.n_rows != len(meta):
        raise ValueError(f"{features.n_rows} feature rows but {len(meta)} cells in the cell table")
    x = features if lazy else check_features(features, len(meta))
    group = _pair_groups(meta, image_terms, a, b, key)
    in_a = (group == a).to_numpy()
    in_b = (group == b).to_numpy()
    for name, mask in ((a, in_a), (b, in_b)):
        if not mask.any():
            raise ValueError(
                f"no cells in images annotated '{name}' alone: cannot define its mean "
                f"(check the term spelling and the {key} -> terms mapping)"
            )
    # z-scored over every cell (one pass for the statistics), then only the pair's cells: the
    # two compartment means, then each scored cell's distances, one block at a time
    stats = Moments.of(x)
    if lazy and not np.isfinite(stats.total).all():
        raise ValueError("features must be finite numbers (NaN or inf found)")
    means = _compartment_means(x, stats, np.where(in_a, 0, np.where(in_b, 1, -1)))
    rows = np.flatnonzero(group.notna().to_numpy())
    dist_a, dist_b = _distances_to(x, stats, rows, means)
    tiny = np.finfo(np.float64).tiny  # a cell exactly at a mean: a large finite score, not inf
    out = pd.DataFrame({"cell": rows})
    for c in CARRIED:
        if c in meta.columns:
            out[c] = meta[c].to_numpy()[rows]
    out["pair"] = f"{a}+{b}"
    out["group"] = group.to_numpy()[rows]
    out["dist_a"] = dist_a
    out["dist_b"] = dist_b
    out["score"] = np.log(np.maximum(dist_a, tiny)) - np.log(np.maximum(dist_b, tiny))
    return out


def _checked_pair(meta: pd.DataFrame, a: str, b: str, key: str) -> tuple[str, str]:
    """The two terms, stripped, checked to differ, with the cell-table columns the score needs."""
    a, b = str(a).strip(), str(b).strip()
    if not a or not b or a == b:
        raise ValueError(f"need two different compartment terms, got {a!r} and {b!r}")
    for c in ("image_id", "protein", key):
        if c not in meta.columns:
            raise ValueError(f"cell table has no '{c}' column")
    return a, b


def _pair_groups(meta: pd.DataFrame, image_terms, a: str, b: str, key: str) -> pd.Series:
    """Each cell's group: ``a`` or ``b`` (its image has exactly that term), ``"a+b"`` (exactly
    both), or None (any other term set)."""
    terms = pd.Series(image_terms).map(parse_terms)
    if terms.index.has_duplicates:
        raise ValueError(f"image_terms has duplicate {key} entries")
    cell_terms = meta[key].map(terms)
    wanted = {frozenset([a]): a, frozenset([b]): b, frozenset([a, b]): f"{a}+{b}"}
    return cell_terms.map(lambda t: wanted.get(t) if isinstance(t, frozenset) else None)


def _compartment_means(x, stats: Moments, side: np.ndarray) -> np.ndarray:
    """Mean z-scored feature vectors (rows) of the cells of side 0 (A alone) and side 1 (B alone)."""
    sums = GroupSums(2, len(stats.finish()[0]))
    for positions, block in blocks_of(x, np.flatnonzero(side >= 0)):
        sums.add(side[positions], stats.transform(block).astype(np.float64))
    return sums.means()


def _distances_to(x, stats: Moments, rows: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean distance of each of ``rows``' z-scored features to the A and the B mean."""
    mean_a, mean_b = means
    dist_a, dist_b = np.empty(len(rows)), np.empty(len(rows))
    for positions, block in blocks_of(x, rows):
        z = stats.transform(block).astype(np.float64)
        at = np.searchsorted(rows, positions)
        dist_a[at] = np.linalg.norm(z - mean_a, axis=1)
        dist_b[at] = np.linalg.norm(z - mean_b, axis=1)
    return dist_a, dist_b


def image_summary(scores: pd.DataFrame, groups: str | Iterable[str] = "pair") -> pd.DataFrame:
    """Per image: mean and standard deviation (ddof 1, NaN for one cell) of the score, n_cells.

    An image is one protein in one cell line (one antibody): its ``image_id``, so a protein
    imaged in three cell lines gives three rows. By default only images of the A+B group are
    summarised (Supp Data 2); ``groups="all"`` or a list of group names widens that. Sorted by
    SD, largest first: the top rows are the candidates for single-cell variability.
    """
    if scores.empty:
        raise ValueError("no scored cells to summarise")
    if isinstance(groups, str) and groups == "pair":
        keep = scores["group"] == scores["pair"]
    elif isinstance(groups, str) and groups == "all":
        keep = pd.Series(True, index=scores.index)
    else:
        keep = scores["group"].isin([groups] if isinstance(groups, str) else list(groups))
    data = scores[keep]
    by = ["pair", "image_id"]
    extra = [c for c in ("protein", "cell_line", "antibody") if c in data.columns]
    out = (
        data.groupby(by, sort=False)
        .agg(
            group=("group", "first"),
            **{c: (c, "first") for c in extra},
            mean_score=("score", "mean"),
            sd_score=("score", "std"),
            n_cells=("score", "size"),
        )
        .reset_index()
    )
    out["n_cells"] = out["n_cells"].astype(np.int64)
    return out.sort_values(
        ["sd_score", "image_id"], ascending=[False, True], na_position="last", kind="stable"
    ).reset_index(drop=True)


def top_variable(summary: pd.DataFrame, n: int = 10, min_cells: int = 2) -> pd.DataFrame:
    """The ``n`` images with the largest score SD per pair (the paper's list of ten per pair).

    Images with fewer than ``min_cells`` cells have no meaningful SD and are skipped.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    data = summary[(summary["n_cells"] >= min_cells) & summary["sd_score"].notna()]
    data = data.sort_values(["sd_score", "image_id"], ascending=[False, True], kind="stable")
    return data.groupby("pair", sort=False).head(n).reset_index(drop=True)
