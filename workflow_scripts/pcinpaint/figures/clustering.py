"""Protein clustering figures: the clustered heat map (Fig 4, Supp Figs 4-5) and example crops per cluster.

The heat map follows the paper: proteins as rows in dendrogram order, features as columns,
positive values yellow and negative blue (through black), clipped at 3 SD. The row dendrogram
is drawn from ``exploratory.clustering.dendrogram_coords`` as one LineCollection, never with scipy's
recursive ``dendrogram``, so trees of any depth draw (12,000 proteins in about a second).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, ListedColormap
from matplotlib.patches import Patch

from pcinpaint.crops.store import CropStore, open_crop_store, read_crops
from pcinpaint.exploratory.clustering import dendrogram_coords
from pcinpaint.figures.common import FigureOutput, composite, plt, save_figure

#: blue for negative, black at zero, yellow for positive (the paper's Fig 4 colours)
HEATMAP_CMAP = LinearSegmentedColormap.from_list(
    "blue_black_yellow", ["#3d8bff", "#10204a", "#000000", "#4a4200", "#ffe600"]
)
CLIP_SD = 3.0
#: above this many rows the heat map is drawn as one nearest-neighbour image without row labels
LARGE = 2000
#: rows are named on the heat map up to this many
MAX_ROW_NAMES = 80
#: label strip: this many most common terms get their own colour, the rest are "other"
MAX_TERMS = 18
#: what a figure drawn without its crop panels says: a dataset that is a feature table has no
#: images, so no crop store (``source: features``)
NO_CROPS = "no crops: the dataset is a feature table"


def _cluster_colours(k: int) -> ListedColormap:
    """Alternating qualitative colours, so neighbouring clusters always differ."""
    base = plt.get_cmap("tab20").colors
    base = base[0::2] + base[1::2]  # the ten strong colours, then their light versions
    return ListedColormap([base[i % 20] for i in range(max(k, 1))])


def feature_order(matrix: np.ndarray) -> np.ndarray:
    """Columns ordered by their own average-linkage clustering on correlation distance.

    Constant columns (possible in a subset of proteins) count as uncorrelated with all others.
    """
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    x = np.asarray(matrix, np.float64)
    if x.shape[1] < 3:
        return np.arange(x.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x, rowvar=False)
    dist = np.clip(1.0 - np.nan_to_num(corr, nan=0.0), 0.0, 2.0)
    np.fill_diagonal(dist, 0.0)
    return leaves_list(linkage(squareform((dist + dist.T) / 2, checks=False), method="average"))


def draw_dendrogram(
    ax, linkage: np.ndarray, order: np.ndarray, orientation: str = "left", lw: float = 0.4, min_leaves: int = 1
) -> None:
    """The tree as one LineCollection; leaf i of ``order`` at position i (rows top to bottom).

    ``orientation="left"``: root on the left, leaves touching a heat map on the right. Merges
    of fewer than ``min_leaves`` leaves are not drawn (their parent's legs stop at their
    height): on thousands of rows the lowest merges are narrower than a pixel and would only
    paint a solid block.
    """
    icoord, dcoord = dendrogram_coords(linkage, order)
    if min_leaves > 1:
        keep = np.asarray(linkage)[:, 3] >= min_leaves
        icoord, dcoord = icoord[keep], dcoord[keep]
    if orientation == "left":
        segments = np.stack([dcoord, icoord], axis=2)
    else:
        segments = np.stack([icoord, dcoord], axis=2)
    ax.add_collection(LineCollection(segments, colors="0.15", linewidths=lw))
    n = len(order)
    top = float(np.asarray(linkage)[:, 2].max()) if len(linkage) else 1.0
    if orientation == "left":
        ax.set_xlim(top * 1.02 or 1.0, 0)
        ax.set_ylim(n - 0.5, -0.5)
    else:
        ax.set_xlim(-0.5, n - 0.5)
        ax.set_ylim(0, top * 1.02 or 1.0)
    ax.axis("off")


def _term_codes(labels: Sequence, order: np.ndarray) -> tuple[np.ndarray, list[str], ListedColormap]:
    """Codes (leaf order) of the most common terms; "other" and unlabelled after them."""
    terms = pd.Series(list(labels), dtype="object").iloc[order].reset_index(drop=True)
    missing = terms.isna() | terms.astype(str).isin(["", "nan", "None"])
    common = list(terms[~missing].astype(str).value_counts().index[:MAX_TERMS])
    names = common + (["other"] if (~missing & ~terms.astype(str).isin(common)).any() else [])
    code_of = {t: i for i, t in enumerate(common)}
    other = len(common)
    codes = np.array([len(names) if m else code_of.get(str(t), other) for t, m in zip(terms, missing)], np.float64)
    tab20 = plt.get_cmap("tab20").colors
    palette = [c for i, c in enumerate(tab20[0::2] + tab20[1::2]) if i not in (7, 17)]  # greys mean "other"
    colours = list(palette[: len(common)]) + ([(0.45, 0.45, 0.45)] if "other" in names else [])
    codes[missing.to_numpy()] = np.nan  # unlabelled rows stay white
    return codes, names, ListedColormap(colours or [(1, 1, 1)])


@dataclass(frozen=True)
class HeatmapRows:
    """What the heat map shows beside its rows, in profile order (the rows of
    ``protein_profiles``): each row's cluster id and, where given, its label (a strip coloured
    by the most common terms), its sub-cluster name (Table 3's second level: a strip beside the
    clusters when any is named) and its name (shown on maps of up to 80 rows)."""

    clusters: Sequence[int]
    labels: Sequence | None = None
    subclusters: Sequence[str] | None = None
    names: Sequence[str] | None = None


@dataclass(frozen=True)
class HeatmapStyle:
    """The heat map's feature columns, "cluster" (ordered by average-linkage correlation
    clustering), "given", or an explicit column order, and the resolution of its PNG."""

    columns: str | Sequence[int] = "cluster"
    dpi: int = 150


def heatmap_figure(
    matrix: np.ndarray,
    linkage: np.ndarray,
    order: Sequence[int],
    rows: HeatmapRows,
    output: FigureOutput | None = None,
    style: HeatmapStyle | None = None,
):
    """Clustered heat map of z-scored profiles with the row dendrogram, cluster and label strips
    (and a sub-cluster strip beside the clusters when ``rows.subclusters`` names any).

    ``matrix`` and ``rows`` are in profile order (the rows of ``protein_profiles``); rows are
    drawn in ``order`` (``leaf_order``). Values are clipped at +-3 SD. Written atomically to
    ``output.png`` (and ``output.pdf``); without a PNG path the figure is returned unsaved.
    """
    output, style = output or FigureOutput(), style or HeatmapStyle()
    x = np.asarray(matrix, np.float32)
    order = np.asarray(order, np.int64)
    clusters = np.asarray(rows.clusters)
    _check_heatmap_rows(x, linkage, order, clusters, rows.labels)
    cols = _column_order(x, style.columns)
    n = len(x)
    large = n > LARGE
    sub = None if rows.subclusters is None else np.asarray(rows.subclusters, dtype=object)
    has_sub = sub is not None and any(str(s) for s in sub)
    strips = 1 + has_sub + (rows.labels is not None)
    widths = [1.4, 6.0] + [0.22] * strips + [0.9]
    height = 9.0 if large else float(np.clip(1.2 + 0.11 * n, 3.5, 10.0))
    fig = plt.figure(figsize=(sum(widths) + 1.2, height))
    grid = fig.add_gridspec(1, len(widths), width_ratios=widths, wspace=0.02, top=1 - 0.45 / height)
    heat_ax, mesh = _heat_and_tree(fig, grid, np.clip(x[order][:, cols], -CLIP_SD, CLIP_SD), linkage, order, rows)
    strip = _Strips(fig, grid, heat_ax, "nearest" if large else "none")
    k = int(clusters.max()) if n else 0
    ordered = clusters[order]
    strip_ax = strip.add(2, ordered.astype(np.float64), _cluster_colours(k), (0.5, k + 0.5), "cluster")
    _band_names(strip_ax, ordered, {c: str(int(c)) for c in np.unique(ordered)}, 5)
    if has_sub:
        _subcluster_strip(strip, sub[order])
    legend_handles = []
    if rows.labels is not None:
        codes, names, cmap = _term_codes(rows.labels, order)
        strip.add(2 + strips - 1, codes, cmap, (-0.5, max(len(names), 1) - 0.5), "label")
        legend_handles = [Patch(color=cmap(i), label=name) for i, name in enumerate(names)]
    _side_panel(fig, grid, mesh, legend_handles)
    fig.suptitle(output.title or f"{n} profiles x {len(cols)} features, {k} clusters", fontsize=9)
    if output.png is None:
        return fig
    save_figure(fig, *output.paths(), dpi=style.dpi)
    return Path(output.png)


def _check_heatmap_rows(x: np.ndarray, linkage, order: np.ndarray, clusters: np.ndarray, labels) -> None:
    """One leaf position, cluster id and label per row, and a linkage of as many leaves."""
    n, _ = x.shape
    if len(order) != n or len(clusters) != n or len(linkage) != n - 1:
        raise ValueError(
            f"{n} rows but {len(order)} leaf positions, {len(clusters)} cluster ids and a "
            f"linkage of {len(linkage) + 1} leaves"
        )
    if labels is not None and len(labels) != n:
        raise ValueError(f"{n} rows but {len(labels)} labels")


def _column_order(x: np.ndarray, columns: str | Sequence[int]) -> np.ndarray:
    """The heat map's column order: clustered, as given, or the caller's."""
    if not isinstance(columns, str):
        return np.asarray(columns, np.int64)
    if columns not in ("cluster", "given"):
        raise ValueError(f"columns must be 'cluster', 'given' or a column order, got {columns!r}")
    return feature_order(x) if columns == "cluster" else np.arange(x.shape[1])


def _heat_and_tree(fig, grid, image: np.ndarray, linkage, order: np.ndarray, rows: HeatmapRows):
    """The dendrogram and the clipped values beside it, rows named on small maps; returns the
    heat map's axes and image (for the colour bar)."""
    n, n_cols = image.shape
    large = n > LARGE
    tree_ax = fig.add_subplot(grid[0, 0])
    heat_ax = fig.add_subplot(grid[0, 1])
    extent = (-0.5, n_cols - 0.5, n - 0.5, -0.5)
    mesh = heat_ax.imshow(
        image,
        aspect="auto",
        cmap=HEATMAP_CMAP,
        vmin=-CLIP_SD,
        vmax=CLIP_SD,
        interpolation="nearest" if large else "none",
        extent=extent,
    )
    draw_dendrogram(tree_ax, linkage, order, lw=0.3 if large else 0.6, min_leaves=max(1, n // 800))
    heat_ax.set_xticks([])
    heat_ax.set_xlabel(f"{n_cols} features", fontsize=7)
    if rows.names is not None and n <= MAX_ROW_NAMES:
        heat_ax.set_yticks(np.arange(n), [str(rows.names[i]) for i in order], fontsize=max(3, min(7, 400 / n)))
    else:
        heat_ax.set_yticks([])
    tree_ax.set_title(f"{n} profiles", fontsize=7)
    return heat_ax, mesh


@dataclass(frozen=True)
class _Strips:
    """The narrow colour strips right of the heat map, sharing its rows."""

    fig: object
    grid: object
    heat_ax: object
    interpolation: str

    def add(self, column: int, values: np.ndarray, cmap, limits: tuple[float, float], name: str):
        """One strip of ``values`` (leaf order; NaN stays white) in grid column ``column``."""
        n = len(values)
        ax = self.fig.add_subplot(self.grid[0, column], sharey=self.heat_ax)
        ax.imshow(
            values[:, None],
            aspect="auto",
            cmap=cmap,
            vmin=limits[0],
            vmax=limits[1],
            interpolation=self.interpolation,
            extent=(-0.5, 0.5, n - 0.5, -0.5),
        )
        ax.set_xticks([0], [name], rotation=90, fontsize=6)
        ax.tick_params(axis="y", left=False, labelleft=False)
        return ax


def _band_names(ax, ordered: np.ndarray, bands: dict, fontsize: float) -> None:
    """Each band's name on its strip, where the band is tall enough to hold it."""
    for value, text in bands.items():
        rows = np.flatnonzero(ordered == value)
        if len(rows) >= 0.015 * len(ordered):
            ax.text(0, rows.mean(), text, fontsize=fontsize, va="center", ha="center", rotation=90)


def _subcluster_strip(strip: _Strips, ordered: np.ndarray) -> None:
    """The sub-cluster strip beside the clusters: sub-clusters coloured in order of appearance."""
    ranked = {name: i + 1 for i, name in enumerate(dict.fromkeys(s for s in ordered if s))}
    codes = np.array([ranked.get(s, 0) for s in ordered], np.float64)
    n_sub = max(len(ranked), 1)
    sub_ax = strip.add(
        3, np.where(codes > 0, codes, np.nan), _cluster_colours(n_sub), (0.5, n_sub + 0.5), "sub-cluster"
    )
    _band_names(sub_ax, ordered, {name: name for name in ranked}, 4)


def _side_panel(fig, grid, mesh, legend_handles: list) -> None:
    """The colour bar of the values and the legend of the label strip, right of the strips."""
    side_ax = fig.add_subplot(grid[0, -1])
    side_ax.axis("off")
    cbar = fig.colorbar(mesh, cax=side_ax.inset_axes([0.3, 0.78, 0.18, 0.2]))
    cbar.set_label("z-score (clipped at \u00b13)", fontsize=6)
    cbar.ax.tick_params(labelsize=6)
    if legend_handles:
        side_ax.legend(
            handles=legend_handles,
            fontsize=5,
            frameon=False,
            loc="upper left",
            bbox_to_anchor=(0.1, 0.74),
            title="label",
            title_fontsize=6,
        )


def _q_value(q: float) -> str:
    """A q-value as the paper's figures print it: 0.03, 1e-4."""
    if q >= 0.01:
        return f"{q:.2g}"
    mantissa, exponent = f"{q:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def go_notes(top: pd.DataFrame) -> dict:
    """cluster -> its top GO term, q-value and "proteins with the term / proteins in the
    cluster" (``enrichment.top_terms`` rows), as Supp Fig 5 labels its clusters."""
    return {
        row["cluster"]: f"{row['name']}, q={_q_value(float(row['fdr']))}, {row['ratio']}" for _, row in top.iterrows()
    }


def _pick_cells(
    cells: pd.DataFrame, proteins: Sequence[str], n: int, rng: np.random.Generator
) -> list[tuple[str, int]]:
    """Up to ``n`` (protein, store index) examples: distinct proteins first, then more cells of them."""
    by_protein = cells.groupby("protein")["store_index"].apply(lambda s: list(s))
    pool = [p for p in proteins if p in by_protein.index]
    rng.shuffle(pool)
    picks, used = [], set()
    for protein in pool[:n]:
        idx = int(rng.choice(by_protein[protein]))
        picks.append((protein, idx))
        used.add(idx)
    while len(picks) < n:
        rest = [(p, i) for p in pool[:n] for i in by_protein[p] if i not in used]
        if not rest:
            break
        protein, idx = rest[int(rng.integers(len(rest)))]
        picks.append((protein, int(idx)))
        used.add(int(idx))
    return picks


@dataclass(frozen=True)
class ExampleSettings:
    """Which example cells ``cluster_examples_figure`` shows and how: ``n_examples`` per cluster,
    drawn with ``seed``; ``clusters`` picks and orders the rows (None: all); channel ``roles``
    (None: the store's attributes); ``protein_only`` shows the protein alone, as Supp Fig 5;
    ``notes`` adds a line under a cluster's name (``go_notes``: its top GO term)."""

    n_examples: int = 6
    seed: int = 0
    clusters: Sequence[int] | None = None
    roles: Sequence[str] | None = None
    protein_only: bool = False
    notes: dict | None = None


def example_store(path: str | Path | None) -> CropStore | None:
    """The crop store at ``path`` opened for a few example crops (only those are read), or None
    where a rule's store input is empty: the dataset is a feature table, with no images."""
    return open_crop_store(path, memory_limit=None) if path else None


def _chosen_clusters(clusters_table: pd.DataFrame, clusters: Sequence | None) -> tuple[pd.DataFrame, pd.Series, list]:
    """The clusters table with string proteins, its cluster sizes and the clusters to draw, in order."""
    table = clusters_table.assign(protein=clusters_table["protein"].astype(str))
    sizes = table.groupby("cluster").size()
    chosen = list(sizes.index) if clusters is None else [c for c in clusters if c in sizes.index]
    if not chosen:
        raise ValueError("no cluster to show: the clusters asked for are not in the clusters table")
    return table, sizes, chosen


def _cluster_label(ax, cluster, n_proteins: int, notes: dict) -> None:
    """A row's name at the right of its first panel: cluster, protein count, its note."""
    note = textwrap.fill(notes[str(cluster)], 24) if str(cluster) in notes else ""
    ax.text(
        0.95,
        0.5,
        f"cluster {cluster}\n{n_proteins} protein{'s' if n_proteins != 1 else ''}" + (f"\n{note}" if note else ""),
        ha="right",
        va="center",
        fontsize=7,
        transform=ax.transAxes,
    )


def cluster_examples_figure(
    store: str | Path | CropStore | None,
    cells_meta: pd.DataFrame,
    clusters_table: pd.DataFrame,
    output: FigureOutput | None = None,
    examples: ExampleSettings | None = None,
):
    """Supp Fig 4/5-style panel: per cluster, a row of example crops of cells of its proteins.

    ``cells_meta`` is the cell table (or a feature table's metadata): ``protein`` and
    ``store_index`` (row position when absent). ``clusters_table`` is ``memberships``'s table.
    Examples (``examples``) come from distinct proteins where possible; each crop is the
    protein channel in green over the structural channels (``figures.common.composite``).
    With no ``store`` (a dataset that is a feature table) each row lists its proteins instead of
    crops and the title says ``NO_CROPS``: the rows stay readable where there are no images.
    Written atomically to ``output.png`` (and ``output.pdf``); without a PNG path the figure is
    returned unsaved.
    """
    output, examples = output or FigureOutput(), examples or ExampleSettings()
    if store is None:
        return _listed_examples(clusters_table, output, examples)
    n_examples, clusters, roles, notes = examples.n_examples, examples.clusters, examples.roles, examples.notes
    store = open_crop_store(store) if not isinstance(store, CropStore) else store
    if roles is None:
        roles = store.attrs.get("roles") or ["protein"] + ["structural"] * (store.shape[1] - 1)
    roles = list(roles)
    if len(roles) != store.shape[1]:
        raise ValueError(f"{len(roles)} channel roles for a store of {store.shape[1]} channels")
    cells = (
        cells_meta[["protein"]]
        .astype(str)
        .assign(
            store_index=cells_meta["store_index"].to_numpy(np.int64)
            if "store_index" in cells_meta.columns
            else np.arange(len(cells_meta))
        )
    )
    table, sizes, chosen = _chosen_clusters(clusters_table, clusters)
    rng = np.random.default_rng(examples.seed)
    rows = [
        (c, _pick_cells(cells, sorted(table.loc[table["cluster"] == c, "protein"].unique()), n_examples, rng))
        for c in chosen
    ]
    indices = sorted({i for _, picks in rows for _, i in picks})
    crops = dict(zip(indices, read_crops(store, indices))) if indices else {}
    fig, axes = plt.subplots(
        len(rows),
        n_examples + 1,
        figsize=(1.15 * (n_examples + 1), 1.2 * len(rows)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.4] + [1] * n_examples},
    )
    hidden = [i for i, r in enumerate(roles) if r != "protein"] if examples.protein_only else []
    notes = {str(c): str(note) for c, note in (notes or {}).items()}
    for ax in axes.flat:
        ax.axis("off")
    for r, (c, picks) in enumerate(rows):
        _cluster_label(axes[r, 0], c, int(sizes[c]), notes)
        if not picks:
            axes[r, 1].text(0.0, 0.5, "no cells in the crop store", fontsize=6, va="center")
        for j, (protein, idx) in enumerate(picks, start=1):
            crop = crops[idx].copy()
            crop[hidden] = 0
            axes[r, j].imshow(composite(crop, roles))
            axes[r, j].set_title(protein, fontsize=5, pad=1.5)
    fig.suptitle(output.title or f"example cells of {len(rows)} clusters (protein in green)", fontsize=9)
    if output.png is None:
        return fig
    save_figure(fig, *output.paths(), dpi=150)
    return Path(output.png)


def _listed_examples(clusters_table: pd.DataFrame, output: FigureOutput, examples: ExampleSettings):
    """``cluster_examples_figure`` without a crop store: the same rows, each listing its
    proteins (in table order) where the crops would be, and ``NO_CROPS`` under the title."""
    table, sizes, chosen = _chosen_clusters(clusters_table, examples.clusters)
    n_examples = examples.n_examples
    notes = {str(c): str(note) for c, note in (examples.notes or {}).items()}
    fig, axes = plt.subplots(
        len(chosen),
        2,
        figsize=(1.15 * (n_examples + 1), 1.2 * len(chosen)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1.4, n_examples]},
    )
    width = 16 * n_examples  # characters per line at this font size
    for r, c in enumerate(chosen):
        axes[r, 0].axis("off")
        axes[r, 1].axis("off")
        _cluster_label(axes[r, 0], c, int(sizes[c]), notes)
        proteins = list(dict.fromkeys(table.loc[table["cluster"] == c, "protein"]))
        lines = textwrap.wrap(", ".join(proteins), width)
        if len(lines) > 3:  # a long list is cut to what fits the row
            lines = lines[:3] + [f"... ({len(proteins)} in all)"]
        axes[r, 1].text(0.0, 0.5, "\n".join(lines), fontsize=6, va="center")
    title = output.title or f"proteins of {len(chosen)} clusters"
    fig.suptitle(f"{title}\n{NO_CROPS} (no images): each row lists its proteins", fontsize=9)
    if output.png is None:
        return fig
    save_figure(fig, *output.paths(), dpi=150)
    return Path(output.png)
