"""Cells that arrive cropped go straight into the crop store, skipping segmentation.

The library side of rule ``import_crops``. Two sources: crop folders listed by
``inputs.crop_folders.scan_crops`` (the paper's toy sets) and labelled HDF5 benchmark sets read
by ``inputs.labelled_hdf5`` (the Chong et al. crops). Each crop is resized to the model's size,
normalised as its source needs, preprocessed as every crop of the workflow
(``preprocess.preprocess_crops``) and stored as uint8; the cell table that comes back follows
the crop-store contract, with positions and areas unknown (NaN).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.crops.preprocess import NORMALISE, normalise_crops, preprocess_crops, resize_crops
from pcinpaint.crops.store import to_uint8, write_crop_store
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.files import read_image
from pcinpaint.inputs.labelled_hdf5 import (
    FileLayout,
    LabelledFile,
    check_expected,
    class_map,
    open_hdf5,
)

log = logging.getLogger(__name__)

#: optional cell-table columns a crop listing may carry
META = ("cell_line", "antibody", "label")


@dataclass(frozen=True)
class ImportSettings:
    """How crops made elsewhere become stored crops, the same for both sources: the stored size,
    the source's normalisation (``NORMALISE``; ``percentiles`` for ``percentile``), the clipping of
    faint structural signal, and the dataset named in the store's attrs."""

    model_size: int = 64
    normalise: str = "per_crop"
    percentiles: tuple[float, float] = (0.1, 99.9)
    clip_structural_below: float = 0.0
    dataset: str = ""


@dataclass(frozen=True)
class LabelledSet:
    """One or more labelled HDF5 files read as one set, as a ``labelled_hdf5`` config block gives
    them: ``channels``/``roles`` name the files' channels in the order they are stored;
    ``merge`` maps classes to the labels kept (None or "" drops a class's cells); ``expect``
    ({cells, classes}) must match the files after the merge."""

    paths: Sequence[str | Path]
    classes: Sequence[str]
    merge: dict | None = None
    channels: Sequence[str] = ("gfp", "rfp")
    roles: Sequence[str] = ("protein", "structural")
    #: how each file is laid out (its channel count is ``channels``', set as each file is opened)
    layout: FileLayout = FileLayout()
    expect: dict | None = None

    @classmethod
    def from_block(
        cls, block: dict, channels: Sequence[str], roles: Sequence[str], expect: dict | None = None
    ) -> LabelledSet:
        """From a validated ``labelled_hdf5`` block, the files' channels and their roles (the rule
        script maps the block's ``file_channels`` onto the dataset's roles); ``expect`` apart,
        since a rule's params leave it out (it changes no stored crop)."""
        return cls(
            paths=block["paths"],
            classes=block["classes"],
            merge=block["merge"],
            channels=channels,
            roles=roles,
            layout=FileLayout(
                data_key=block["data_key"],
                label_key=block["label_key"],
                channel_order=block["channel_order"],
                protein_key=block["protein_key"],
            ),
            expect=expect,
        )


def _stored(crops: np.ndarray, structural: Sequence[int], settings: ImportSettings) -> np.ndarray:
    """Crops as read (N, C, H, W) -> the stored uint8 crops: resized, normalised as the source
    needs, then preprocessed as every crop of the workflow."""
    crops = resize_crops(crops, settings.model_size)
    crops = normalise_crops(crops, settings.normalise, settings.percentiles)
    return to_uint8(preprocess_crops(crops, structural, settings.clip_structural_below))


def _without_positions(cells: pd.DataFrame) -> pd.DataFrame:
    """The crop-store columns of a cell table whose cells came cropped: positions and areas are
    unknown (NaN), store order is the table's order."""
    return cells.assign(
        centroid_y=np.nan, centroid_x=np.nan, area=np.nan, store_index=np.arange(len(cells), dtype=np.int64)
    )


# --------------------------------------------------------------------------------------------
# Crop folders
# --------------------------------------------------------------------------------------------


