"""Gathering the segmentation chunks into the crop store: the ``gather_crops`` rule's library.

The gather flags fields from the chunks' quality measures (``crops.qc``) and leaves out the
cells of fields whose flags ``qc.drop_flagged`` names, applies the per-image ``min_cells``
filter, numbers the stored cells, attaches simulated ground truth where there is some, and
writes ``crops.zarr`` and ``cells.parquet`` plus the QC tables (``crops.segmentation_qc``), so
no cell is lost without a record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.qc import FLAGS, flag_fields, qc_settings
from pcinpaint.crops.segment_chunk import OPTIONAL_META, SHEET_META
from pcinpaint.crops.segmentation_qc import BELOW_MIN_CELLS, FIELD_FLAGGED, field_qc
from pcinpaint.crops.store import write_crop_store
from pcinpaint.errors import InputError
from pcinpaint.io import read_table

#: drop reasons given at gather time: those cells were cropped, and their crops are skipped
GATHER_REASONS = (BELOW_MIN_CELLS, FIELD_FLAGGED)
TRUTH_COLUMNS = ("true_class", "mixing_fraction", "subpopulation", "touching")
#: crops copied from the chunk files into the store per step (one shard of the store)
GATHER_BATCH = 1024


class NpyRows:
    """Rows of a C-ordered ``.npy`` file read with plain file reads.

    A memory map of the chunk files would do, but every page it touches stays resident (and counts
    in the job's memory) until the map is closed: a gather of a million crops would hold the crops
    of a whole chunk. Reads into a buffer of the batch keep the job's memory at one batch.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        try:
            version = np.lib.format.read_magic(self._fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self._fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self._fh)
            else:
                raise ValueError(f"{self.path}: .npy format {version} is not one np.save writes for crops")
            if fortran or dtype.hasobject:
                raise ValueError(f"{self.path}: expected a C-ordered array of numbers")
        except BaseException:
            self._fh.close()
            raise
        self.shape, self.dtype, self.offset = tuple(shape), dtype, self._fh.tell()
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __enter__(self) -> NpyRows:
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (increasing), read run by run of consecutive rows."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        if not len(rows):
            return out
        if rows[0] < 0 or rows[-1] >= len(self) or np.any(rows[1:] <= rows[:-1]):
            raise IndexError(f"{self.path}: rows must increase within 0..{len(self) - 1}")
        view = memoryview(out.reshape(-1).view(np.uint8))
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        for a, b in zip(starts, np.append(starts[1:], len(rows))):
            self._fh.seek(self.offset + int(rows[a]) * self.row_bytes)
            want = (b - a) * self.row_bytes
            got = self._fh.readinto(view[a * self.row_bytes : b * self.row_bytes])
            if got != want:
                raise ValueError(f"{self.path}: file ends before row {int(rows[b - 1])} (truncated chunk file)")
        return out


@dataclass(frozen=True)
class ChunkFiles:
    """The files the segment jobs wrote, one of each per chunk in chunk order (``save_chunk``):
    crops (``.npy``), object tables and field tables (none: chunks written before they were)."""

    crops: Sequence[str | Path]
    objects: Sequence[str | Path]
    fields: Sequence[str | Path] = ()


@dataclass
class GatherResult:
    cells: pd.DataFrame
    objects: pd.DataFrame
    fields: pd.DataFrame
    dropped_images: pd.DataFrame


def gather(
    chunks: ChunkFiles,
    cfg: DatasetConfig,
    sheet: pd.DataFrame,
    store_path: str | Path,
    truth_cells: pd.DataFrame | None = None,
) -> GatherResult:
    """Combine chunk outputs into the crop store and the cell table; flag fields, leave out the
    cells of fields whose flags ``qc.drop_flagged`` names, then apply ``min_cells`` (so an image
    that loses fields may fall below it).

    A screen where no cell survives stops here (``InputError`` with the drop-reason counts)
    rather than storing an empty crop store that every later stage would trip over."""
    objects, chunk_sizes = _read_objects(chunks.objects)
    field_paths = chunks.fields
    per_field = pd.concat([read_table(p) for p in field_paths], ignore_index=True) if field_paths else None
    settings = qc_settings(cfg)
    flags = flag_fields(
        per_field, settings, str(field_paths[0]) if len(field_paths) else "the segment jobs' field tables"
    )
    if flags is not None and settings["drop_flagged"]:
        _drop(objects, objects["field_id"].astype(str).isin(flags.loc[flags["drop"], "field_id"]), FIELD_FLAGGED)
    small = _below_min_cells(objects, sheet, cfg.min_cells)
    objects["cell_id"] = objects["field_id"].astype(str) + ":" + objects["object_id"].astype(str)

    cells, selections = _stored_cells(objects, chunk_sizes)
    if cells.empty:
        raise InputError(no_cells_message(objects, sheet, cfg.min_cells))
    write_crop_store(
        store_path,
        _crop_batches(chunks.crops, selections),
        len(cells),
        len(cfg.channels),
        cfg.crops["model_size"],
        attrs={"channels": list(cfg.channels), "roles": list(cfg.roles), "dataset": cfg.name},
    )
    cells = _cell_table(cells, truth_cells)
    fields = field_qc(objects, sheet, per_field)
    if flags is not None:
        by_field = flags.set_index("field_id")
        for col in (*(f"flag_{f}" for f in FLAGS), "flags"):
            fields[col] = fields["field_id"].astype(str).map(by_field[col])
    return GatherResult(cells, objects, fields, _dropped_images(objects, sheet, small, cfg.min_cells))


def _read_objects(object_paths: Sequence[str | Path]) -> tuple[pd.DataFrame, list[int]]:
    """Every chunk's object table, concatenated in chunk order, and each chunk's rows."""
    objects_per_chunk = [read_table(p) for p in object_paths]
    chunk_sizes = [len(o) for o in objects_per_chunk]
    objects = (
        pd.concat([o for o in objects_per_chunk if len(o)], ignore_index=True) if any(chunk_sizes) else _empty_objects()
    )
    del objects_per_chunk  # the object tables are held once, not twice
    objects["kept"] = objects["kept"].astype(bool)
    objects["padded"] = objects["padded"].astype(bool)
    objects["drop_reason"] = objects["drop_reason"].fillna("").astype(str)
    return objects, chunk_sizes


def _drop(objects: pd.DataFrame, where: pd.Series, reason: str) -> None:
    """Leave out the kept objects ``where`` marks, recording ``reason``."""
    dropped = objects["kept"] & where
    objects.loc[dropped, "kept"] = False
    objects.loc[dropped, "drop_reason"] = reason


def _below_min_cells(objects: pd.DataFrame, sheet: pd.DataFrame, min_cells: int) -> pd.Series:
    """Drop the cells of images with fewer than ``min_cells`` kept; those images' cell counts."""
    kept = objects.loc[objects["kept"], ["image_id"]]
    per_image = kept.groupby("image_id").size().reindex(sorted(sheet["image_id"].unique()), fill_value=0)
    del kept
    small = per_image[per_image < min_cells]
    _drop(objects, objects["image_id"].isin(small.index), BELOW_MIN_CELLS)
    return small


def _stored_cells(objects: pd.DataFrame, chunk_sizes: Sequence[int]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The cells in the store, in chunk order, numbered, and per chunk which of its crops (its
    kept-at-crop-time rows) are stored."""
    store_rows, selections = [], []
    offset = 0
    for n in chunk_sizes:
        part = objects.iloc[offset : offset + n]
        offset += n
        cropped = part[part["drop_reason"].isin(["", *GATHER_REASONS])]  # rows that own a crop
        selections.append(cropped["kept"].to_numpy())
        store_rows.append(cropped[cropped["kept"]])
    cells = pd.concat(store_rows, ignore_index=True) if store_rows else objects.iloc[:0]
    del store_rows
    return cells.assign(store_index=np.arange(len(cells))), selections


def _crop_batches(crop_paths: Sequence[str | Path], selections: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    """The stored crops, chunk by chunk: each chunk file is read a batch of rows at a time, so the
    store is filled a thousand crops at a time and no chunk file is loaded or mapped whole."""
    for path, sel in zip(crop_paths, selections):
        with NpyRows(path) as crops:
            if len(crops) != len(sel):
                raise ValueError(f"{path}: {len(crops)} crops but its object table has {len(sel)} cropped cells")
            rows = np.flatnonzero(sel)
            for at in range(0, len(rows), GATHER_BATCH):
                yield crops.read(rows[at : at + GATHER_BATCH])


def _cell_table(cells: pd.DataFrame, truth_cells: pd.DataFrame | None) -> pd.DataFrame:
    """The cell table's columns: ids, sheet metadata (optional columns only where some cell has
    them), position, store index, then the simulated truth where there is some."""
    if truth_cells is not None and "truth_label" in cells.columns:
        truth = truth_cells[["field_id", "truth_label", *TRUTH_COLUMNS]]
        cells = cells.merge(truth, on=["field_id", "truth_label"], how="left", validate="many_to_one")
    columns = ["cell_id", *SHEET_META, "centroid_y", "centroid_x", "area", "store_index"]
    columns = [c for c in columns if c in cells.columns and not (c in OPTIONAL_META and cells[c].isna().all())]
    extra = [c for c in (*TRUTH_COLUMNS, "truth_label") if c in cells.columns]
    return cells[columns + extra].reset_index(drop=True)


def _dropped_images(objects: pd.DataFrame, sheet: pd.DataFrame, small: pd.Series, min_cells: int) -> pd.DataFrame:
    """The images left out, with their cells and why: too few cells, or every field flagged."""
    reason = pd.Series(f"fewer than min_cells={min_cells} cells", index=small.index)
    flagged = objects.loc[objects["drop_reason"] == FIELD_FLAGGED, "image_id"].unique()
    reason[(small == 0) & small.index.isin(flagged)] = "every field flagged (qc.drop_flagged)"
    dropped = pd.DataFrame({"image_id": small.index, "n_cells": small.to_numpy(), "reason": reason.to_numpy()})
    return dropped.merge(sheet.drop_duplicates("image_id")[["image_id", "protein"]], on="image_id", how="left")


def _empty_objects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=t)
            for c, t in [
                ("object_id", "int64"),
                ("centroid_y", "float64"),
                ("centroid_x", "float64"),
                ("area", "int64"),
                ("kept", "bool"),
                ("padded", "bool"),
                ("drop_reason", "str"),
                ("image_id", "str"),
                ("field_id", "str"),
                ("protein", "str"),
            ]
        }
    )


def no_cells_message(objects: pd.DataFrame, sheet: pd.DataFrame, min_cells: int) -> str:
    """One line for a screen where no cell was kept: what was detected and why it was dropped."""
    reasons = objects.loc[objects["drop_reason"] != "", "drop_reason"].value_counts()
    dropped = ", ".join(f"{r} {n:,}" for r, n in reasons.items()) or "none"
    where = sheet["source_sheet"].iloc[0] if "source_sheet" in sheet.columns else sheet.attrs.get("path", "the sheet")
    return (
        f"{where}: no cell kept from {len(sheet):,} fields in {sheet['image_id'].nunique():,} images: "
        f"{len(objects):,} objects detected; dropped: {dropped} (min_cells={min_cells}); "
        "check the segmentation channel and settings (qc_overlays shows what was found)"
    )
