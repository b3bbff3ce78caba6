"""The paper's quantitative figures: Fig 2A/2B, Fig 3, Supp Fig 2 and 3.

Each takes the tables the benchmark rules write (or an embedding) and returns a figure; sets
that were not run are named on the figure rather than left out.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd

from pcinpaint.features.manifest import VGG16_LAYERS, VGG16_STRATEGIES
from pcinpaint.figures.common import plt


def _not_run_note(ax, names: list[str]) -> None:
    if names:
        ax.text(0.01, -0.22, "not run: " + ", ".join(names), transform=ax.transAxes, fontsize=6, va="top")


def fig2a(per_class: pd.DataFrame, best: pd.DataFrame, not_run: list[str], k: int = 11, title: str = ""):
    """Per-class kNN accuracy of the best layer of each feature family (grouped bars)."""
    data = per_class[(per_class["k"] == k) & per_class["feature_set"].isin(best["feature_set"])]
    labels = sorted(data["label"].unique())
    sets = list(best.sort_values("score")["feature_set"])
    fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(labels) * max(1, len(sets)) / 3), 3.6))
    width = 0.8 / max(len(sets), 1)
    for i, name in enumerate(sets):
        acc = data[data["feature_set"] == name].set_index("label")["accuracy"].reindex(labels)
        score = float(best.set_index("feature_set").loc[name, "score"])
        ax.bar(np.arange(len(labels)) + i * width, acc.to_numpy(float), width, label=f"{name} ({score:.3f})")
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"{k}-NN accuracy (recall)")
    ax.set_ylim(0, 1)
    ax.legend(
        fontsize=6,
        title="feature set (balanced accuracy)",
        title_fontsize=6,
        loc="upper left",
        bbox_to_anchor=(1.01, 1),
    )
    ax.set_title(title, fontsize=9)
    _not_run_note(ax, not_run)
    return fig


def suppfig2(supptable1: pd.DataFrame, k: int = 11, title: str = ""):
    """kNN balanced accuracy of every VGG16 layer for each input strategy."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    missing = []
    for strategy in VGG16_STRATEGIES:
        rows = supptable1[(supptable1["family"] == f"vgg16_{strategy}") & (supptable1["status"] == "ran")]
        if rows.empty:
            missing.append(f"vgg16_{strategy}")
            continue
        acc = rows.set_index("layer")[f"k{k}"].astype(float).reindex(list(VGG16_LAYERS))
        ax.plot(range(len(VGG16_LAYERS)), acc.to_numpy(), marker="o", ms=3, label=strategy)
    ax.set_xticks(range(len(VGG16_LAYERS)), VGG16_LAYERS, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel(f"{k}-NN balanced accuracy")
    ax.set_title(title, fontsize=9)
    if len(missing) == len(VGG16_STRATEGIES):
        reason = supptable1.loc[supptable1["family"] == "vgg16_protein", "status"]
        ax.text(
            0.5,
            0.5,
            "VGG16 not run (no baselines.vgg16_weights)" if len(reason) else "VGG16 not configured",
            transform=ax.transAxes,
            ha="center",
            va="center",
        )
    else:
        ax.legend(fontsize=7, title="input strategy", title_fontsize=7)
    ax.grid(alpha=0.3)
    return fig


def fig2b(scores: pd.DataFrame, title: str = ""):
    """Pairwise-distance score per localization term and overall, per feature set."""
    data = scores[~scores["term"].isin(["pooled"])]
    terms = [t for t in data["term"].unique() if t != "overall"] + ["overall"]
    sets = list(dict.fromkeys(data["feature_set"]))
    fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(terms) * max(1, len(sets)) / 2), 3.6))
    width = 0.8 / max(len(sets), 1)
    for i, name in enumerate(sets):
        s = data[data["feature_set"] == name].set_index("term")["score"].reindex(terms).astype(float)
        ax.bar(np.arange(len(terms)) + i * width, s.to_numpy(), width, label=name)
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(np.arange(len(terms)) + 0.4 - width / 2, terms, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("same-term / other-term distance - 1")
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title, fontsize=9)
    return fig


def scatter_embedding(ax, xy: np.ndarray, labels: pd.Series, size: float = 3, max_legend: int = 20) -> None:
    """Points coloured by label (unlabelled in grey underneath)."""
    labels = pd.Series(labels).astype("object")
    missing = labels.isna().to_numpy()
    if missing.any():
        ax.scatter(xy[missing, 0], xy[missing, 1], s=size, c="0.85", lw=0, label="unlabelled")
    classes = sorted(labels.dropna().unique())
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for i, c in enumerate(classes):
        m = (labels == c).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=size, color=cmap(i % cmap.N), lw=0, label=str(c))
    if len(classes) <= max_legend:
        ax.legend(fontsize=5, markerscale=2, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])


def suppfig3(xy: np.ndarray, labels: pd.Series, title: str = ""):
    """UMAP of single cells coloured by label."""
    fig, ax = plt.subplots(figsize=(5.5, 5))
    scatter_embedding(ax, xy, labels, size=3)
    ax.set_title(title, fontsize=9)
    return fig


def fig3(panels: list[tuple[str, np.ndarray, pd.Series]]):
    """Protein-level UMAPs, one panel per dataset, side by side (``xy`` None: a panel whose
    title says why it was not run)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.8), squeeze=False)
    for ax, (title, xy, labels) in zip(axes[0], panels):
        if xy is None:
            ax.axis("off")
        else:
            scatter_embedding(ax, xy, labels, size=12)
        ax.set_title(textwrap.fill(title, 60), fontsize=9)
    return fig
