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
from pcinpaint.errors import ConfigError, InputError, one_line
from pcinpaint.image_refs import file_part, is_reference, open_file, parse_reference, plane_header
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
    _check_columns(sheet, required, path)
    for col in sheet.columns:
        sheet[col] = sheet[col].astype(str).str.strip()
    _check_filled(sheet, required, path)
    _check_unique_fields(sheet, path)
    for col in SHEET_OPTIONAL:
        if col in sheet.columns:
            sheet[col] = sheet[col].replace("", pd.NA)
    if schema is not None:
        _check_schema(sheet, schema, path)
    for col in list(channels) + (["mask"] if "mask" in sheet.columns else []):
        sheet[col] = [_resolve(path.parent, p) if isinstance(p, str) else p for p in sheet[col]]
    if "source_sheet" not in sheet.columns:  # errors later name the user's file and row
        sheet["source_sheet"] = str(path.resolve())
        sheet["source_row"] = [str(i + 2) for i in range(len(sheet))]
    sheet.attrs["path"] = str(path)
    return sheet


def _check_columns(sheet: pd.DataFrame, required: Sequence[str], path: Path) -> None:
    """The sheet has every required column and at least one row."""
    missing = [c for c in required if c not in sheet.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; columns are {list(sheet.columns)}")
    if sheet.empty:
        raise InputError(f"{path}: the sample sheet has no rows")


def _check_filled(sheet: pd.DataFrame, required: Sequence[str], path: Path) -> None:
    """No required value is empty; the first empty one is named by row and column."""
    for i, row in sheet.iterrows():
        for col in required:
            if row[col] == "":
                raise InputError(f"{path}: row {i + 2}: empty value in column '{col}'")


def _check_unique_fields(sheet: pd.DataFrame, path: Path) -> None:
    """Field ids are unique: the first repeated one is named with its rows."""
    dup = sheet["field_id"][sheet["field_id"].duplicated(keep=False)]
    if len(dup):
        first = dup.iloc[0]
        rows = [i + 2 for i in dup.index[dup == first]]
        others = dup.nunique() - 1
        more = f"; {others} more duplicated field_id(s)" if others else ""
        raise InputError(f"{path}: field_id '{first}' appears more than once (rows {rows}){more}")


def _check_schema(sheet: pd.DataFrame, schema: dict, path: Path) -> None:
    """Every row matches the sample-sheet schema (missing values as null)."""
    for i, record in enumerate(sheet.to_dict("records")):
        record = {k: (None if pd.isna(v) else v) for k, v in record.items()}
        try:
            validate_instance(record, schema, f"{path}: row {i + 2}")
        except ConfigError as exc:
            raise InputError(str(exc)) from None


#: problems listed in one sheet check before the rest are only counted
MAX_LISTED = 20


def check_files(sheet: pd.DataFrame, channels: Sequence[str], need_mask: bool = False, threads: int = 8) -> None:
    """Every channel (and, when segmentation uses them, mask) file of the whole sheet exists
    and has a readable 2-D image header of the same shape across the row's channels; all
    problems reported together in one ``InputError`` (the first ``MAX_LISTED``, then a count),
    before any job starts. Headers only: pixel checks (non-finite values) stay in the
    segmentation jobs. Each distinct file is opened once (all the planes a sheet names of one
    stack together), on ``threads`` threads (network file systems answer slowly, not busily)."""
    columns = list(channels) + (["mask"] if need_mask else [])
    paths = sheet[columns].to_numpy(dtype=object)
    headers = _headers({p for p in paths.ravel() if isinstance(p, str)}, threads)
    rows, fields = sheet["source_row"].to_numpy(), sheet["field_id"].to_numpy()
    problems = []
    for r, row in enumerate(paths):
        where = f"row {rows[r]} (field_id={fields[r]})"
        shapes = {}
        for col, p in zip(columns, row):
            if not isinstance(p, str):
                continue
            shape, problem = headers[p]
            if problem:
                problems.append(f"{where}: {col}: {problem}")
            elif col in channels and shape is not None:  # None: a PNG/JPEG, its header not read
                shapes[col] = shape
        if len(set(shapes.values())) > 1:
            problems.append(f"{where}: channels have different shapes {shapes}")
    if len(problems) == 1:
        raise InputError(f"{sheet['source_sheet'].iloc[0]}: {problems[0]}")
    if problems:
        listed = problems[:MAX_LISTED]
        more = f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise InputError(
            f"{sheet['source_sheet'].iloc[0]}: {len(problems)} problem(s) with the sheet's image files:\n  "
            + "\n  ".join(listed)
            + more
        )


def _headers(cells: set[str], threads: int) -> dict[str, tuple[tuple[int, ...] | None, str | None]]:
    """``image_header`` of every cell, each file opened once, on ``threads`` threads."""
    from concurrent.futures import ThreadPoolExecutor

    by_file: dict[str, list[str]] = {}
    for cell in sorted(cells):
        by_file.setdefault(file_part(cell), []).append(cell)
    headers = {}
    with ThreadPoolExecutor(threads) as pool:
        for found in pool.map(file_headers, by_file.values(), chunksize=64):
            headers.update(found)
    return headers


def file_headers(cells: list[str]) -> dict[str, tuple[tuple[int, ...] | None, str | None]]:
    """``image_header`` of sheet cells naming one file (a stack: its planes), the file opened once."""
    if not is_reference(cells[0]):
        return {cell: image_header(cell) for cell in cells}
    try:
        image = open_file(file_part(cells[0]))
    except InputError as exc:
        return dict.fromkeys(cells, (None, str(exc)))
    return {cell: image_header(cell, image) for cell in cells}


def image_header(path: str, image=None) -> tuple[tuple[int, ...] | None, str | None]:
    """(2-D shape, None) from an image file's header (a plane reference's file: its metadata;
    ``image``: that file already opened), or (None, the problem)."""
    if is_reference(path):
        try:
            shape, dtype = plane_header(parse_reference(path), image)
        except InputError as exc:
            return None, str(exc)
        return (
            (shape, None)
            if dtype.kind in "buif"
            else (None, f"{path} holds {dtype} pixels; expected integers or floats")
        )
    p = Path(path)
    if not p.exists():
        return None, f"file not found: {p}"
    if p.suffix.lower() not in (".tif", ".tiff"):
        return None, None if p.stat().st_size else f"empty file: {p}"
    import tifffile

    try:
        with tifffile.TiffFile(p) as tif:
            series = tif.series[0]
            shape, dtype = tuple(d for d in series.shape if d != 1), series.dtype
    except Exception as exc:
        return None, f"cannot read TIFF header of {p}: {one_line(exc, 120)}"
    if len(shape) != 2:
        return None, f"{p} has shape {series.shape}; expected one 2-D plane per file"
    if dtype.kind not in "buif":
        return None, f"{p} holds {dtype} pixels; expected integers or floats"
    return shape, None


def _resolve(base: Path, p: str) -> str:
    """A sheet cell's path made absolute (a plane reference keeps its ``#...`` part)."""
    spec = p[len(file_part(p)) :]
    q = Path(file_part(p)).expanduser()
    return str(q if q.is_absolute() else (base / q).resolve()) + spec


def row_name(sheet: pd.DataFrame, index) -> str:
    """'<user's sheet>: row N (field_id=...)', N counting the header as row 1."""
    row = sheet.loc[index]
    if "source_sheet" in sheet.columns:
        return f"{row['source_sheet']}: row {row['source_row']} (field_id={row['field_id']})"
    return f"{sheet.attrs.get('path', 'sample sheet')}: row {int(index) + 2} (field_id={row['field_id']})"


#: what a field's NaN or infinite pixels do: stop the job naming them, or become 0 (counted in QC)
NONFINITE = ("error", "zero")


def read_field(sheet: pd.DataFrame, index, channels: Sequence[str], nonfinite: str = "error") -> np.ndarray:
    """All channels of one field as a (C, H, W) float32 array, in the config's channel order."""
    return read_field_counted(sheet, index, channels, nonfinite)[0]


def read_field_counted(
    sheet: pd.DataFrame, index, channels: Sequence[str], nonfinite: str = "error"
) -> tuple[np.ndarray, int]:
    """``read_field`` and the number of non-finite pixels it found (float TIFFs can hold NaN or
    Inf). They would reach segmentation as an undefined threshold and the crops as silent
    zeros, so by default they stop the job with the file, row and channel; ``nonfinite="zero"``
    reads them as 0 and the caller reports the count."""
    if nonfinite not in NONFINITE:
        raise ValueError(f"nonfinite must be one of {NONFINITE}, got {nonfinite!r}")
    where = row_name(sheet, index)
    planes = [read_image(sheet.loc[index, ch], where) for ch in channels]
    shapes = {ch: p.shape for ch, p in zip(channels, planes)}
    if len(set(shapes.values())) > 1:
        raise InputError(f"{where}: channels have different shapes {shapes}")
    total = 0
    for ch, plane in zip(channels, planes):
        bad = ~np.isfinite(plane)
        n = int(bad.sum())
        if n and nonfinite == "error":
            raise InputError(
                f"{where}: channel '{ch}' ({sheet.loc[index, ch]}) has {n:,} non-finite pixels (NaN or Inf) "
                f"of {plane.size:,}; fix the image, or set the dataset's nonfinite: zero to read them as 0"
            )
        if n:
            plane[bad] = 0.0
        total += n
    return np.stack(planes), total


def read_mask(sheet: pd.DataFrame, index) -> np.ndarray:
    """The user's label mask of a field (segmentation method 'provided')."""
    where = row_name(sheet, index)
    mask = read_image(sheet.loc[index, "mask"], where)
    if np.any(mask != np.round(mask)) or mask.min() < 0:
        raise InputError(
            f"{where}: mask {sheet.loc[index, 'mask']} is not a label image (non-integer or negative values)"
        )
    return mask.astype(np.int32)
