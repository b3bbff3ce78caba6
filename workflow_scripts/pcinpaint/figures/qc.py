"""Quality-control figures of the crop store: a crop montage and segmentation overlays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from skimage.segmentation import find_boundaries

from pcinpaint.figures.common import composite, plt


def crop_montage(crops: np.ndarray, cells: pd.DataFrame, roles: Sequence[str], title: str, columns: int = 8):
    """Crops (n, C, H, W) in [0, 1] in a grid, coloured by channel role, labelled by protein."""
    n = len(crops)
    rows = max(1, int(np.ceil(n / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.3, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, crop, (_, cell) in zip(axes.flat, crops, cells.iterrows()):
        ax.imshow(composite(crop, roles))
        label = str(cell["protein"])
        if "true_class" in cells.columns and pd.notna(cell["true_class"]):
            label += f"\n{cell['true_class']}"
        ax.set_title(label, fontsize=5, pad=1.5)
    fig.suptitle(title, fontsize=9)
    return fig


def normalise_field(field: np.ndarray, low: float = 1.0, high: float = 99.8) -> np.ndarray:
    """Per-channel percentile stretch of a raw field to [0, 1] for display."""
    lo = np.percentile(field, low, axis=(1, 2), keepdims=True)
    hi = np.percentile(field, high, axis=(1, 2), keepdims=True)
    return np.clip((field - lo) / np.maximum(hi - lo, 1e-6), 0, 1)


def segmentation_overlays(
    fields: list[tuple[str, np.ndarray, np.ndarray, pd.DataFrame]],
    roles: Sequence[str],
    notes: Sequence[str] | None = None,
):
    """Fields with object outlines: white for stored cells, red for dropped objects. A field
    with a note (per field; ``crops.qc.flag_note``: its quality flags) is framed in red under it."""
    n = len(fields)
    notes = list(notes) if notes is not None else [""] * n
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.4), squeeze=False)
    for ax, (name, field, labels, objects), note in zip(axes[0], fields, notes, strict=True):
        rgb = composite(normalise_field(field), roles)
        kept = objects.loc[objects["kept"], "object_id"].to_numpy()
        edges = find_boundaries(labels, mode="inner")
        keep_edges = edges & np.isin(labels, kept)
        rgb[keep_edges] = (1, 1, 1)
        rgb[edges & ~keep_edges] = (1, 0, 0)
        ax.imshow(rgb)
        title = f"{name}\n{len(kept)} cells kept, {len(objects) - len(kept)} dropped"
        ax.set_xticks([])
        ax.set_yticks([])
        if note:
            ax.set_title(f"{title}\n{note}", fontsize=7, color="red")
            for spine in ax.spines.values():
                spine.set(color="red", linewidth=3)
        else:
            ax.set_title(title, fontsize=7)
            for spine in ax.spines.values():
                spine.set_visible(False)
    return fig