def _read_cell(row, channels: Sequence[str], cell_id: str) -> tuple[np.ndarray, list[str]]:
    planes, paths = [], []
    for ch in channels:
        path = row.get(ch)
        if path is None or (not isinstance(path, str) and pd.isna(path)) or str(path).strip() == "":
            raise InputError(f"cell {cell_id}: no file for channel '{ch}'")
        if not Path(path).exists():
            raise InputError(f"cell {cell_id}: channel '{ch}' file missing: {path}")
        plane = read_image(path, where=f"cell {cell_id}")
        if planes and plane.shape != planes[0].shape:
            raise InputError(
                f"{path}: crop is {plane.shape[0]}x{plane.shape[1]} but channel '{channels[0]}' of "
                f"cell {cell_id} is {planes[0].shape[0]}x{planes[0].shape[1]}"
            )
        if not np.isfinite(plane).all():
            raise InputError(f"{path}: crop holds NaN or infinite values")
        planes.append(plane)
        paths.append(str(path))
    return np.stack(planes), paths


def _checked_listing(cells_listing: pd.DataFrame, channels: list[str], normalise: str) -> pd.DataFrame:
    """The listing, renumbered, once it can be stored: a known normalisation, a path column per
    channel, cells, and no cell listed twice (checked before any file is read)."""
    if normalise not in NORMALISE:
        raise ConfigError(f"crop_folders.normalise: unknown mode '{normalise}'; choose one of {list(NORMALISE)}")
    missing = [ch for ch in channels if ch not in cells_listing.columns]
    if missing:
        raise InputError(
            f"crop listing: no path column for channel(s) {missing}; columns are {list(cells_listing.columns)}"
        )
    if cells_listing.empty:
        raise InputError("crop listing: no cells")
    listing = cells_listing.reset_index(drop=True)
    dup = listing["cell_id"][listing["cell_id"].duplicated()]
    if len(dup):
        raise InputError(f"crop listing: cell_id '{dup.iloc[0]}' appears more than once")
    return listing


def _first_crop(crop: np.ndarray, cell_id: str, model_size: int) -> tuple[tuple[int, int], str]:
    """The set's crop size, from its first cell, and that cell; a warning where the crops are not
    square (resizing changes their aspect)."""
    if crop.shape[1] != crop.shape[2]:
        log.warning(
            "crops are %dx%d, not square: resizing to %d x %d changes their aspect",
            crop.shape[1],
            crop.shape[2],
            model_size,
            model_size,
        )
    return crop.shape[1:], cell_id


def _check_same_size(crop: np.ndarray, paths: list[str], reference: tuple[tuple[int, int], str]) -> None:
    """A crop of another size than the set's first stops the import, naming its file."""
    if crop.shape[1:] != reference[0]:
        (h, w), first = reference
        raise InputError(
            f"{paths[0]}: crop size {crop.shape[1]}x{crop.shape[2]} differs from the set's {h}x{w} (cell {first})"
        )


def _folder_batches(
    listing: pd.DataFrame, channels: list[str], structural: list[int], settings: ImportSettings, batch_size: int
) -> Iterator[np.ndarray]:
    """The stored crops of a listing, ``batch_size`` cells at a time, in the listing's order."""
    reference = None
    for start in range(0, len(listing), batch_size):
        part = listing.iloc[start : start + batch_size]
        raw = []
        for _, row in part.iterrows():
            crop, paths = _read_cell(row, channels, row["cell_id"])
            if reference is None:
                reference = _first_crop(crop, row["cell_id"], settings.model_size)
            else:
                _check_same_size(crop, paths, reference)
            raw.append(crop)
        yield _stored(np.stack(raw), structural, settings)


def _folder_cells(listing: pd.DataFrame) -> pd.DataFrame:
    """The cell table of a stored listing: its ids, the optional columns it fills, no positions."""
    cells = pd.DataFrame({c: listing[c] for c in ("cell_id", "image_id", "field_id", "protein")})
    for col in META:
        if col in listing.columns and not listing[col].isna().all():
            cells[col] = listing[col]
    return _without_positions(cells)


