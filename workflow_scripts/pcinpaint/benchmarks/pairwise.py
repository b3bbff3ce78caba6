"""Normalised average pairwise distances between images (Lu et al. 2019, Fig 2B and Table 2).

Human Protein Atlas labels are per image, not per cell, so a kNN classifier cannot score
human single-cell features. The paper instead asks whether cells of images with the same
localization term lie closer together than cells of images with different terms. This
module computes that score without any cell-by-cell or image-by-image distance matrix: only
sampled image pairs are measured, in vectorised batches.

Definitions, as implemented
---------------------------
Features are z-scored over all cells passed in (``features.matrix.Moments``; zero-variance
features, e.g. dead ReLU channels, are dropped). Image pairs are drawn before any feature is
read, and only the cells of the images drawn are held: passed a lazily read table
(``features.reading.FeatureRows``), the score reads the statistics in one pass over its cells
and then just those cells. Cells are grouped into images by
``image_id``; each image has one term (the caller excludes images whose protein has no usable
term). For images a and b,

    D(a, b) = mean over (i in cells of a, j in cells of b) of ||f_i - f_j||_2.

Pairs are ordered image pairs with a != b, drawn uniformly with replacement (also when fewer
distinct pairs exist than are drawn).

Fig 2B (:func:`pairwise_scores`), for each term t:

    same_D(t)  = mean D over n_pairs pairs (a, b), both of term t
    other_D(t) = mean D over n_pairs pairs (a of term t, b of term u) for every other term u
                 (n_pairs x (n_terms - 1) pairs: 17,000 for 18 terms, balancing the classes)
    score(t)   = same_D(t) / other_D(t) - 1

Negative: same-term images are closer than expected. A term with fewer than 2 images has no
same-term pair: its same_D and score are NaN, it is reported but left out of the summaries.
The summary rows, over terms with a score:

    overall = mean of score(t)                                (the paper's "overall")
    pooled  = mean of same_D(t) / mean of other_D(t) - 1      (all same-term pairs' mean D over
                                                               all different-term pairs' mean D)

The paper gives no explicit formula ("normalize these distances to an expectation of the
average pairwise distance between images with different localization terms"); this relative
difference is this implementation's reading of it.

Table 2 (:func:`cell_line_scores`). The paper: "For our experiments controlling for cell
line, we also introduce the constraint that the images must be of cells of the same or
different cell lines, depending on the experiment. Because some localization terms and cell
line combinations are rare, we did not control for class imbalance and drew 10,000 random
protein pairs with any different localization terms (not necessarily each other different
term), and compared this to 10,000 random protein pairs with the same localization term."
So, with C either "same cell line" or "different cell line":

    score(C) = mean D over n_pairs same-term pairs satisfying C
               / mean D over n_pairs different-term pairs satisfying C - 1
    difference = score(different cell line) - score(same cell line)    (Table 2's last column)

Pairs are drawn uniformly from all ordered image pairs meeting the condition, pooled over
terms (no per-term balancing, as the paper says). The paper's "protein pairs" are read as
image pairs (an image is one protein in one cell line with one antibody); two images of the
same protein are not excluded, as the paper does not say they were. A direct control comes
first: same cell line against different cell lines, whatever the terms, which shows how far
the features encode the cell line itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from pcinpaint.features.matrix import Moments, squared_distances


class ImageGroups(NamedTuple):
    """Cells grouped by image: image k's cells are ``order[starts[k]:starts[k] + counts[k]]``."""

    order: np.ndarray
    starts: np.ndarray
    counts: np.ndarray


@dataclass(frozen=True)
class PairDraws:
    """How a score draws its image pairs: ``n_pairs`` per side, from ``seed``, on features
    z-scored over the cells given unless ``standardise`` is False (one object for both scores,
    so a caller configures Fig 2B and Table 2 alike). The default 1,000 pairs is Fig 2B's: a
    ``PairDraws`` given to ``cell_line_scores`` draws its own ``n_pairs``, and only no
    ``draws`` at all gives that score's ``CELL_LINE_PAIRS``."""

    n_pairs: int = 1000
    seed: int = 0
    standardise: bool = True


#: ``cell_line_scores``'s pairs per side by default: the paper's 10,000
CELL_LINE_PAIRS = 10_000


