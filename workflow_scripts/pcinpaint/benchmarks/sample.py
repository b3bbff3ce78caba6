"""The cells a benchmark uses: all of them, or a seeded subsample stratified by label.

The leave-one-out kNN is quadratic in the cells and the classifiers and the single-cell UMAP
grow faster than linearly, so a screen of a million cells is benchmarked on ``max_cells`` of
them, drawn with one seed per dataset so that the kNN and the classifiers see the same cells
(the UMAP, which also shows unlabelled cells, draws from all cells with the same seed). Each class
keeps its share of the cells (scikit-learn's stratified ``resample``; a class rarer than one in
``max_cells`` may get none); unlabelled cells, where they take part, are a class of their own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils import resample


def benchmark_cells(labels: pd.Series, max_cells: int | None, seed: int, labelled_only: bool = True) -> np.ndarray:
    """A boolean mask over the cells: those a benchmark uses (labelled ones only, by default)."""
    eligible = labels.notna().to_numpy() if labelled_only else np.ones(len(labels), bool)
    where = np.flatnonzero(eligible)
    if max_cells is None or len(where) <= max_cells:
        return eligible
    strata = labels.iloc[where].astype(object).where(labels.iloc[where].notna(), "\0unlabelled").astype(str)
    chosen = resample(where, replace=False, n_samples=int(max_cells), random_state=seed, stratify=strata.to_numpy())
    mask = np.zeros(len(labels), bool)
    mask[chosen] = True
    return mask


def sample_note(mask: np.ndarray, labels: pd.Series, labelled_only: bool = True) -> str:
    """How many cells a table rests on, for its ``cells`` column: "all 2,500" or "100,000 of 638,640"."""
    total = int(labels.notna().sum()) if labelled_only else len(labels)
    used = int(mask.sum())
    return f"all {total:,}" if used == total else f"{used:,} of {total:,}"


def benchmark_images(terms: pd.Series, cells_per_image: pd.Series, max_cells: int | None, seed: int) -> pd.Series:
    """The images the pairwise score draws its pairs from (``terms``: image_id -> term): all of
    them, or, when their cells exceed ``max_cells``, a seeded subsample of images stratified by
    term holding about ``max_cells`` cells. The score holds the cells of the images it draws, and
    a thousand pairs per pair of terms touch nearly every image of a screen, so this is what
    bounds its memory; pairs drawn uniformly from a uniform subsample of images measure the same
    expectation."""
    sizes = cells_per_image.reindex(terms.index).fillna(0)
    total = int(sizes.sum())
    if max_cells is None or total <= max_cells or terms.nunique() < 2:
        return terms
    n = min(len(terms), max(2 * terms.nunique(), round(len(terms) * max_cells / total)))
    chosen = resample(
        terms.index.to_numpy(), replace=False, n_samples=n, random_state=seed, stratify=terms.astype(str).to_numpy()
    )
    return terms[terms.index.isin(chosen)]


def drop_rare_classes(labels: np.ndarray, min_members: int, groups: np.ndarray | None = None) -> np.ndarray:
    """Mask of cells whose class has at least ``min_members`` members (distinct groups if given).

    A metric that scores each class needs members to score it with: leave-one-out kNN at least
    2 cells (the only cell of a class has no class-mate to find, so its recall is 0 by
    construction), cross-validation one cell (or group) per fold.
    """
    classes, codes = np.unique(labels, return_inverse=True)
    if groups is None:
        members = np.bincount(codes, minlength=len(classes))
    else:
        _, group_codes = np.unique(groups, return_inverse=True)
        pairs = np.unique(np.stack([codes, group_codes.ravel()]), axis=1)
        members = np.bincount(pairs[0], minlength=len(classes))
    return members[codes] >= min_members


def skipped_note(labels: np.ndarray, keep: np.ndarray, rule: str) -> str:
    """The classes a metric left out, for a table's ``note``: "2 classes with fewer than 2 cells
    not scored (2 cells): a, b", or "" when none was."""
    labels = np.asarray(labels)
    skipped = np.unique(labels[~keep])
    if not len(skipped):
        return ""
    shown = ", ".join(map(str, skipped[:10])) + (f", ... ({len(skipped) - 10} more)" if len(skipped) > 10 else "")
    classes = "class" if len(skipped) == 1 else "classes"
    n_cells = int((~keep).sum())
    cells = "cell" if n_cells == 1 else "cells"
    return f"{len(skipped)} {classes} with fewer than {rule} not scored ({n_cells:,} {cells}): {shown}"
