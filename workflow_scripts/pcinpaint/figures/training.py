"""Training curves."""

from __future__ import annotations

import pandas as pd

from pcinpaint.figures.common import plt


def loss_curve(history: pd.DataFrame, title: str, predicted: str = "target protein"):
    """Mean pixel-wise MSE per epoch (the pretext loss) and training speed."""
    epochs, loss = history["epoch"], history["loss"]  # a missing column fails before a figure is open
    speed = history["pairs_per_s"].median() if len(history) else float("nan")
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(epochs, loss, marker="o", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"mean squared error ({predicted})")
    ax.set_title(title, fontsize=9)
    ax.text(0.98, 0.95, f"median {speed:.0f} cells/s", transform=ax.transAxes, ha="right", va="top", fontsize=7)
    ax.grid(alpha=0.3)
    return fig
