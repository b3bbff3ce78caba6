"""Figures of the single-cell analyses: Fig 5 (multi-localization scores) and Fig 6
(dendrograms of a spatially variable protein's cells with representative crops).

Both write a PNG and a PDF atomically and return the two paths; ``fig5_per_pair`` and
``fig6_per_protein`` draw one of each per configured pair or protein into the rule's folder,
file names made safe (``io.safe_name``) with the ``names.tsv`` that maps them back. Where the
dataset is a feature table (no images, no crop store), Fig 6 is drawn without its crops and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.patches import ConnectionPatch
from scipy.cluster import hierarchy

from pcinpaint.exploratory import clustering, dendrograms, multiloc
from pcinpaint.exploratory.multiloc import image_summary, top_variable
from pcinpaint.features.matrix import Moments
from pcinpaint.figures.clustering import NO_CROPS
from pcinpaint.figures.common import PROTEIN_COLOUR, FigureOutput, plt, save_figure
from pcinpaint.io import named_path, write_names

#: most cells in one fig6 dendrogram: more leaves are unreadable, so cells are subsampled (seeded)
MAX_DENDROGRAM_CELLS = 400

#: structural channel colours in order (nucleus blue, then microtubules magenta), dimmer than
#: the protein so its pattern stays readable where they overlap
STRUCTURAL_RGB = [(0.1, 0.25, 0.8), (0.6, 0.0, 0.6), (0.6, 0.35, 0.0)]


def _score_groups(scores: pd.DataFrame) -> list[str]:
    """A-only, B-only, A+B group names, in that order, from the score table's pair."""
    pairs = scores["pair"].unique()
    if len(pairs) != 1:
        raise ValueError(f"fig5 draws one compartment pair, got {len(pairs)}: {', '.join(map(str, pairs))}")
    pair = str(pairs[0])
    a, b = pair.split("+", 1)  # terms never hold '+': it joins them
    return [a, b, pair]


def _violin(ax, values: list[np.ndarray], positions: Sequence[float], colours: Sequence) -> None:
    """Violins with the paper's marks: a black box for the IQR, a white dot at the median."""
    present = [(v, p, c) for v, p, c in zip(values, positions, colours) if len(v) > 1]
    if present:
        parts = ax.violinplot(
            [v for v, _, _ in present], positions=[p for _, p, _ in present], widths=0.8, showextrema=False
        )
        for body, (_, _, colour) in zip(parts["bodies"], present):
            body.set_facecolor(colour)
            body.set_edgecolor("0.3")
            body.set_alpha(0.75)
    for v, p in zip(values, positions):
        if len(v) == 0:
            ax.text(p, 0, "no cells", ha="center", va="center", fontsize=6, rotation=90)
            continue
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        ax.vlines(p, q1, q3, color="k", lw=5)
        ax.scatter([p], [med], s=10, color="white", zorder=3)


