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
