"""Inpainting figures: the pretext task's predictions (Fig 1C, Supp Fig 1).

Fig 1C shows one pair from the same image. Supp Fig 1 pairs source cells of different
localizations with target cells from *other* images: if the model transfers the source's
pattern onto each target's structure (rather than recalling the target's own protein), the
prediction follows the row, not the column.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from pcinpaint.figures.common import composite, plt


@torch.no_grad()
def predict(model, sources: np.ndarray, targets: np.ndarray, structural: Sequence[int]) -> np.ndarray:
    """Predicted protein channel(s) for each (source crop, target crop) pair, clipped to [0, 1]."""
    model = model.eval().cpu().float()
    src = torch.from_numpy(np.asarray(sources, np.float32))
    markers = torch.from_numpy(np.asarray(targets, np.float32)[:, list(structural)])
    return model(src, markers).clamp(0, 1).numpy()


def _with_protein(target: np.ndarray, protein_image: np.ndarray, protein: Sequence[int]) -> np.ndarray:
    out = target.copy()
    out[list(protein)] = protein_image
    return out


def _markers_only(target: np.ndarray, protein: Sequence[int]) -> np.ndarray:
    out = target.copy()
    out[list(protein)] = 0
    return out


def fig1c(model, source: np.ndarray, target: np.ndarray, roles: Sequence[str], title: str):
    """Source cell, target cell's markers, predicted and actual target protein."""
    structural = [i for i, r in enumerate(roles) if r == "structural"]
    protein = [i for i, r in enumerate(roles) if r == "protein"]
    predicted = predict(model, source[None], target[None], structural)[0]
    panels = [
        ("source cell (all channels)", composite(source, roles)),
        ("target cell: structural markers", composite(_markers_only(target, protein), roles)),
        ("predicted target protein", composite(_with_protein(target, predicted, protein), roles)),
        ("actual target protein", composite(target, roles)),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.9))
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(img)
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return fig


def suppfig1(
    model,
    sources: list[tuple[str, np.ndarray]],
    targets: list[tuple[str, np.ndarray]],
    roles: Sequence[str],
    title: str,
):
    """Rows: source cells (labelled); columns: target cells from other images. Top row: actual targets."""
    structural = [i for i, r in enumerate(roles) if r == "structural"]
    protein = [i for i, r in enumerate(roles) if r == "protein"]
    rows, cols = len(sources) + 1, len(targets) + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].text(0.5, 0.5, "source \u2192\ntarget \u2193", ha="center", va="center", fontsize=8)
    for j, (label, target) in enumerate(targets, start=1):
        axes[0, j].imshow(composite(target, roles))
        axes[0, j].set_title(f"target, actual\n({label})", fontsize=7)
    for i, (label, source) in enumerate(sources, start=1):
        axes[i, 0].imshow(composite(source, roles))
        axes[i, 0].set_title(f"source: {label}", fontsize=7)
        predicted = predict(
            model, np.repeat(source[None], len(targets), 0), np.stack([t for _, t in targets]), structural
        )
        for j, (_, target) in enumerate(targets, start=1):
            axes[i, j].imshow(composite(_with_protein(target, predicted[j - 1], protein), roles))
    fig.suptitle(title, fontsize=9)
    return fig


def pick_pair(cells: pd.DataFrame, label_column: str, rng: np.random.Generator, prefer: Sequence[str] = ()):
    """A (source, target) pair of store indices from one image, preferring a given label."""
    counts = cells.groupby("image_id").size()
    pool = cells[cells["image_id"].isin(counts[counts >= 2].index)]
    if pool.empty:
        raise ValueError("fig1c needs an image with two or more cells")
    for label in prefer:
        if label_column in pool.columns and (pool[label_column] == label).any():
            pool = pool[pool[label_column] == label]
            break
    source = pool.iloc[rng.integers(len(pool))]
    others = cells[(cells["image_id"] == source["image_id"]) & (cells["store_index"] != source["store_index"])]
    target = others.iloc[rng.integers(len(others))]
    return int(source["store_index"]), int(target["store_index"])


def pick_sources_and_targets(
    cells: pd.DataFrame, label_column: str, classes: Sequence[str], rng: np.random.Generator, n_targets: int = 4
):
    """One source per class (single labels); targets from images no source comes from.

    Targets are of distinct labels where possible. On a screen too small to leave images
    free, fewer sources are shown rather than pairing a source with its own image.
    """
    column = label_column if label_column in cells.columns else "protein"  # unlabelled screens: proteins
    labels = cells[column].astype(str).where(cells[column].notna(), "nan")
    single = labels[~labels.str.contains("+", regex=False) & (labels != "nan")]
    classes = [c for c in classes if (single == c).any()] or list(single.value_counts().index[:4])
    sources = []
    for c in classes[:4]:
        rows = cells.loc[single[single == c].index]
        pick = rows.iloc[rng.integers(len(rows))]
        sources.append((c, int(pick["store_index"]), pick["image_id"]))
    while sources:
        used = {img for _, _, img in sources}
        rest = cells.loc[single.index][~cells.loc[single.index, "image_id"].isin(used)]
        if len(rest):
            break
        sources.pop()
    if not sources:
        raise ValueError("suppfig1 needs cells from at least two images")
    rest = rest.loc[rng.permutation(rest.index)]
    rest = rest.assign(_label=labels[rest.index]).drop_duplicates("_label")
    targets = [(str(row["_label"]), int(row["store_index"])) for _, row in rest.head(n_targets).iterrows()]
    return [(c, idx) for c, idx, _ in sources], targets
