"""Reading users' inputs and writing the workflow's stores, safely.

Everything that touches the file system goes through here: sample sheets (validated, paths
resolved against the sheet's folder), field images (one-line errors naming the file and the
sheet row), tables written atomically, and the crop store with the one reader every later
stage uses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import tifffile

SHEET_REQUIRED = ("image_id", "field_id", "protein")
#: optional per-field metadata; the single-cell variation columns come from the HPA location table
SHEET_OPTIONAL = ("cell_line", "antibody", "label", "mask", "sc_variation_intensity", "sc_variation_spatial")


class InputError(ValueError):
    """A problem with a user's input file, described in one line naming the file."""


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary file beside ``path`` (same suffix, so writers pick the same format);
    it replaces ``path`` only when the block succeeds, so readers never see a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; outputs get the usual mode
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table atomically; the format follows the suffix (.parquet, .tsv, .csv)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif path.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_csv(tmp, sep="\t", index=False)
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a parquet, CSV or TSV table (separator from the suffix, else sniffed)."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        if path.suffix == ".csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False)
        if path.suffix in (".tsv", ".tab", ".txt"):
            return pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
        return pd.read_csv(path, sep=None, engine="python", dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:  # parser errors carry multi-line messages
        raise InputError(f"{path}: cannot parse table: {' '.join(str(exc).split())}") from None


# --------------------------------------------------------------------------------------------
# Sample sheets and fields
# --------------------------------------------------------------------------------------------


def read_samplesheet(path: str | Path, channels: Sequence[str], need_mask: bool = False,
                     schema: dict | None = None) -> pd.DataFrame:
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
        from .config import ConfigError, validate_instance

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


def read_image(path: str | Path, where: str = "") -> np.ndarray:
    """Read one 2-D image plane (TIFF, or PNG/JPEG through tifffile's fallbacks) as float32."""
    path = Path(path)
    prefix = f"{where}: " if where else ""
    if not path.exists():
        raise InputError(f"{prefix}image file not found: {path}")
    try:
        if path.suffix.lower() in (".tif", ".tiff"):
            img = tifffile.imread(path)
        else:
            from skimage.io import imread

            img = imread(path)
    except Exception as exc:
        raise InputError(f"{prefix}cannot read image {path}: {' '.join(str(exc).split())[:200]}") from None
    img = np.squeeze(np.asarray(img))
    if img.size == 0:
        raise InputError(f"{prefix}cannot read image {path}: the file holds no image data (corrupt or truncated?)")
    if img.ndim != 2:
        raise InputError(f"{prefix}image {path} has shape {img.shape}; expected one 2-D plane per channel file")
    return img.astype(np.float32, copy=False)


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
        raise InputError(f"{where}: mask {sheet.loc[index, 'mask']} is not a label image (non-integer or negative values)")
    return mask.astype(np.int32)


# --------------------------------------------------------------------------------------------
# Crop store
# --------------------------------------------------------------------------------------------

#: cells per shard file (one file per 1,024 cells keeps file counts small on cluster file
#: systems); inside a shard, chunks of 16 cells: sequential reads decode few chunks, random
#: reads decode little beyond the cell asked for
SHARD_CELLS = 1024
CHUNK_CELLS = 16
#: stores up to this size are held in memory by CropStore (uint8: 12 KiB per 3-channel cell)
DEFAULT_MEMORY_LIMIT = 4 * 2**30


def to_uint8(crops: np.ndarray) -> np.ndarray:
    """Preprocessed float crops in [0, 1] -> stored uint8 (value x 255, rounded)."""
    return np.clip(np.rint(np.asarray(crops, np.float32) * 255.0), 0, 255).astype(np.uint8)


def write_crop_store(path: str | Path, batches: Iterable[np.ndarray], n_cells: int, n_channels: int,
                     size: int = 64, attrs: dict | None = None) -> Path:
    """Write uint8 crop batches (n, C, size, size), in order, to a sharded zarr array.

    Written to a temporary folder beside the target and renamed at the end, so a failed or
    interrupted write never leaves a half store behind.
    """
    import zarr

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        shard = min(SHARD_CELLS, max(CHUNK_CELLS, -(-n_cells // CHUNK_CELLS) * CHUNK_CELLS))
        arr = zarr.create_array(
            store=str(tmp), shape=(n_cells, n_channels, size, size), dtype="uint8",
            chunks=(CHUNK_CELLS, n_channels, size, size), shards=(shard, n_channels, size, size),
            fill_value=0, overwrite=True,
        )
        arr.attrs.update(attrs or {})
        buffer, start = [], 0
        buffered = 0

        def flush(final=False):
            nonlocal buffer, start, buffered
            if not buffer:
                return
            block = np.concatenate(buffer)
            # write whole shards only (partial shard writes are read-modify-write)
            n_full = len(block) if final else (len(block) // shard) * shard
            if n_full:
                arr[start:start + n_full] = block[:n_full]
                start += n_full
            buffer = [block[n_full:]] if n_full < len(block) else []
            buffered = len(block) - n_full

        for batch in batches:
            batch = np.asarray(batch)
            if batch.dtype != np.uint8 or batch.shape[1:] != (n_channels, size, size):
                raise ValueError(f"crop batch must be uint8 (n, {n_channels}, {size}, {size}), got {batch.dtype} {batch.shape}")
            buffer.append(batch)
            buffered += len(batch)
            if buffered >= shard:
                flush()
        flush(final=True)
        if start != n_cells:
            raise ValueError(f"crop store {path}: wrote {start} crops, expected {n_cells}")
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return path


class CropStore:
    """Read access to a crop store, held in memory when it fits.

    Zarr pays about a millisecond per chunk read, so random training batches straight from
    disk reach only ~1,000 crops/s; a store under ``memory_limit`` bytes is loaded once
    (sequentially, tens of thousands of crops/s) and batches are then plain array indexing.
    Larger stores are read from disk batch by batch.
    """

    def __init__(self, path: str | Path, memory_limit: int | None = DEFAULT_MEMORY_LIMIT):
        import zarr

        self.path = Path(path)
        if not self.path.exists():
            raise InputError(f"{self.path}: crop store not found")
        try:
            self.array = zarr.open_array(str(self.path), mode="r")
        except Exception as exc:
            raise InputError(f"{self.path}: not a readable crop store: {' '.join(str(exc).split())[:200]}") from None
        if self.array.dtype != np.uint8 or self.array.ndim != 4:
            raise InputError(f"{self.path}: expected a uint8 (cells, channels, H, W) array, got {self.array.dtype} {self.array.shape}")
        nbytes = int(np.prod(self.array.shape))
        self.memory = self.array[:] if memory_limit is not None and nbytes <= memory_limit else None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def attrs(self) -> dict:
        return dict(self.array.attrs)

    def __len__(self) -> int:
        return self.shape[0]

    def raw(self, indices: Sequence[int] | slice | None = None) -> np.ndarray:
        """Stored uint8 crops for ``indices`` (any order, repeats allowed), a slice, or all."""
        source = self.memory if self.memory is not None else self.array
        if indices is None:
            return np.asarray(source[:])
        if isinstance(indices, slice):
            return np.asarray(source[indices])
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"{self.path}: crop index out of range 0..{len(self) - 1}")
        if self.memory is not None:
            return self.memory[idx]
        out = np.empty((len(idx),) + self.shape[1:], np.uint8)
        if len(idx):
            unique, inverse = np.unique(idx, return_inverse=True)
            out[:] = self.array.get_orthogonal_selection((unique,))[inverse]
        return out


def open_crop_store(path: str | Path, memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> CropStore:
    """Open a crop store for repeated reads (training, extraction): see ``CropStore``."""
    return CropStore(path, memory_limit)


def read_crops(store, indices: Sequence[int] | slice | None = None) -> np.ndarray:
    """Crops as float32 in [0, 1], shape (n, C, H, W): the one reader every stage uses.

    ``store`` is a path (read once, nothing kept) or a ``CropStore`` from
    ``open_crop_store`` (for repeated reads); ``indices`` selects cells in any order (a
    random training batch), a slice, or None for all.
    """
    if not isinstance(store, CropStore):
        store = CropStore(store, memory_limit=None)
    return store.raw(indices).astype(np.float32) / np.float32(255.0)
