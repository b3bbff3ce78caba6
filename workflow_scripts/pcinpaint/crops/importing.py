"""Cells that arrive cropped go straight into the crop store, skipping segmentation.

Two sources: crop folders listed by ``inputs.precropped.scan_crops`` (the paper's toy sets) and
labelled HDF5 benchmark sets read by ``inputs.labelled_hdf5`` (the Chong et al. crops). Each
crop is resized to the model's size, normalised as its source needs, preprocessed as every crop
of the workflow (``preprocess.preprocess_crops``) and stored as uint8; the cell table that
comes back follows the crop-store contract, with positions and areas unknown (NaN).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.crops.preprocess import NORMALISE, normalise_crops, preprocess_crops, resize_crops
from pcinpaint.crops.store import to_uint8, write_crop_store
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.files import read_image
from pcinpaint.inputs.labelled_hdf5 import (
    AUTO,
    DEFAULT_DATA_KEY,
    DEFAULT_LABEL_KEY,
    LabelledFile,
    check_expected,
    class_map,
    open_hdf5,
)

log = logging.getLogger(__name__)

#: optional cell-table columns a crop listing may carry
META = ("cell_line", "antibody", "label")


def _stored(
    crops: np.ndarray,
    model_size: int,
    normalise: str,
    percentiles: tuple[float, float],
    structural: Sequence[int],
    clip_structural_below: float,
) -> np.ndarray:
    """Crops as read (N, C, H, W) -> the stored uint8 crops: resized, normalised as the source
    needs, then preprocessed as every crop of the workflow."""
    crops = resize_crops(crops, model_size)
    crops = normalise_crops(crops, normalise, percentiles)
    return to_uint8(preprocess_crops(crops, structural, clip_structural_below))


def _without_positions(cells: pd.DataFrame) -> pd.DataFrame:
    """The crop-store columns of a cell table whose cells came cropped: positions and areas are
    unknown (NaN), store order is the table's order."""
    return cells.assign(
        centroid_y=np.nan, centroid_x=np.nan, area=np.nan, store_index=np.arange(len(cells), dtype=np.int64)
    )


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


def store_crop_folders(
    cells_listing: pd.DataFrame,
    store_path: str | Path,
    channels: Sequence[str],
    structural: Sequence[int],
    model_size: int = 64,
    normalise: str = "per_crop",
    clip_structural_below: float = 0.0,
    *,
    roles: Sequence[str] | None = None,
    dataset: str = "",
    percentiles: tuple[float, float] = (0.1, 99.9),
    batch_size: int = 512,
) -> pd.DataFrame:
    """Write the crop store of a ``scan_crops`` listing and return its cell table.

    Every crop's channel files must be 2-D and of one size, the same for the whole set (the
    first cell's); crops are resized to ``model_size``, normalised (``normalise``), then
    ``preprocess_crops`` (per-crop rescaling, structural clipping) and stored as uint8. The
    store's attrs hold ``channels``, ``roles`` (default: ``structural`` at the ``structural``
    indices, ``protein`` elsewhere) and ``dataset``. Cells keep the listing's order.
    """
    channels = list(channels)
    structural = [int(i) for i in structural]
    if normalise not in NORMALISE:
        raise ConfigError(f"crops.normalise: unknown mode '{normalise}'; choose one of {list(NORMALISE)}")
    missing = [ch for ch in channels if ch not in cells_listing.columns]
    if missing:
        raise InputError(
            f"crop listing: no path column for channel(s) {missing}; columns are {list(cells_listing.columns)}"
        )
    if cells_listing.empty:
        raise InputError("crop listing: no cells")
    if roles is None:
        roles = ["structural" if i in structural else "protein" for i in range(len(channels))]
    roles = list(roles)
    if len(roles) != len(channels):
        raise ConfigError(f"crops: {len(channels)} channels {channels} but {len(roles)} roles {roles}")
    listing = cells_listing.reset_index(drop=True)
    dup = listing["cell_id"][listing["cell_id"].duplicated()]
    if len(dup):
        raise InputError(f"crop listing: cell_id '{dup.iloc[0]}' appears more than once")

    def batches() -> Iterator[np.ndarray]:
        reference = None
        for start in range(0, len(listing), batch_size):
            part = listing.iloc[start : start + batch_size]
            raw = []
            for _, row in part.iterrows():
                crop, paths = _read_cell(row, channels, row["cell_id"])
                if reference is None:
                    reference = (crop.shape[1:], row["cell_id"])
                    if crop.shape[1] != crop.shape[2]:
                        log.warning(
                            "crops are %dx%d, not square: resizing to %d x %d changes their aspect",
                            crop.shape[1],
                            crop.shape[2],
                            model_size,
                            model_size,
                        )
                elif crop.shape[1:] != reference[0]:
                    (h, w), first = reference
                    raise InputError(
                        f"{paths[0]}: crop size {crop.shape[1]}x{crop.shape[2]} differs from the set's "
                        f"{h}x{w} (cell {first})"
                    )
                raw.append(crop)
            yield _stored(np.stack(raw), model_size, normalise, percentiles, structural, clip_structural_below)

    write_crop_store(
        store_path,
        batches(),
        len(listing),
        len(channels),
        model_size,
        attrs={"channels": channels, "roles": roles, "dataset": dataset},
    )
    cells = pd.DataFrame({c: listing[c] for c in ("cell_id", "image_id", "field_id", "protein")})
    for col in META:
        if col in listing.columns and not listing[col].isna().all():
            cells[col] = listing[col]
    cells = _without_positions(cells)
    log.info("%s: stored %d crops (%s, %s normalisation)", store_path, len(cells), "x".join(channels), normalise)
    return cells


