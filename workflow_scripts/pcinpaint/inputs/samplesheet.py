"""The sample sheet: one row per field of view, the contract every input adapter writes.

Sheets are validated (required columns, unique field ids, the optional sample-sheet schema),
channel and mask paths resolve against the sheet's folder, and every error names the user's
file and row. The segmentation stage reads fields through ``read_field``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.config import validate_instance
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.files import read_image
from pcinpaint.io import read_table

SHEET_REQUIRED = ("image_id", "field_id", "protein")
#: optional per-field metadata; the single-cell variation columns come from the HPA location table,
#: ``label_source`` says whether an atlas image's label is its own (``image``) or its gene's
SHEET_OPTIONAL = (
    "cell_line",
    "antibody",
    "label",
    "label_source",
    "mask",
    "sc_variation_intensity",
    "sc_variation_spatial",
)


def read_samplesheet(
    path: str | Path, channels: Sequence[str], need_mask: bool = False, schema: dict | None = None
) -> pd.DataFrame:
    """Load and check a sample sheet; channel (and mask) paths become absolute.

    Relative paths resolve against the sheet's folder, so a sheet and its images can move
    together. Empty optional columns become missing values.
    """
    path = Path(path)
    sheet = read_table(path)
    sheet.columns = [c.strip() for c in sheet.columns]
    required = list(SHEET_REQUIRED) + list(channels) + (["mask"] if need_mask else [])
    missing = [c for c in required if c not in sheet.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; columns are {list(sheet.columns)}")
    if sheet.empty:
        raise InputError(f"{path}: the sample sheet has no rows")
    for col in sheet.columns:
        sheet[col] = sheet[col].astype(str).str.strip()
    for i, row in sheet.iterrows():
        for col in required:
            if row[col] == "":
                raise InputError(f"{path}: row {i + 2}: empty value in column '{col}'")
    dup = sheet["field_id"][sheet["field_id"].duplicated()]
    if len(dup):
        raise InputError(f"{path}: field_id '{dup.iloc[0]}' appears more than once")
    for col in SHEET_OPTIONAL:
        if col in sheet.columns:
            sheet[col] = sheet[col].replace("", pd.NA)
    if schema is not None:
        for i, record in enumerate(sheet.to_dict("records")):
            record = {k: (None if pd.isna(v) else v) for k, v in record.items()}
            try:
                validate_instance(record, schema, f"{path}: row {i + 2}")
            except ConfigError as exc:
                raise InputError(str(exc)) from None
    for col in list(channels) + (["mask"] if "mask" in sheet.columns else []):
        sheet[col] = [_resolve(path.parent, p) if isinstance(p, str) else p for p in sheet[col]]
    if "source_sheet" not in sheet.columns:  # errors later name the user's file and row
        sheet["source_sheet"] = str(path.resolve())
        sheet["source_row"] = [str(i + 2) for i in range(len(sheet))]
    sheet.attrs["path"] = str(path)
    return sheet


def _resolve(base: Path, p: str) -> str:
    q = Path(p).expanduser()
    return str(q if q.is_absolute() else (base / q).resolve())


def row_name(sheet: pd.DataFrame, index) -> str:
    """'<user's sheet>: row N (field_id=...)', N counting the header as row 1."""
    row = sheet.loc[index]
    if "source_sheet" in sheet.columns:
        return f"{row['source_sheet']}: row {row['source_row']} (field_id={row['field_id']})"
    return f"{sheet.attrs.get('path', 'sample sheet')}: row {int(index) + 2} (field_id={row['field_id']})"


def read_field(sheet: pd.DataFrame, index, channels: Sequence[str]) -> np.ndarray:
    """All channels of one field as a (C, H, W) float32 array, in the config's channel order."""
    where = row_name(sheet, index)
    planes = [read_image(sheet.loc[index, ch], where) for ch in channels]
    shapes = {ch: p.shape for ch, p in zip(channels, planes)}
    if len(set(shapes.values())) > 1:
        raise InputError(f"{where}: channels have different shapes {shapes}")
    return np.stack(planes)


def read_mask(sheet: pd.DataFrame, index) -> np.ndarray:
    """The user's label mask of a field (segmentation method 'provided')."""
    where = row_name(sheet, index)
    mask = read_image(sheet.loc[index, "mask"], where)
    if np.any(mask != np.round(mask)) or mask.min() < 0:
        raise InputError(
            f"{where}: mask {sheet.loc[index, 'mask']} is not a label image (non-integer or negative values)"
        )
    return mask.astype(np.int32)
