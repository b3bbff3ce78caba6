"""Feature tables made elsewhere (CellProfiler exports, published per-protein matrices) as feature sets.

A per-cell table joins the cell table on one or more key columns and becomes a feature table in
store order; a per-protein table joins on ``protein`` and becomes one row per protein of the
screen (``Metadata_protein`` first). Feature columns are the table's numeric columns other than
the keys and any ``Metadata_*`` columns. Joins are strict: rows that match no cell (or cells
with no row) stop the run with the count, since a silently partial table would bias every
comparison made with it; ``drop_unmatched`` accepts extra rows (e.g. objects a CellProfiler
pipeline found that this segmentation did not), never missing ones.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.features.table import METADATA_PREFIX, feature_table, with_metadata
from pcinpaint.io import read_table

log = logging.getLogger(__name__)


def key_columns(key, level: str) -> dict[str, str]:
    """{column in the file: cell-table column} from the config's ``key`` (None, a name or a mapping)."""
    if key is None:
        key = "protein" if level == "protein" else "cell_id"
    return {key: key} if isinstance(key, str) else dict(key)


def _keys_as_text(frame: pd.DataFrame, columns) -> pd.Series:
    """One string per row of the key columns (files and cell tables may type ids differently)."""
    parts = [frame[c].astype(str).str.strip() for c in columns]
    return parts[0] if len(parts) == 1 else pd.Series(list(zip(*parts)), index=frame.index).map("\x1f".join)


def numeric_features(table: pd.DataFrame, exclude, where: str) -> tuple[np.ndarray, list[str]]:
    """The numeric columns (all values numbers; empty cells count as missing) as float32.

    Columns with text are not features (file names, labels) and columns with missing values
    are dropped whole (imputing would invent measurements); both are logged.
    """
    names, values, text, missing = [], [], [], []
    for col in table.columns:
        if col in exclude or str(col).startswith(METADATA_PREFIX):
            continue
        raw = table[col]
        if raw.dtype == object or pd.api.types.is_string_dtype(raw):
            stripped = raw.astype(str).str.strip()
            blank = stripped.isin(["", "nan", "NaN", "NA", "null", "None"])
            number = pd.to_numeric(stripped.where(~blank), errors="coerce")
            if (number.isna() & ~blank).any():
                text.append(col)
                continue
        else:
            number = pd.to_numeric(raw, errors="coerce")
        if number.isna().any() or not np.isfinite(number.to_numpy(np.float64)).all():
            missing.append(col)
            continue
        names.append(str(col))
        values.append(number.to_numpy(np.float32))
    if text:
        log.info("%s: %d non-numeric column(s) are not features: %s", where, len(text), text[:10])
    if missing:
        log.warning("%s: %d column(s) with missing or infinite values dropped: %s", where, len(missing), missing[:10])
    if not names:
        raise InputError(f"{where}: no numeric feature columns with complete values")
    return np.stack(values, axis=1), names


def import_features(
    path: str | Path, cells: pd.DataFrame, key=None, level: str = "cell", drop_unmatched: bool = False
) -> pd.DataFrame:
    """The user's table as a feature table: per cell in store order, or per protein."""
    path = Path(path)
    table = read_table(path)
    keys = key_columns(key, level)
    absent = [c for c in keys if c not in table.columns]
    if absent:
        raise InputError(f"{path}: key column(s) {absent} not in the table (it has {list(table.columns)[:12]})")
    absent = [c for c in keys.values() if c not in cells.columns]
    if absent:
        raise InputError(f"{path}: key column(s) {absent} not in the cell table (it has {list(cells.columns)})")
    if level == "protein" and list(keys.values()) != ["protein"]:
        raise InputError(
            f"{path}: a per-protein table joins on the cell table's protein column, not {list(keys.values())}"
        )
    file_key = _keys_as_text(table, list(keys))
    if file_key.duplicated().any():
        raise InputError(
            f"{path}: {int(file_key.duplicated().sum())} row(s) repeat the key of another row "
            f"(key {list(keys)}); each {level} needs exactly one row"
        )
    cells = cells.sort_values("store_index").reset_index(drop=True)
    if level == "protein":
        rows = pd.DataFrame({"protein": pd.unique(cells["protein"])})
    else:
        rows = cells
    cell_key = _keys_as_text(rows, list(keys.values()))
    unmatched = ~file_key.isin(set(cell_key))
    if unmatched.any():
        message = (
            f"{path}: {int(unmatched.sum())} of {len(table)} rows match no {level} of the screen "
            f"on key {list(keys)} (e.g. {file_key[unmatched].iloc[0]!r})"
        )
        if not drop_unmatched:
            raise InputError(message + "; set drop_unmatched: true to drop them")
        log.warning("%s; dropped (drop_unmatched)", message)
        table, file_key = table[~unmatched], file_key[~unmatched]
    missing = ~cell_key.isin(set(file_key))
    if missing.any():
        raise InputError(
            f"{path}: {int(missing.sum())} of {len(rows)} {level}s of the screen have no row "
            f"(key {list(keys)}, e.g. {cell_key[missing].iloc[0]!r})"
        )
    features, names = numeric_features(table, set(keys), str(path))
    order = pd.Series(np.arange(len(file_key)), index=file_key.to_numpy())[cell_key.to_numpy()].to_numpy()
    log.info("%s: %d %ss x %d features", path, len(rows), level, len(names))
    if level == "protein":
        return with_metadata(rows, features[order], names)
    return feature_table(cells, features[order], "", names)