def fig5(
    scores: pd.DataFrame,
    chosen_images: Sequence[str] | None,
    output: FigureOutput,
    max_images: int = 4,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Violin plots of the score of A-only, B-only and A+B cells, then the single cells of a
    few A+B images as jittered black dots beside them (the paper's Fig 5).

    ``scores`` is one pair's ``exploratory.multiloc.pair_scores`` table; ``chosen_images`` are image_ids
    of its A+B group (None: the ``max_images`` images with the largest score SD). Written to
    ``output``'s PNG and PDF, both needed.
    """
    if scores.empty:
        raise ValueError("fig5: the score table is empty")
    groups = _score_groups(scores)
    pair = groups[2]
    if chosen_images is None:
        chosen = list(top_variable(image_summary(scores), max_images)["image_id"])
    else:
        chosen = list(dict.fromkeys(map(str, chosen_images)))
        in_pair = set(scores.loc[scores["group"] == pair, "image_id"].astype(str))
        missing = [c for c in chosen if c not in in_pair]
        if missing:
            raise ValueError(f"fig5: chosen image(s) {', '.join(missing)} have no cells in group '{pair}'")
    values = [scores.loc[scores["group"] == g, "score"].to_numpy(float) for g in groups]
    fig, ax = plt.subplots(figsize=(2.6 + 0.75 * (3 + len(chosen)), 3.6))
    cmap = plt.get_cmap("tab10")
    _violin(ax, values, [0, 1, 2], [cmap(0), cmap(1), cmap(2)])
    rng = np.random.default_rng(seed)
    labels = [f"{g} only\n(n={len(v)})" for g, v in zip(groups[:2], values[:2])] + [f"{pair}\n(n={len(values[2])})"]
    if chosen:
        ax.axvline(2.75, color="0.6", lw=0.6, ls=":")
    for i, image in enumerate(chosen):
        rows = scores[(scores["image_id"].astype(str) == image) & (scores["group"] == pair)]
        x = 3.5 + i + rng.uniform(-0.18, 0.18, len(rows))
        ax.scatter(x, rows["score"], s=6, color="k", lw=0)
        name = str(rows["protein"].iloc[0]) if "protein" in rows.columns else image
        if "cell_line" in rows.columns and pd.notna(rows["cell_line"].iloc[0]):
            name += f"\n{rows['cell_line'].iloc[0]}"
        labels.append(f"{name}\n(n={len(rows)})")
    positions = [0, 1, 2] + [3.5 + i for i in range(len(chosen))]
    ax.set_xticks(positions, labels, fontsize=6)
    ax.axhline(0, color="0.4", lw=0.6)
    ax.set_ylabel(f"log( d({groups[0]}) / d({groups[1]}) )", fontsize=8)
    ax.text(0.005, 0.99, f"closer to {groups[1]} \u2191", transform=ax.transAxes, fontsize=6, va="top")
    ax.text(0.005, 0.01, f"closer to {groups[0]} \u2193", transform=ax.transAxes, fontsize=6, va="bottom")
    ax.set_xlim(-0.6, positions[-1] + 0.6)
    ax.set_title(output.title, fontsize=9)
    save_figure(fig, output.png, output.pdf)
    return Path(output.png), Path(output.pdf)


@dataclass(frozen=True)
class CropChannels:
    """How a crop's channels are coloured: each channel's role, "protein" (green) or
    "structural" (blue, then magenta), or, where ``colours`` is given, an RGB triple per channel."""

    roles: Sequence[str]
    colours: Sequence | None = None


def _colours(roles: Sequence[str], colours: Sequence | None) -> np.ndarray:
    if colours is not None:
        if len(colours) != len(roles):
            raise ValueError(f"fig6: {len(colours)} channel colours for {len(roles)} channels")
        return np.asarray(colours, np.float32)
    structural = iter(STRUCTURAL_RGB)
    out = []
    for r in roles:
        if r == "protein":
            out.append(PROTEIN_COLOUR)
        else:
            out.append(next(structural, (0.6, 0.6, 0.6)))
    return np.asarray(out, np.float32)


def _rgb(crop: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(C, H, W) crop (uint8, or floats in [0, 1]) -> additive (H, W, 3) colour image."""
    image = crop.astype(np.float32) / 255.0 if crop.dtype == np.uint8 else np.asarray(crop, np.float32)
    return np.clip(np.tensordot(image, colours, axes=([0], [0])), 0, 1)


def fig6(
    linkage: np.ndarray,
    crops: np.ndarray | None,
    representatives: pd.DataFrame,
    channels: CropChannels | None,
    output: FigureOutput,
    truth=None,
) -> tuple[Path, Path]:
    """Dendrogram of one protein's single cells, the crop of each branch's representative cell
    under its branch, and (optionally) a colour bar of known sub-populations under the leaves.

    ``crops`` are the protein's cells (n, C, H, W) in the order the tree was built on, uint8
    as stored (or floats in [0, 1]); ``representatives`` is ``exploratory.dendrograms.representative_cells``;
    ``channels`` says how each channel is coloured. Written to ``output``'s PNG and PDF.
    With ``crops`` None (a dataset that is a feature table) each branch gets its panel and
    caption without an image, ``channels`` is not needed, and the title says ``NO_CROPS``.
    """
    linkage = np.asarray(linkage)
    n = len(linkage) + 1
    if crops is not None:
        crops = np.asarray(crops)
        _check_fig6(n, crops, representatives, channels.roles)
        rgb = _colours(channels.roles, channels.colours)
    else:
        _check_representatives(n, representatives)
    k = len(representatives)
    has_truth = truth is not None
    if has_truth:
        truth = pd.Series(np.asarray(truth)).reset_index(drop=True)
        if len(truth) != n:
            raise ValueError(f"fig6: truth has {len(truth)} values for {n} cells")

    fig = plt.figure(figsize=(max(6.0, 1.5 * k + 1), 5.4 if has_truth else 5.0))
    heights = [3.0, 0.18, 1.4] if has_truth else [3.0, 1.4]
    grid = fig.add_gridspec(len(heights), k, height_ratios=heights, hspace=0.08 if has_truth else 0.15)
    tree_ax = fig.add_subplot(grid[0, :])
    cut = (linkage[-k, 2] + linkage[-k + 1, 2]) / 2 if 1 < k < n else 0
    with plt.rc_context({"lines.linewidth": 0.6}):
        dend = hierarchy.dendrogram(
            linkage, ax=tree_ax, no_labels=True, color_threshold=cut, above_threshold_color="0.5"
        )
    tree_ax.set_ylabel("Ward distance", fontsize=7)
    tree_ax.tick_params(labelsize=6)
    tree_ax.spines[["top", "right", "bottom"]].set_visible(False)
    tree_ax.set_title(output.title if crops is not None else f"{output.title}\n{NO_CROPS}", fontsize=9)
    xlim = (0, 10 * n)
    tree_ax.set_xlim(*xlim)
    if has_truth:
        _truth_bar(fig.add_subplot(grid[1, :]), truth.iloc[dend["leaves"]].astype(str).to_numpy(), xlim)
    for j, (_, row) in enumerate(representatives.reset_index(drop=True).iterrows()):
        ax = fig.add_subplot(grid[-1, j])
        if crops is not None:
            ax.imshow(_rgb(crops[int(row["cell"])], rgb))
        else:
            ax.text(0.5, 0.5, "no image", ha="center", va="center", fontsize=6, color="0.5", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        share = f", {100 * row['fraction']:.0f}%" if "fraction" in row else ""
        ax.set_xlabel(f"branch {int(row['branch'])}\n{int(row['n_cells'])} cells{share}", fontsize=6)
        if {"leaf_start", "leaf_stop"} <= set(row.index):
            _link_branch(fig, tree_ax, ax, row, shade=j % 2 == 0)
    save_figure(fig, output.png, output.pdf)
    return Path(output.png), Path(output.pdf)


def _check_fig6(n: int, crops: np.ndarray, representatives: pd.DataFrame, roles: Sequence[str]) -> None:
    """One crop per leaf of the tree, one role per channel, representatives among the leaves."""
    if crops.ndim != 4 or len(crops) != n:
        raise ValueError(f"fig6: need {n} crops (n, C, H, W) for a tree of {n} cells, got shape {crops.shape}")
    if crops.shape[1] != len(roles):
        raise ValueError(f"fig6: crops have {crops.shape[1]} channels but {len(roles)} roles were given")
    _check_representatives(n, representatives)


def _check_representatives(n: int, representatives: pd.DataFrame) -> None:
    """Representatives among the tree's ``n`` leaves, at least one."""
    if representatives.empty:
        raise ValueError("fig6: no representative cells")
    bad = representatives.loc[~representatives["cell"].between(0, n - 1), "cell"]
    if len(bad):
        raise ValueError(f"fig6: representative cell {int(bad.iloc[0])} outside 0..{n - 1}")


def _truth_bar(bar_ax, ordered: np.ndarray, xlim: tuple[float, float]) -> None:
    """The known sub-population of each leaf (in leaf order) as a colour bar, with its legend."""
    classes = sorted(set(ordered))
    cmap = plt.get_cmap("Set2" if len(classes) <= 8 else "tab20")
    codes = np.array([classes.index(v) for v in ordered])
    bar_ax.imshow(
        codes[None, :],
        aspect="auto",
        cmap=cmap,
        vmin=0,
        vmax=cmap.N - 1,
        extent=(xlim[0], xlim[1], 0, 1),
        interpolation="nearest",
    )
    bar_ax.set_xlim(*xlim)
    bar_ax.set_xticks([])
    bar_ax.set_yticks([0.5], ["truth"], fontsize=6)
    handles = [plt.Rectangle((0, 0), 1, 1, color=cmap(i)) for i in range(len(classes))]
    bar_ax.legend(handles, classes, fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def _link_branch(fig, tree_ax, ax, row: pd.Series, shade: bool) -> None:
    """A dashed line from a branch's centre under the tree to its crop; every other branch
    shaded, so one can see where a branch ends and the next begins."""
    centre = 5 + 10 * (row["leaf_start"] + row["leaf_stop"] - 1) / 2
    if shade:
        tree_ax.axvspan(10 * row["leaf_start"], 10 * row["leaf_stop"], color="0.93", zorder=0, lw=0)
    link = ConnectionPatch(
        xyA=(centre, 0),
        coordsA=tree_ax.transData,
        xyB=(0.5, 1.0),
        coordsB=ax.transAxes,
        color="0.4",
        lw=0.6,
        ls="--",
    )
    fig.add_artist(link)


@dataclass(frozen=True)
class FigureFolder:
    """Where ``fig5_per_pair`` and ``fig6_per_protein`` write their figures, the feature set
    their titles name, and the log that says what was drawn or skipped (None: silent)."""

    path: str | Path
    feature_set: str = ""
    log: object = None


@dataclass(frozen=True)
class Fig6Settings:
    """How each protein's Fig 6 is drawn: the channels' ``roles`` (unused without crops), the
    ``n_branches`` whose representative cells are shown, and ``rng``, which subsamples proteins of
    more than ``MAX_DENDROGRAM_CELLS`` cells (one generator across proteins, so draws follow their order)."""

    roles: Sequence[str]
    n_branches: int
    rng: np.random.Generator


def fig5_per_pair(
    features,
    meta: pd.DataFrame,
    images: pd.Series,
    pairs,
    out: FigureFolder,
    seed: int = 0,
) -> pd.DataFrame:
    """Fig 5 of each compartment pair [A, B] into ``out.path`` as ``<A>_vs_<B>.png/.pdf`` (names
    made safe; ``names.tsv`` maps each pair to its file); the scores of every pair drawn. A pair
    that cannot be scored (no cells of A or B alone) is skipped with a warning in ``out.log``."""
    folder, feature_set, log = Path(out.path), out.feature_set, out.log
    folder.mkdir(parents=True, exist_ok=True)
    scores, files = [], {}
    for a, b in pairs:
        try:
            pair = multiloc.pair_scores(features, meta, images, a, b)
        except ValueError as exc:
            if log:
                log.warning("pair %s / %s skipped: %s", a, b, exc)
            continue
        stem = f"{a}_vs_{b}".replace(" ", "-")
        png, pdf = named_path(folder, stem, ".png"), named_path(folder, stem, ".pdf")
        fig5(pair, None, FigureOutput(png, pdf, f"{feature_set}: {a} vs {b}"), seed=seed)
        files[pair["pair"].iloc[0]] = png.stem
        scores.append(pair)
        if log:
            log.info("%s vs %s: %s cells per group", a, b, pair["group"].value_counts().to_dict())
    write_names(folder, files, column="pair")
    return pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=["pair", "group", "score"])


def fig6_per_protein(
    proteins,
    meta: pd.DataFrame,
    features,
    crops_of,
    settings: Fig6Settings,
    out: FigureFolder,
) -> pd.DataFrame:
    """Fig 6 of each protein into ``out.path`` as ``<protein>.png/.pdf`` (names made safe;
    ``names.tsv`` maps each protein to its file); one row per protein drawn (cells, branches,
    two-branch agreement with ``meta``'s ``subpopulation`` where it has one).

    ``features`` (an array, or a ``features.reading.FeatureFile``) are z-scored over the whole
    screen, so that within one protein flat features do not weigh as much as telling ones; only
    the chosen proteins' cells are read, at most ``MAX_DENDROGRAM_CELLS`` each, and their crops
    from ``crops_of(store_indices)``; with ``crops_of`` None (a dataset that is a feature table)
    the figures are drawn without crops and the table is the same. A protein with fewer cells
    than ``settings.n_branches`` is skipped with a warning in ``out.log``.
    """
    folder, feature_set, log = Path(out.path), out.feature_set, out.log
    n_branches, rng = settings.n_branches, settings.rng
    folder.mkdir(parents=True, exist_ok=True)
    stats = Moments.of(features)
    names = meta["protein"].astype(str).to_numpy()
    rows, files = [], {}
    for protein in proteins:
        mine = np.flatnonzero(names == str(protein))
        if len(mine) < n_branches:
            if log:
                log.warning("%s: %d cells, fewer than n_branches=%d; skipped", protein, len(mine), n_branches)
            continue
        if len(mine) > MAX_DENDROGRAM_CELLS:
            mine = np.sort(rng.choice(mine, MAX_DENDROGRAM_CELLS, replace=False))
        x = features.read(mine) if hasattr(features, "read") else np.asarray(features)[mine]
        z = stats.transform(x)
        tree = dendrograms.single_cell_tree(z)
        reps = dendrograms.representative_cells(tree, z, n_branches)
        sub = meta["subpopulation"].to_numpy()[mine] if "subpopulation" in meta.columns else None
        png, pdf = named_path(folder, protein, ".png"), named_path(folder, protein, ".pdf")
        title = f"{protein} ({len(mine)} cells, {feature_set})"
        crops = crops_of(meta["store_index"].to_numpy()[mine]) if crops_of is not None else None
        fig6(tree, crops, reps, CropChannels(settings.roles), FigureOutput(png, pdf, title), truth=sub)
        files[str(protein)] = png.stem
        ari = dendrograms.branch_purity(clustering.cut(tree, n_clusters=2), sub) if sub is not None else np.nan
        rows.append(dict(protein=protein, n_cells=len(mine), n_branches=n_branches, ari_two_branches=ari))
        if log:
            log.info("%s: %d cells; two-branch agreement with sub-populations (ARI) %s", protein, len(mine), ari)
    write_names(folder, files, column="protein")
    return pd.DataFrame(rows, columns=["protein", "n_cells", "n_branches", "ari_two_branches"])
