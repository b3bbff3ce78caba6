"""Which datasets get which analyses: the lists the workflow's targets are built from.

Decided from the validated config alone (and, for a user's sample sheet, its header row), so
unit tests reach every rule of it without running Snakemake; ``rules/common.smk`` only turns
``Targets.of(config)`` into the names its rules use.

- labelled: a dataset has labels (an annotation table, protein identity, or a label column);
- scored: labelled per cell or per image (label_level protein is never scored: a screen whose
  strains carry earlier manual labels, as the paper's Fig 3 screens);
- cell_labelled: labelled per cell: the kNN and classifier benchmarks run (per image: the
  pairwise score only, as the paper's human protocol);
- fig3: a panel of the protein-level UMAP: labelled per cell or per protein, and its cells name
  proteins (a labelled HDF5 set without ``protein_key`` has classes, not proteins);
- feature_tables: datasets that are one feature table made elsewhere (``source: features``):
  no crops, so no segmentation, training, extraction, baselines or crop QC; everything else runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pcinpaint.config import CROPPED_SOURCES, FEATURE_TABLE_SOURCE
from pcinpaint.errors import InputError
from pcinpaint.io import table_columns
from pcinpaint.table_roles import cell_table_columns


def label_level(ds: dict) -> str:
    """cell, image or protein (``benchmarks.label_level``, resolved from auto when validated)."""
    return ds["benchmarks"]["label_level"]


def _sheet_columns(path) -> list[str]:
    """The header of a user's sample sheet (its rows are not read); none where unreadable (the
    sheet's own rule says why)."""
    try:
        return table_columns(path)
    except InputError:
        return []


def _table_cell_columns(block: dict) -> list[str]:
    """The cell-table columns a feature table gives (from its header); none where it is
    unreadable or lacks a required column (the cell-table rule says why)."""
    try:
        return cell_table_columns(block, table_columns(block["path"]))
    except InputError:
        return []


def is_labelled(ds: dict) -> bool:
    """Labels from an annotation table or protein identity; the simulator's truth and labelled
    sets always; a label column where the user's sample sheet has one, or where an adapter
    writes one (the HPA and yeast-screen adapters, given an annotation table)."""
    bench = ds["benchmarks"]
    if bench["label_from"] != "column" or ds["source"] in ("simulate", "labelled_hdf5"):
        return True
    if ds["source"] == "samplesheet":
        return bench["label_column"] in _sheet_columns(ds["samplesheet"])
    if ds["source"] == "plate":  # the plate map's columns become the sheet's
        return bench["label_column"] in _sheet_columns(ds["plate"]["map"])
    if ds["source"] == FEATURE_TABLE_SOURCE:
        return bench["label_column"] in _table_cell_columns(ds["feature_table"])
    given = {
        "hpa": ds.get("hpa", {}).get("location_table"),
        "yeast_screen": ds.get("yeast_screen", {}).get("annotations"),
    }
    return bench["label_column"] == "label" and bool(given.get(ds["source"]))


def names_proteins(ds: dict) -> bool:
    """Whether a dataset's cells name their protein (a labelled HDF5 set only with protein_key)."""
    return ds["source"] != "labelled_hdf5" or bool(ds["labelled_hdf5"].get("protein_key"))


def has_go(ds: dict) -> bool:
    """GO enrichment runs: the simulator's own ontology, or both GO files configured."""
    go = ds["exploratory"]["go"]
    return ds["source"] == "simulate" or bool(go["ontology"] and go["annotations"])


def has_fig6(ds: dict) -> bool:
    """Single-cell dendrograms run: the simulator's variable proteins, or configured ones."""
    return ds["source"] == "simulate" or bool(ds["exploratory"]["variable_proteins"])


@dataclass(frozen=True)
class Targets:
    """The dataset lists of one config, each in config order."""

    datasets: list[str]
    simulated: list[str]
    cropped: list[str]
    segmented: list[str]
    trained: list[str]
    published: list[str]
    labelled: list[str]
    scored: list[str]
    cell_labelled: list[str]
    fig3: list[str]
    feature_tables: list[str]

    @property
    def imaged(self) -> list[str]:
        """Datasets with crops: everything that reads pixels runs on them."""
        return [d for d in self.datasets if d not in self.feature_tables]

    @classmethod
    def of(cls, config: dict) -> Targets:
        sets = config["datasets"]
        names = list(sets)
        labelled = [d for d in names if is_labelled(sets[d])]
        scored = [d for d in labelled if label_level(sets[d]) != "protein"]
        tables = [d for d in names if sets[d]["source"] == FEATURE_TABLE_SOURCE]
        return cls(
            datasets=names,
            simulated=[d for d in names if sets[d]["source"] == "simulate"],
            cropped=[d for d in names if sets[d]["source"] in CROPPED_SOURCES],
            segmented=[d for d in names if sets[d]["source"] not in (*CROPPED_SOURCES, FEATURE_TABLE_SOURCE)],
            trained=[d for d in names if sets[d]["model"]["model_from"] is None and d not in tables],
            published=list(config.get("published_weights", {})),
            labelled=labelled,
            scored=scored,
            cell_labelled=[d for d in scored if label_level(sets[d]) == "cell"],
            fig3=[d for d in labelled if label_level(sets[d]) in ("cell", "protein") and names_proteins(sets[d])],
            feature_tables=tables,
        )