def store_crop_folders(
    cells_listing: pd.DataFrame,
    store_path: str | Path,
    channels: Sequence[str],
    structural: Sequence[int],
    settings: ImportSettings | None = None,
    *,
    batch_size: int = 512,
) -> pd.DataFrame:
    """Write the crop store of a ``scan_crops`` listing and return its cell table.

    Every crop's channel files must be 2-D and of one size, the same for the whole set (the
    first cell's); crops are resized to ``settings.model_size``, normalised
    (``settings.normalise``), then ``preprocess_crops`` (per-crop rescaling, structural
    clipping) and stored as uint8. The store's attrs hold ``channels``, ``roles``
    (``structural`` at the ``structural`` indices, ``protein`` elsewhere) and
    ``settings.dataset``. Cells keep the listing's order.
    """
    settings = settings or ImportSettings()
    channels = list(channels)
    structural = [int(i) for i in structural]
    listing = _checked_listing(cells_listing, channels, settings.normalise)
    roles = ["structural" if i in structural else "protein" for i in range(len(channels))]
    write_crop_store(
        store_path,
        _folder_batches(listing, channels, structural, settings, batch_size),
        len(listing),
        len(channels),
        settings.model_size,
        attrs={"channels": channels, "roles": roles, "dataset": settings.dataset},
    )
    cells = _folder_cells(listing)
    log.info(
        "%s: stored %d crops (%s, %s normalisation)", store_path, len(cells), "x".join(channels), settings.normalise
    )
    return cells


# --------------------------------------------------------------------------------------------
# Labelled HDF5 sets
# --------------------------------------------------------------------------------------------


def _store_positions(labelled: LabelledSet, store_order: Sequence[str] | None) -> list[int]:
    """The file channel each stored channel comes from, once the set's layout is checked (channels
    and roles of one length, each channel stored once, files to read)."""
    channels, roles = list(labelled.channels), list(labelled.roles)
    if len(channels) != len(roles):
        raise ConfigError(f"labelled_hdf5: {len(channels)} channels {channels} but {len(roles)} roles {roles}")
    order = [channels.index(c) for c in store_order] if store_order is not None else list(range(len(channels)))
    if sorted(order) != list(range(len(channels))):
        raise ConfigError(f"labelled_hdf5: store order {store_order} must list each of {channels} once")
    if not labelled.paths:
        raise ConfigError("labelled_hdf5.paths: no HDF5 files given")
    return order


def _stems(paths: Sequence[str | Path]) -> list[str]:
    """Each file's name up to its first dot, the prefix of its cells' ids: distinct, or ids would collide."""
    stems = [Path(p).name.split(".")[0] for p in paths]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"labelled_hdf5.paths: file names {stems} repeat; cell ids would collide")
    return stems


def _open_file(handle, path: str | Path, labelled: LabelledSet) -> LabelledFile:
    """One open file of the set, its layout checked against the set's."""
    return LabelledFile(handle, Path(path), labelled.classes, replace(labelled.layout, channels=len(labelled.channels)))


def _file_cells(stem: str, data: LabelledFile, mapping: dict) -> tuple[pd.DataFrame, np.ndarray]:
    """A file's cell table (cells of classes merged away left out) and which of its rows it keeps."""
    label = pd.Series([mapping[c] for c in data.labels], dtype=object)
    keep = label.notna().to_numpy()
    rows = np.flatnonzero(keep)
    table = pd.DataFrame(
        {
            "cell_id": [f"{stem}:{i}" for i in rows],
            "image_id": [f"{stem}:{lab}" for lab in label[keep]],
            "field_id": stem,
            "protein": (
                np.asarray(data.proteins, dtype=object)[rows] if data.proteins is not None else label[keep].to_numpy()
            ),
            "label": label[keep].to_numpy(),
        }
    )
    if (~keep).any():
        log.info("%s: %d cells of classes merged away (None) left out", data.path, int((~keep).sum()))
    return table, keep


