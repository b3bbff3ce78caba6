"""Colour composites and saving, shared by every figure family."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pcinpaint.io import atomic_path

#: RGB colour of each structural channel, in order (the paper: nucleus blue, microtubules red)
STRUCTURAL_COLOURS = {
    1: [(1.0, 0.0, 0.2)],
    2: [(0.0, 0.35, 1.0), (1.0, 0.0, 0.2)],
    3: [(0.0, 0.35, 1.0), (1.0, 0.0, 0.2), (1.0, 1.0, 0.0)],
}
PROTEIN_COLOUR = (0.1, 1.0, 0.1)


def channel_colours(roles: Sequence[str]) -> list[tuple[float, float, float]]:
    """The paper's convention: the protein in green, structural markers in blue then red."""
    n_struct = sum(r == "structural" for r in roles)
    structural = iter(STRUCTURAL_COLOURS.get(n_struct, [(0.6, 0.6, 0.6)] * n_struct))
    return [PROTEIN_COLOUR if r == "protein" else next(structural) for r in roles]


def composite(image: np.ndarray, roles: Sequence[str], gain: float = 1.0) -> np.ndarray:
    """(C, H, W) intensities in [0, 1] -> (H, W, 3) additive colour image."""
    colours = np.asarray(channel_colours(roles), np.float32)
    rgb = np.tensordot(np.asarray(image, np.float32), colours, axes=([0], [0]))
    return np.clip(rgb * gain, 0, 1)


@dataclass(frozen=True)
class FigureOutput:
    """Where a figure is written (``png``, and ``pdf`` beside it where given) and the title it
    carries: one object, so a figure function's parameters say what is drawn."""

    png: str | Path | None = None
    pdf: str | Path | None = None
    title: str = ""

    def paths(self) -> list[str | Path]:
        """The files given, PNG first."""
        return [p for p in (self.png, self.pdf) if p is not None]


def save_figure(fig, *paths: str | Path, dpi: int = 120) -> None:
    """Save to each path atomically (format from the suffix: .png, .pdf, ...), then close."""
    try:
        for path in paths:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


def not_run_figure(reason: str, title: str = ""):
    """A small panel that says a figure was not run, and why (in place of the figure)."""
    import textwrap

    fig, ax = plt.subplots(figsize=(6, 2.5))
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    ax.text(0.5, 0.5, "not run:\n" + textwrap.fill(reason, 70), ha="center", va="center", fontsize=9, wrap=True)
    return fig