def image_groups(image_ids) -> ImageGroups:
    """Group cells by image; image k is the k-th of ``np.unique(image_ids)``."""
    _, codes = np.unique(np.asarray(image_ids), return_inverse=True)
    return _groups(codes.ravel())


def _groups(codes: np.ndarray) -> ImageGroups:
    counts = np.bincount(codes)
    return ImageGroups(np.argsort(codes, kind="stable"), np.cumsum(counts) - counts, counts)


def mean_image_distance(x: np.ndarray, groups, pairs: np.ndarray, batch: int = 1024) -> np.ndarray:
    """D(a, b), the mean Euclidean distance over all (cell of a, cell of b), for each pair row.

    ``x`` is (cells, features) in the order ``groups`` indexes; ``pairs`` is (P, 2) image
    indices. Pairs are grouped by their two cell counts, so a step needs no padding or
    mask, and measured ``batch`` at a time with |x|^2 + |y|^2 - 2 x.y (clipped at 0 before
    the square root) in the dtype of ``x`` (copied to C order if it is not); a step holds
    about batch x (cells of a + cells of b) x features values. Float64 results.
    """
    order, starts, counts = (np.asarray(g) for g in groups)
    x = np.ascontiguousarray(x)  # row gathers from a Fortran-ordered array are several times slower
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    if not len(pairs):
        return np.empty(0, np.float64)
    a, b = pairs[:, 0].copy(), pairs[:, 1].copy()
    swap = counts[a] < counts[b]  # D is symmetric: put the larger image first, fewer shapes
    a[swap], b[swap] = b[swap], a[swap]
    # pairs are drawn with replacement: with few images most repeat, so measure each once
    unique, inverse = np.unique(np.stack([a, b], axis=1), axis=0, return_inverse=True)
    a, b = unique[:, 0], unique[:, 1]
    out = np.empty(len(unique), np.float64)
    sq = np.einsum("ij,ij->i", x, x)
    ca, cb = counts[a], counts[b]
    key = ca * (int(counts.max()) + 1) + cb
    perm = np.argsort(key, kind="stable")
    cuts = np.flatnonzero(np.diff(key[perm])) + 1
    for s, e in zip(np.r_[0, cuts], np.r_[cuts, len(perm)]):
        na, nb = np.arange(ca[perm[s]]), np.arange(cb[perm[s]])
        for at in range(s, e, batch):
            sel = perm[at : min(at + batch, e)]
            ia = order[starts[a[sel]][:, None] + na]
            ib = order[starts[b[sel]][:, None] + nb]
            d2 = squared_distances(x[ia], x[ib], sq[ia], sq[ib])
            np.sqrt(d2, out=d2)
            out[sel] = d2.mean(axis=(1, 2), dtype=np.float64)
    return out[inverse.ravel()]