def _labelled_batches(
    files: list[LabelledFile],
    selections: list[np.ndarray],
    order: list[int],
    settings: ImportSettings,
    batch_size: int,
    structural: list[int],
) -> Iterator[np.ndarray]:
    """The stored crops of the kept rows, file by file, ``batch_size`` rows at a time, in store order."""
    for data, keep in zip(files, selections):
        for start in range(0, len(data), batch_size):
            sel = keep[start : start + batch_size]
            if not sel.any():
                continue
            crops = data.crops(start, start + batch_size)[sel]
            if not np.isfinite(crops).all():
                raise InputError(
                    f"{data.path}: crops in rows {start}..{start + len(sel) - 1} hold NaN or infinite values"
                )
            yield _stored(crops, structural, settings)[:, order]


def _write_labelled(
    labelled: LabelledSet, store_path: str | Path, settings: ImportSettings, order: list[int], batch_size: int
) -> list[pd.DataFrame]:
    """Open the set's files, build their cell tables, check them against ``expect`` and write the
    store; the files are closed whatever happens. Returns the cell tables, file by file."""
    channels, roles = list(labelled.channels), list(labelled.roles)
    structural = [i for i, r in enumerate(roles) if r == "structural"]
    mapping = class_map(labelled.classes, labelled.merge)
    stems = _stems(labelled.paths)
    tables, handles = [], []
    try:
        for p in labelled.paths:
            handles.append(open_hdf5(p))
        files = [_open_file(h, p, labelled) for h, p in zip(handles, labelled.paths)]
        selections = []
        for stem, data in zip(stems, files):
            table, keep = _file_cells(stem, data, mapping)
            tables.append(table)
            selections.append(keep)
        n_cells = sum(len(t) for t in tables)
        check_expected(labelled.paths, Counter(label for t in tables for label in t["label"]), labelled.expect)
        if n_cells == 0:
            raise InputError(f"{labelled.paths[0]}: no cells left after the merge map {labelled.merge}")
        write_crop_store(
            store_path,
            _labelled_batches(files, selections, order, settings, batch_size, structural),
            n_cells,
            len(channels),
            settings.model_size,
            attrs={
                "channels": [channels[i] for i in order],
                "roles": [roles[i] for i in order],
                "dataset": settings.dataset,
            },
        )
    finally:
        for h in handles:
            h.close()
    return tables


def store_labelled_hdf5(
    labelled: LabelledSet,
    store_path: str | Path,
    settings: ImportSettings | None = None,
    *,
    store_order: Sequence[str] | None = None,
    batch_size: int = 1024,
) -> pd.DataFrame:
    """Crop store and cell table of one or more labelled HDF5 files (in the order given).

    ``label`` is the cell's class after ``labelled.merge`` (e.g. {"spindle_pole": "spindle"}; a
    class mapped to None or "" drops its cells: the DeepLoc files have 19 classes, the paper's
    benchmark 17). Crops are resized to ``settings.model_size`` if needed, normalised (the crop
    folders' modes), preprocessed as every crop of the workflow and stored as uint8.
    ``cell_id`` is ``<file stem>:<row>``; ``image_id`` ``<file stem>:<label>``; ``protein`` the
    per-cell names of ``protein_key`` or else the label. ``store_order`` names the channels in
    the order the store keeps them (the dataset's config order, which a model taken from
    another dataset expects); default: the files' order. ``labelled.expect`` ({cells, classes})
    must match the files' cells and classes after the merge, or nothing is stored.
    """
    order = _store_positions(labelled, store_order)
    tables = _write_labelled(labelled, store_path, settings or ImportSettings(), order, batch_size)
    cells = _without_positions(pd.concat(tables, ignore_index=True))
    cols = ["cell_id", "image_id", "field_id", "protein", "label", "centroid_y", "centroid_x", "area", "store_index"]
    log.info("%s: stored %d labelled cells in %d classes", store_path, len(cells), cells["label"].nunique())
    return cells[cols]
