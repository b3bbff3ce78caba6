"""The data behind the explorer page: the cells it draws, both maps of the analysed layer, and
for every protein its nearest proteins and the cell that shows it.

A biologist's next step after the paper's static maps is the cells behind a cluster and the
proteins near one of interest, so every point carries its metadata and every protein its
neighbours (in the z-scored profile space Fig 4 clusters, for every protein, not only the
configured queries). The page draws at most ``explorer.max_cells`` cells, drawn as the
benchmarks draw theirs (stratified by label, seeded), so its size does not grow with the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.benchmarks.comparisons import umap_embedding
from pcinpaint.benchmarks.sample import benchmark_cells, sample_note
from pcinpaint.errors import NotRun
from pcinpaint.exploratory import clustering
from pcinpaint.exploratory.neighbours import feature_neighbours
from pcinpaint.io import read_table

#: the cell-table columns a cell's hover shows (where the table has them)
CELL_COLUMNS = ("cell_id", "image_id", "protein", "cell_line", "antibody")


@dataclass
class ExplorerData:
    """What the page draws: one row per drawn cell and per protein, with map positions (NaN
    where a map could not be made: its reason in ``not_run``)."""

    cells: pd.DataFrame
    proteins: pd.DataFrame
    note: str
    feature_set: str
    not_run: dict[str, str] = field(default_factory=dict)


def representatives(cells: pd.DataFrame, meta: pd.DataFrame, proteins) -> pd.Series:
    """protein -> the store index of the cell that shows it: of its drawn cells, the one nearest
    the middle (median) of them on the cell map; a protein none of whose cells is drawn (or
    without a cell map) shows its first cell."""
    chosen = {}
    drawn = cells.dropna(subset=["x", "y"])
    for protein, group in drawn.groupby("protein", sort=False):
        centre = group[["x", "y"]].median().to_numpy()
        nearest = np.argmin(((group[["x", "y"]].to_numpy() - centre) ** 2).sum(axis=1))
        chosen[protein] = int(group["store_index"].iloc[nearest])
    first = meta.groupby(meta["protein"].astype(str), sort=False)["store_index"].min()
    return pd.Series({p: chosen.get(p, first.get(p)) for p in proteins}, dtype="Int64")


def multiloc_by_cell(path: str | Path | None, cell_ids) -> pd.Series:
    """cell_id -> its multi-localization scores (``pair: score``, one per pair its protein is
    scored in; Fig 5's table), for the drawn cells; empty without the table."""
    if not path:
        return pd.Series(dtype=object)
    table = read_table(path, columns=["cell_id", "pair", "score"])
    table = table[table["cell_id"].astype(str).isin(set(map(str, cell_ids)))]
    text = table["pair"].astype(str) + ": " + pd.to_numeric(table["score"]).map("{:+.2f}".format)
    return text.groupby(table["cell_id"].astype(str).to_numpy()).agg("; ".join)


def _map(x, settings: dict, seed: int, what: str, not_run: dict) -> np.ndarray:
    """A UMAP of ``x`` with the config's settings, or NaN positions and the reason."""
    try:
        return umap_embedding(x, settings["n_neighbors"], settings["min_dist"], seed)
    except NotRun as exc:
        not_run[what] = str(exc)
        return np.full((len(x), 2), np.nan)


@dataclass(frozen=True)
class MapSettings:
    """The explorer's own settings and the UMAP settings of the maps it redraws (Supp Fig 3's
    for cells, Fig 3's for proteins), with their seeds."""

    max_cells: int | None
    neighbours: int
    min_cells: int
    cell_umap: dict
    protein_umap: dict
    sample_seed: int
    seed: int


def explorer_data(loaded, labels: pd.Series, clusters: pd.DataFrame, multiloc, settings: MapSettings) -> ExplorerData:
    """The page's data from the analysed set (``analysed.load_analysed``'s ``(name, meta,
    features, cells, terms)``), each cell's label, the clusters table and Fig 5's scores."""
    from pcinpaint.features.reading import read_cell_rows

    name, meta, features, cells, terms = loaded
    not_run: dict[str, str] = {}
    drawn = benchmark_cells(labels, settings.max_cells, settings.sample_seed, labelled_only=False)
    x = read_cell_rows(features.path, drawn, cells["store_index"].to_numpy())
    xy = _map(x, settings.cell_umap, settings.seed, "cells", not_run)
    del x
    table = meta.iloc[np.flatnonzero(drawn)].reset_index(drop=True)
    drawn_cells = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "store_index": table["store_index"].to_numpy()})
    for column in CELL_COLUMNS:
        if column in table.columns:
            drawn_cells[column] = table[column].astype(str).to_numpy()
    drawn_cells["label"] = labels[drawn].astype(object).to_numpy()
    by_protein = clusters.set_index(clusters["protein"].astype(str))
    drawn_cells["cluster"] = drawn_cells["protein"].map(by_protein["cluster"]).astype("Int64")
    if "cell_id" in drawn_cells.columns:
        drawn_cells["multiloc"] = drawn_cells["cell_id"].map(multiloc_by_cell(multiloc, drawn_cells["cell_id"]))

    profiles, matrix = clustering.protein_profiles(meta, features, "protein", settings.min_cells)
    names = profiles.index.astype(str)
    pxy = _map(matrix, settings.protein_umap, settings.seed + 1, "proteins", not_run)
    near, dist = feature_neighbours(matrix, names, settings.neighbours)
    proteins = pd.DataFrame(
        {
            "x": pxy[:, 0],
            "y": pxy[:, 1],
            "protein": names,
            "n_cells": profiles["n_cells"].to_numpy(),
            "label": names.map(terms) if len(terms) else pd.NA,
            "cluster": pd.Series(names).map(by_protein["cluster"]).astype("Int64").to_numpy(),
            "neighbours": near,
            "distances": dist,
        }
    )
    proteins["store_index"] = representatives(drawn_cells, meta, names).to_numpy()
    return ExplorerData(drawn_cells, proteins, sample_note(drawn, labels, labelled_only=False), name, not_run)
