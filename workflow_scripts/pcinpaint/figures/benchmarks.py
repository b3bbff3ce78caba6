"""The paper's quantitative figures: Fig 2A/2B, Fig 3, Supp Fig 2 and 3.

Each takes the tables the benchmark rules write (or an embedding) and returns a figure; sets
that were not run are named on the figure rather than left out.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pcinpaint.features.manifest import VGG16_LAYERS, VGG16_STRATEGIES
from pcinpaint.figures.common import plt


def not_run_note(not_run: Mapping[str, str] | list[str], width: int = 110) -> str:
    """The note of sets a figure leaves out: one line per reason, naming together the sets that
    share it, so it says why without a line per VGG16 strategy."""
    if not isinstance(not_run, Mapping):
        not_run = dict.fromkeys(not_run, "")
    by_reason: dict[str, list[str]] = {}
    for name, reason in not_run.items():
        by_reason.setdefault(reason, []).append(name)
    lines = [", ".join(names) + (f" ({reason})" if reason else "") for reason, names in by_reason.items()]
    return "\n".join(["not run:"] + [textwrap.fill(line, width, subsequent_indent="    ") for line in lines])


def fig2a(per_class: pd.DataFrame, best: pd.DataFrame, not_run: Mapping[str, str], k: int = 11, title: str = ""):
    """Per-class kNN accuracy of the best set of each feature family (grouped bars, one colour
    per set); ``not_run`` (set -> why) is written under the plot. The figure widens with the
    bars (about 10 families x 18 classes stay legible) and keeps the legend outside."""
    data = per_class[(per_class["k"] == k) & per_class["feature_set"].isin(best["feature_set"])]
    labels = sorted(data["label"].unique())
    sets = list(best.sort_values("score")["feature_set"])
    n_bars = len(labels) * max(1, len(sets))
    fig, ax = plt.subplots(figsize=(min(max(6.0, 1.5 + 0.09 * n_bars), 28.0), 3.8))
    width = 0.8 / max(len(sets), 1)
    cmap = plt.get_cmap("tab20" if len(sets) > 10 else "tab10")
    scores = best.set_index("feature_set")["score"].astype(float)
    for i, name in enumerate(sets):
        acc = data[data["feature_set"] == name].set_index("label")["accuracy"].reindex(labels)
        ax.bar(
            np.arange(len(labels)) + i * width,
            acc.to_numpy(float),
            width,
            color=cmap(i % cmap.N),
            label=f"{name} ({scores[name]:.3f})",
        )
    for edge in np.arange(1, len(labels)) - 0.1 - width / 2:  # a faint line between classes
        ax.axvline(edge, color="0.9", lw=0.6, zorder=0)
    ax.set_xticks(np.arange(len(labels)) + 0.4 - width / 2, labels, rotation=45, ha="right", fontsize=7)
    ax.set_xlim(-0.1 - width / 2, len(labels) - 0.1 - width / 2)
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
    if not_run:  # as the axis label it sits under the class names, whatever their length
        ax.set_xlabel(not_run_note(not_run), fontsize=6, loc="left", multialignment="left")
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


#: the label of points whose own label a figure does not colour (grey)
OTHER = "other labels"


@dataclass(frozen=True)
class ScatterStyle:
    """How ``scatter_embedding`` draws: point ``size``; ``classes``, the colour order shared by
    panels whose label sets differ (every class of every panel, sorted; None: this panel's own,
    sorted). The figures draw one legend for all their panels."""

    size: float = 3
    classes: Sequence | None = None


def scatter_embedding(ax, xy: np.ndarray, labels: pd.Series, style: ScatterStyle | None = None) -> None:
    """Points coloured by label (unlabelled in grey underneath); colours follow the sorted
    classes, so panels of the same labels match; a panel draws only the classes it has."""
    style = style or ScatterStyle()
    size, classes = style.size, style.classes
    labels = pd.Series(labels).astype("object")
    missing = labels.isna().to_numpy()
    if missing.any():
        ax.scatter(xy[missing, 0], xy[missing, 1], s=size, c="0.85", lw=0, label="unlabelled")
    present = set(labels.dropna().unique())
    classes = sorted(present) if classes is None else list(classes)
    if OTHER in present:  # labels a figure does not colour, under the coloured ones
        m = (labels == OTHER).to_numpy()
        ax.scatter(xy[m, 0], xy[m, 1], s=size, c="0.6", lw=0, label=OTHER)
    classes = [c for c in classes if c != OTHER]
    cmap = plt.get_cmap("tab20" if len(classes) > 10 else "tab10")
    for i, c in enumerate(classes):
        m = (labels == c).to_numpy()
        if c in present:
            ax.scatter(xy[m, 0], xy[m, 1], s=size, color=cmap(i % cmap.N), lw=0, label=str(c))
    ax.set_xticks([])
    ax.set_yticks([])


def suppfig3(panels: list[tuple[str, np.ndarray | None]], labels: pd.Series, title: str = "", max_legend: int = 20):
    """Single-cell UMAPs side by side, one per feature family (title, embedding; ``None``: a
    panel whose title says why it was not run), all of the same cells, so ``labels`` and the
    legend to the right are shared."""
    if not panels:
        panels = [("none of benchmarks.umap_cells.families is a feature family of this dataset", None)]
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 4.0 * nrows + 0.4), squeeze=False)
    handles = None
    for ax, (name, xy) in zip(axes.flat, panels):
        if xy is None:  # the reason fills the panel's place
            ax.axis("off")
            ax.text(0.5, 0.5, textwrap.fill(name, 45), transform=ax.transAxes, ha="center", va="center", fontsize=8)
        else:
            scatter_embedding(ax, xy, labels, ScatterStyle(size=3))
            handles = handles or ax.get_legend_handles_labels()
            ax.set_title(textwrap.fill(name, 50), fontsize=8)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if handles and len(pd.Series(labels).dropna().unique()) <= max_legend:
        fig.legend(*handles, fontsize=6, markerscale=2, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def fig3(panels: list[tuple[str, np.ndarray, pd.Series]], max_legend: int = 20):
    """Protein-level UMAPs, one panel per dataset, side by side (``xy`` None: a panel whose
    title says why it was not run), with one legend to the right: a label has one colour in
    every panel, as the paper's shared legend, though each screen has its own annotation. Of
    more than ``max_legend`` labels the most common over every panel are coloured, the others
    grey as ``OTHER`` (the paper also shows a subset)."""
    drawn = [pd.Series(labels, dtype=object) for _, xy, labels in panels if xy is not None]
    counts = pd.concat(drawn).dropna().value_counts() if drawn else pd.Series(dtype=int)
    counts = counts.drop(OTHER, errors="ignore")
    shown = set(counts.index[: max_legend - 1] if len(counts) > max_legend else counts.index)
    classes = sorted(shown)
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.8), squeeze=False)
    handles = {}
    for ax, (title, xy, labels) in zip(axes[0], panels):
        if xy is None:
            ax.axis("off")
        else:
            labels = pd.Series(labels, dtype=object)
            labels = labels.where(labels.isna() | labels.isin(shown), OTHER)
            scatter_embedding(ax, xy, labels, ScatterStyle(size=12, classes=classes))
            handles |= {name: h for h, name in zip(*ax.get_legend_handles_labels()) if name not in handles}
        ax.set_title("\n".join(textwrap.fill(line, 60) for line in title.splitlines()), fontsize=9)
    if handles:
        order = [c for c in ("unlabelled", *map(str, classes), OTHER) if c in handles]
        fig.legend(
            [handles[c] for c in order],
            order,
            fontsize=7,
            markerscale=1.5,
            frameon=False,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
        )
    fig.tight_layout()
    return fig
