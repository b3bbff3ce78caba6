"""A dataset that is a feature table made elsewhere (``source: features``): its cell table and its
one feature set.

The table (parquet, CSV/TSV, gzipped text, AnnData ``.h5ad``; per cell or, with ``level:
protein``, per protein) is read with ``features.imported``'s reader, the one that imports
tables beside a screen's crops: the same batches, ``Metadata_`` convention and non-finite
handling. Here the screen is the table itself, so the cell table comes first, from the
metadata columns (``table_roles``), one row per table row with ``store_index`` = the row
number; the feature set is then the table joined to that cell table on the row number, and
every analysis downstream sees what it sees on a screen the workflow segmented.

A per-protein table becomes a cell table of one row per protein (its cell, image and field ids
are the protein), so protein-level analyses average one row per protein: the table's values.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.features.imported import BLANK as MISSING_TEXT
from pcinpaint.features.imported import ROW, FeatureSource, TableReader, write_imported_features
from pcinpaint.io import write_table
from pcinpaint.table_roles import PREFIX, ROLES, carried_columns, role_columns

log = logging.getLogger(__name__)

#: text read as a missing metadata value: the imported reader's, and pandas' text of a missing string
BLANK = (*MISSING_TEXT, "<NA>")
#: the cell table's ids, text and never blank; the other roles a table may leave out
IDS = ("cell_id", "image_id", "field_id", "protein")
OPTIONAL = tuple(r for r in ROLES if r not in IDS)
#: joins the values of a role given by several columns (a plate and a well)
JOIN = "/"


def source(block: dict, features: list[str] | None = None) -> FeatureSource:
    """The config's ``feature_table`` block as the imported reader's source."""
    return FeatureSource(Path(block["path"]), block.get("obsm"), tuple(features) if features else None, strict=True)


def _as_text(values: pd.Series, integer: bool) -> pd.Series:
    """A column's values as stripped text; an integer column a batch read as floats (it held a
    null) as integers again."""
    if integer and values.dtype.kind == "f":
        values = values.astype("Int64")
    return values.astype("string").str.strip()


def _joined(frame: pd.DataFrame, columns: tuple[str, ...], integers: set = frozenset()) -> pd.Series:
    """A role's text per row; of several columns, missing where any part is blank (a well of
    no plate is no image id, not ``/A01``). ``integers``: columns that hold integers however a
    batch typed them (a parquet batch with a null reads floats), so 1 is "1" in every batch."""
    parts = [_as_text(frame[c], c in integers) for c in columns]
    if len(parts) == 1:
        return parts[0]
    out = parts[0].mask(parts[0].isin(BLANK))
    for part in parts[1:]:
        out = out + JOIN + part.mask(part.isin(BLANK))
    return out


def _batch_cells(frame: pd.DataFrame, roles: dict, carried: dict, integers: set = frozenset()) -> pd.DataFrame:
    """One batch's cell-table rows: each role's text (its columns joined), carried columns as read."""
    out = pd.DataFrame({role: _joined(frame, cols, integers) for role, cols in roles.items()})
    if "cell_id" not in roles:
        out["cell_id"] = frame[ROW].to_numpy()
    for column, name in carried.items():
        out[name] = frame[column].to_numpy()
    return out


def _check_required(path, cells: pd.DataFrame, roles: dict, level: str) -> None:
    """Blank ids stop the run naming the first row (a cell of no protein cannot be analysed);
    at level protein the ids are the protein, so its column is the one named."""
    for role in ("protein",) if level == "protein" else IDS:
        if role not in cells.columns:
            continue
        blank = cells[role].isna() | cells[role].isin(BLANK)
        if blank.any():
            row = int(np.flatnonzero(blank.to_numpy())[0])
            where = "+".join(roles.get(role, ("row number",)))
            raise InputError(f"{path}: row {row + 1}: no {role} (column {where} is blank in {int(blank.sum())} rows)")
    key = "protein" if level == "protein" else "cell_id"
    repeated = cells[key].duplicated()
    if repeated.any():  # the first repeat and the row it repeats (not merely the first two repeated rows)
        second = int(np.flatnonzero(repeated.to_numpy())[0])
        value = cells[key].iloc[second]
        first = int(np.flatnonzero((cells[key] == value).to_numpy())[0])
        raise InputError(
            f"{path}: rows {first + 1} and {second + 1} share the {key} {value!r} "
            f"({int(repeated.sum())} repeated); each {'protein' if level == 'protein' else 'cell'} "
            "needs exactly one row"
        )


def read_cell_table(block: dict) -> pd.DataFrame:
    """The dataset's cell table from the table's metadata columns alone (read by columns where
    the format allows): ``cell_id`` (the row number where the table has none), ``image_id``,
    ``field_id`` (the image where none), ``protein``, the optional roles, other ``Metadata_``
    columns without the prefix, ``store_index`` = row order."""
    reader = TableReader(source(block))
    level = block.get("level", "cell")
    roles = role_columns(block, reader.columns)
    obs = reader.metadata_columns
    carried = carried_columns(roles, obs if obs is not None else reader.columns, obs is not None)
    wanted = list(dict.fromkeys([ROW, *(c for cols in roles.values() for c in cols), *carried]))
    integers = reader.integer_columns
    parts = [_batch_cells(frame, roles, carried, integers) for frame in reader.batches(wanted)]
    if not any(len(part) for part in parts):  # a parquet file of no rows has no batches at all
        raise InputError(f"{block['path']}: the table has no rows")
    cells = pd.concat(parts, ignore_index=True)
    if level == "protein":
        cells["cell_id"] = cells["image_id"] = cells["field_id"] = cells["protein"]
    if "field_id" not in cells:  # the image is required per cell (``table_roles.REQUIRED``)
        cells["field_id"] = cells["image_id"]
    _check_required(block["path"], cells, roles, level)
    for role in IDS:
        cells[role] = cells[role].astype(str)
    for role in OPTIONAL:  # a blank is None (as a parquet null reads), not "nan"
        if role in cells:
            values = cells[role].astype(object)
            cells[role] = values.where(~(values.isna() | values.isin(BLANK)), None)
    cells["store_index"] = np.arange(len(cells), dtype=np.int64)
    order = [c for c in ROLES if c in cells]
    cells = cells[[*order, *(c for c in cells.columns if c not in order)]]
    log.info(
        "%s: %d %ss, %d images, %d proteins",
        block["path"],
        len(cells),
        level,
        cells["image_id"].nunique(),
        cells["protein"].nunique(),
    )
    return cells


def feature_columns(block: dict, reader: TableReader) -> list[str]:
    """The feature columns: ``features.columns``; else those starting with a ``features.prefix``;
    else an AnnData file's X (or ``obsm``) columns, or every column of another table that is
    neither a role's, ``Metadata_``-prefixed nor a parquet file's index. None is a one-line error."""
    chosen = block.get("features", {}) or {}
    roles = role_columns(block, reader.columns)
    metadata = {c for cols in roles.values() for c in cols} | {c for c in reader.columns if c.startswith(PREFIX)}
    path = block["path"]
    if chosen.get("columns"):
        clash = [c for c in chosen["columns"] if c in metadata]
        if clash:
            raise InputError(f"{path}: feature_table.features.columns names metadata column(s) {clash[:5]}")
        return list(chosen["columns"])
    if chosen.get("prefix"):
        found = [c for c in reader.columns if c not in metadata and c.startswith(tuple(chosen["prefix"]))]
        if not found:
            raise InputError(f"{path}: no column starts with {chosen['prefix']} (feature_table.features.prefix)")
        return found
    default = reader.feature_columns if reader.feature_columns is not None else reader.columns
    found = [c for c in default if c not in metadata and c not in reader.index_columns]
    if not found:
        raise InputError(f"{path}: no feature column: every column is metadata ({reader.columns[:12]})")
    return found


def write_feature_set(block: dict, cells: pd.DataFrame, out: str | Path) -> int:
    """The table's features in the feature-table contract, rows in store order (the table's),
    written to ``out`` block by block; returns the rows. Non-finite columns are dropped and
    counted in the log; a text column among the features stops the run."""
    reader = TableReader(source(block))
    names = feature_columns(block, reader)
    log.info("%s: %d candidate feature columns", block["path"], len(names))
    # the cell table was read from this file in this order: its rows join on the row number
    return write_imported_features(source(block, names), cells, out, key={ROW: "store_index"})


def write_cell_table(block: dict, out: str | Path) -> int:
    """``read_cell_table`` written to ``out`` (atomically); returns its rows."""
    cells = read_cell_table(block)
    write_table(cells, out)
    return len(cells)