def store_labelled_hdf5(
    paths: Sequence[str | Path],
    store_path: str | Path,
    classes: Sequence[str],
    merge: dict | None = None,
    channels: Sequence[str] = ("gfp", "rfp"),
    roles: Sequence[str] = ("protein", "structural"),
    *,
    data_key: str = DEFAULT_DATA_KEY,
    label_key: str = DEFAULT_LABEL_KEY,
    size: int = 64,
    channel_order: str = "channels_first",
    class_key: str | None = AUTO,
    protein_key: str | None = None,
    model_size: int = 64,
    normalise: str = "per_crop",
    percentiles: tuple[float, float] = (0.1, 99.9),
    clip_structural_below: float = 0.0,
    dataset: str = "",
    batch_size: int = 1024,
    store_order: Sequence[str] | None = None,
    expect: dict | None = None,
) -> pd.DataFrame:
    """Crop store and cell table of one or more labelled HDF5 files (in the order given).

    ``channels``/``roles`` name the file's channels in the order they are stored. ``label``
    is the cell's class after ``merge`` (e.g. {"spindle_pole": "spindle"}; a class mapped to
    None or "" drops its cells: the DeepLoc files have 19 classes, the paper's benchmark 17).
    Crops are resized to ``model_size`` if needed, normalised (``precropped``'s
    modes), preprocessed as every crop of the workflow and stored as uint8. ``cell_id`` is
    ``<file stem>:<row>``; ``image_id`` ``<file stem>:<label>``; ``protein`` the per-cell
    names of ``protein_key`` or else the label. ``store_order`` names the channels in the order
    the store keeps them (the dataset's config order, which a model taken from another dataset
    expects); default: the file's order. ``expect`` ({cells, classes}) must match the files'
    cells and classes after the merge, or nothing is stored.
    """
    channels, roles = list(channels), list(roles)
    if len(channels) != len(roles):
        raise ConfigError(f"labelled_hdf5: {len(channels)} channels {channels} but {len(roles)} roles {roles}")
    order = [channels.index(c) for c in store_order] if store_order is not None else list(range(len(channels)))
    if sorted(order) != list(range(len(channels))):
        raise ConfigError(f"labelled_hdf5: store order {store_order} must list each of {channels} once")
    if not paths:
        raise ConfigError("labelled_hdf5.paths: no HDF5 files given")
    structural = [i for i, r in enumerate(roles) if r == "structural"]
    mapping = class_map(classes, merge)
    stems = [Path(p).name.split(".")[0] for p in paths]
    if len(set(stems)) != len(stems):
        raise ConfigError(f"labelled_hdf5.paths: file names {stems} repeat; cell ids would collide")

    tables, handles = [], []
    try:
        for p in paths:
            handles.append(open_hdf5(p))
        files = [
            LabelledFile(
                h, Path(p), classes, data_key, label_key, len(channels), size, channel_order, class_key, protein_key
            )
            for h, p in zip(handles, paths)
        ]
        selections = []
        for stem, data in zip(stems, files):
            label = pd.Series([mapping[c] for c in data.labels], dtype=object)
            keep = label.notna().to_numpy()
            rows = np.flatnonzero(keep)
            table = pd.DataFrame(
                {
                    "cell_id": [f"{stem}:{i}" for i in rows],
                    "image_id": [f"{stem}:{lab}" for lab in label[keep]],
                    "field_id": stem,
                    "protein": (
                        np.asarray(data.proteins, dtype=object)[rows]
                        if data.proteins is not None
                        else label[keep].to_numpy()
                    ),
                    "label": label[keep].to_numpy(),
                }
            )
            tables.append(table)
            selections.append(keep)
            if (~keep).any():
                log.info("%s: %d cells of classes merged away (None) left out", data.path, int((~keep).sum()))
        n_cells = sum(len(t) for t in tables)
        check_expected(paths, Counter(label for t in tables for label in t["label"]), expect)
        if n_cells == 0:
            raise InputError(f"{paths[0]}: no cells left after the merge map {merge}")

        def batches() -> Iterator[np.ndarray]:
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
                    stored = _stored(crops, model_size, normalise, percentiles, structural, clip_structural_below)
                    yield stored[:, order]

        write_crop_store(
            store_path,
            batches(),
            n_cells,
            len(channels),
            model_size,
            attrs={"channels": [channels[i] for i in order], "roles": [roles[i] for i in order], "dataset": dataset},
        )
    finally:
        for h in handles:
            h.close()
    cells = pd.concat(tables, ignore_index=True)
    cells = _without_positions(cells)
    cols = ["cell_id", "image_id", "field_id", "protein", "label", "centroid_y", "centroid_x", "area", "store_index"]
    log.info("%s: stored %d labelled cells in %d classes", store_path, len(cells), cells["label"].nunique())
    return cells[cols]