def _draw(rng: np.random.Generator, codes: np.ndarray, g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """(P, 2) image pairs: a uniform in group g1, b uniform in group g2 (b != a when g1 == g2)."""
    members = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    first = np.cumsum(sizes) - sizes
    ka = rng.integers(0, sizes[g1])
    same = g1 == g2
    kb = rng.integers(0, sizes[g2] - same)
    kb += same & (kb >= ka)
    return np.column_stack([members[first[g1] + ka], members[first[g2] + kb]])


def _sample_pairs(
    rng: np.random.Generator,
    n: int,
    terms: np.ndarray | None,
    lines: np.ndarray,
    same_term: bool | None,
    same_line: bool | None,
) -> tuple[np.ndarray, int]:
    """n ordered image pairs (a != b) drawn uniformly from those whose terms / cell lines are
    equal (True) or different (False), either when None; and how many such pairs exist."""
    keys = np.column_stack([np.zeros_like(lines) if terms is None else terms, lines])
    combos, codes = np.unique(keys, axis=0, return_inverse=True)
    codes = codes.ravel()
    size = np.bincount(codes, minlength=len(combos)).astype(np.int64)
    weight = size[:, None] * size[None, :] - np.diag(size)  # ordered pairs, a != b
    for column, wanted in ((0, same_term), (1, same_line)):
        if wanted is not None:
            equal = combos[:, column][:, None] == combos[:, column][None, :]
            weight[equal != wanted] = 0
    cum = np.cumsum(weight.ravel())
    available = int(cum[-1]) if len(cum) else 0
    if available == 0:
        return np.empty((0, 2), np.int64), 0
    flat = np.searchsorted(cum, rng.integers(0, available, n), side="right")
    g1, g2 = np.divmod(flat, len(combos))
    return _draw(rng, codes, g1, g2), available


def _prepare(features, image_ids, **labels) -> tuple:
    """Image groups, and per image the codes and names of each label."""
    n = features.n_rows if hasattr(features, "n_rows") else len(features)
    image_ids = np.asarray(image_ids)
    if n != len(image_ids):
        raise ValueError(f"{n} feature rows but {len(image_ids)} image ids")
    ids, cell_codes = np.unique(image_ids, return_inverse=True)
    coded = {}
    for name, mapping in labels.items():
        values = (mapping if isinstance(mapping, pd.Series) else pd.Series(mapping)).reindex(ids)
        missing = values.isna().to_numpy()
        if missing.any():
            raise ValueError(
                f"{missing.sum()} of {len(ids)} images have no {name}, "
                f"e.g. {ids[missing][:3].tolist()}; exclude them first"
            )
        coded[name] = pd.factorize(values, sort=True)
    return _groups(cell_codes.ravel()), coded


def _distances(features, groups: ImageGroups, standardise: bool, pair_sets: list[np.ndarray]) -> list[np.ndarray]:
    """D of every pair of each set, holding only the cells of the images drawn.

    ``features`` is an array or a lazily read table (``features.reading.FeatureRows``) of all
    the cells given; z-scores use all of them (``features.matrix.Moments``), whichever are held.
    Pairs are drawn before any feature is read, so the same seed measures the same pairs."""
    order, starts, counts = groups
    drawn = np.zeros(len(counts), bool)
    for pairs in pair_sets:
        drawn[np.asarray(pairs, np.int64).ravel()] = True
    image_of_cell = np.empty(len(order), np.int64)
    image_of_cell[order] = np.repeat(np.arange(len(counts)), counts)
    held = np.flatnonzero(drawn[image_of_cell])
    if hasattr(features, "read"):
        rows = features.read(held)
    else:
        rows = np.asarray(features)[held]
    # the distance steps gather rows: C order
    x = np.ascontiguousarray(Moments.of(features).transform(rows) if standardise else np.asarray(rows, np.float32))
    local = ImageGroups(np.searchsorted(held, order), starts, counts)  # exact for the images drawn
    return [mean_image_distance(x, local, pairs) for pairs in pair_sets]


def _score(same_d: float, other_d: float) -> float:
    return same_d / other_d - 1 if np.isfinite(same_d) and np.isfinite(other_d) else np.nan


def pairwise_scores(
    features: np.ndarray,
    image_ids,
    image_terms: Mapping | pd.Series,
    draws: PairDraws | None = None,
) -> pd.DataFrame:
    """Fig 2B: per term, n_images, same_D, other_D and score = same_D / other_D - 1; then the
    rows "overall" (mean of the term scores) and "pooled" (see the module docstring).

    ``image_terms`` maps every image id in ``image_ids`` to its one term; ``draws`` (default
    1,000 pairs per side, seed 0, z-scored) says how pairs are drawn.
    """
    draws = draws or PairDraws()
    n_pairs = draws.n_pairs
    if n_pairs < 1:
        raise ValueError(f"n_pairs must be at least 1, got {n_pairs}")
    groups, coded = _prepare(features, image_ids, term=image_terms)
    codes, names = coded["term"]
    n_terms = len(names)
    sizes = np.bincount(codes, minlength=n_terms)
    t, u = np.meshgrid(np.arange(n_terms), np.arange(n_terms), indexing="ij")
    t, u = t.ravel(), u.ravel()
    keep = (t != u) | (sizes[t] >= 2)  # a term with one image has no same-term pair
    t, u = t[keep], u[keep]
    bucket = np.where(t == u, t, n_terms + t)  # same-term pairs of t, then other-term pairs of t
    rng = np.random.default_rng(draws.seed)
    pairs = _draw(rng, codes, np.repeat(t, n_pairs), np.repeat(u, n_pairs))
    (d,) = _distances(features, groups, draws.standardise, [pairs])
    bucket = np.repeat(bucket, n_pairs)
    total = np.bincount(bucket, weights=d, minlength=2 * n_terms)
    count = np.bincount(bucket, minlength=2 * n_terms)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    same_d, other_d = mean[:n_terms], mean[n_terms:]
    rows = pd.DataFrame(
        dict(
            term=list(names),
            n_images=sizes,
            same_D=same_d,
            other_D=other_d,
            score=[_score(s, o) for s, o in zip(same_d, other_d)],
        )
    )
    scored = rows["score"].notna().to_numpy()
    n_scored = int(sizes[scored].sum())
    pooled_same = same_d[scored].mean() if scored.any() else np.nan
    pooled_other = other_d[scored].mean() if scored.any() else np.nan
    summary = pd.DataFrame(
        dict(
            term=["overall", "pooled"],
            n_images=[n_scored, n_scored],
            same_D=[np.nan, pooled_same],
            other_D=[np.nan, pooled_other],
            score=[rows["score"][scored].mean() if scored.any() else np.nan, _score(pooled_same, pooled_other)],
        )
    )
    return pd.concat([rows, summary], ignore_index=True)


def cell_line_scores(
    features: np.ndarray,
    image_ids,
    image_cell_lines: Mapping | pd.Series,
    image_terms: Mapping | pd.Series | None = None,
    draws: PairDraws | None = None,
) -> pd.DataFrame:
    """Table 2 and a cell-line control: one row per comparison, with same_D, other_D, score =
    same_D / other_D - 1 and how many distinct ordered image pairs each side had to draw from.

    Rows: "cell_line" (same vs different cell line, any terms); with ``image_terms``, also
    "term_same_cell_line" and "term_different_cell_line" (same vs different term, both images
    from the same / from different cell lines) and "difference" (their scores' difference,
    different minus same). A side with no pair gets NaN. ``draws``: as for ``pairwise_scores``,
    by default ``CELL_LINE_PAIRS`` pairs per side.
    """
    draws = draws or PairDraws(n_pairs=CELL_LINE_PAIRS)
    if draws.n_pairs < 1:
        raise ValueError(f"n_pairs must be at least 1, got {draws.n_pairs}")
    labels = (
        dict(cell_line=image_cell_lines) if image_terms is None else dict(cell_line=image_cell_lines, term=image_terms)
    )
    groups, coded = _prepare(features, image_ids, **labels)
    lines = coded["cell_line"][0]
    terms = coded["term"][0] if image_terms is not None else None
    comparisons = [("cell_line", "same cell line", (None, True), "different cell line", (None, False))]
    if terms is not None:
        comparisons += [
            (
                "term_same_cell_line",
                "same term, same cell line",
                (True, True),
                "different term, same cell line",
                (False, True),
            ),
            (
                "term_different_cell_line",
                "same term, different cell line",
                (True, False),
                "different term, different cell line",
                (False, False),
            ),
        ]
    rng = np.random.default_rng(draws.seed)
    drawn = [_sample_pairs(rng, draws.n_pairs, terms, lines, *rule) for c in comparisons for rule in (c[2], c[4])]
    distances = iter(_distances(features, groups, draws.standardise, [pairs for pairs, _ in drawn]))
    rows = []
    for i, (comparison, same, _, other, _) in enumerate(comparisons):
        means, available = [], []
        for _pairs, n in drawn[2 * i : 2 * i + 2]:
            d = next(distances)
            means.append(d.mean() if n else np.nan)
            available.append(n)
        rows.append(
            dict(
                comparison=comparison,
                same=same,
                other=other,
                same_D=means[0],
                other_D=means[1],
                score=_score(*means),
                same_available=available[0],
                other_available=available[1],
            )
        )
    if terms is not None:
        rows.append(
            dict(
                comparison="difference",
                same="",
                other="",
                same_D=np.nan,
                other_D=np.nan,
                score=rows[2]["score"] - rows[1]["score"],
                same_available=None,
                other_available=None,
            )
        )
    return pd.DataFrame(rows).astype({"same_available": "Int64", "other_available": "Int64"})
