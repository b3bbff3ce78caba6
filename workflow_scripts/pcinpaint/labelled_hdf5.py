"""Labelled single-cell benchmark sets in HDF5: the Chong et al. 2015 yeast crops (DeepLoc files).

The paper's yeast benchmark is the set of single cells Chong et al. labelled by hand, as
distributed with DeepLoc (``Chong_{train,valid,test}_set.hdf5``): each file holds the crops
as one row per cell (``data1``: channels x 64 x 64 values, channel blocks one after the
other, GFP then RFP) and their classes one-hot (``Index1``), with the class names in
``Index1_columns`` where the file carries them (a dataset or a root attribute). The dataset
names, the channel layout and the class names are configurable, so other sets written the
same way read too.

These cells come without images to pair them in: they are for feature extraction with a
model trained on another dataset (``model_from``) and for the benchmarks. So ``image_id`` is
``<file stem>:<class>`` (grouping cells only for bookkeeping), and, unless the file has a
per-cell protein dataset (``protein_key``), ``protein`` is the class: the files name no
proteins, and per-class groups are what protein-level summaries of a labelled set can use.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

from .config import ConfigError
from .crops import preprocess_crops
from .io import InputError, to_uint8, write_crop_store
from .labels import merge_terms
from .precropped import normalise_crops, resize_crops

log = logging.getLogger(__name__)

DEFAULT_DATA_KEY = "data1"
DEFAULT_LABEL_KEY = "Index1"
CHANNEL_ORDERS = ("channels_first", "channels_last")
#: look for the class names in "<label_key>_columns" when the file has it
AUTO = "auto"


def _h5py():
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is in the imaging environment
        raise ConfigError("labelled_hdf5: the h5py package is needed to read HDF5 files; install h5py") from None
    return h5py


def _norm_class(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def _text(values) -> list[str]:
    out = []
    for v in np.asarray(values).ravel():
        out.append(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
    return [v.strip() for v in out]


class _Labelled:
    """An open labelled file, checked: data rows, one-hot labels, class names."""

    def __init__(self, handle, path: Path, classes: Sequence[str], data_key: str, label_key: str,
                 channels: int, size: int, channel_order: str, class_key: str | None, protein_key: str | None):
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(f"labelled_hdf5.channel_order: unknown order '{channel_order}'; "
                              f"choose one of {list(CHANNEL_ORDERS)}")
        self.path, self.channels, self.size, self.channel_order = path, int(channels), int(size), channel_order
        for key in (data_key, label_key):
            if key not in handle or not hasattr(handle[key], "shape"):
                raise InputError(f"{path}: no dataset '{key}'; the file holds {sorted(handle.keys())}")
        self.data = handle[data_key]
        n = self.data.shape[0] if self.data.ndim else 0
        width = int(np.prod(self.data.shape[1:])) if self.data.ndim >= 2 else 0
        want = self.channels * self.size * self.size
        if width != want:
            raise InputError(f"{path}: '{data_key}' rows hold {width} values; expected channels x size x size = "
                             f"{self.channels} x {self.size} x {self.size} = {want}")
        labels = np.asarray(handle[label_key][()])
        if labels.ndim != 2:
            raise InputError(f"{path}: '{label_key}' has shape {labels.shape}; expected (cells, classes) one-hot rows")
        if labels.shape[1] != len(classes):
            raise InputError(f"{path}: '{label_key}' has {labels.shape[1]} label columns but the config lists "
                             f"{len(classes)} classes")
        if labels.shape[0] != n:
            raise InputError(f"{path}: '{label_key}' has {labels.shape[0]} rows but '{data_key}' has {n} cells")
        binary = (labels == 0) | (labels == 1)
        one_hot = binary.all(axis=1) & (labels.sum(axis=1) == 1)
        if not one_hot.all():
            bad = int(np.flatnonzero(~one_hot)[0])
            raise InputError(f"{path}: '{label_key}' row {bad} is not one-hot ({labels[bad].tolist()}); "
                             f"{int((~one_hot).sum())} of {n} rows are not")
        self._check_class_names(handle, classes, label_key, class_key)
        self.labels = [str(classes[i]) for i in labels.argmax(axis=1)]
        self.proteins = None
        if protein_key:
            if protein_key not in handle:
                raise InputError(f"{path}: no protein dataset '{protein_key}'; the file holds {sorted(handle.keys())}")
            self.proteins = _text(handle[protein_key][()])
            if len(self.proteins) != n:
                raise InputError(f"{path}: '{protein_key}' has {len(self.proteins)} entries but '{data_key}' "
                                 f"has {n} cells")

    def _check_class_names(self, handle, classes, label_key: str, class_key: str | None) -> None:
        if class_key is None or class_key == "":
            return
        key = f"{label_key}_columns" if class_key == AUTO else class_key
        if key in handle:
            names = _text(handle[key][()])
        elif key in handle.attrs:
            names = _text(handle.attrs[key])
        elif class_key == AUTO:
            return
        else:
            raise InputError(f"{self.path}: no class names '{class_key}' (dataset or attribute)")
        if [_norm_class(n) for n in names] != [_norm_class(c) for c in classes]:
            raise InputError(f"{self.path}: the file's classes {names} differ from the config's {list(classes)} "
                             "(names and order must agree)")

    def __len__(self) -> int:
        return len(self.labels)

    def crops(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` as float32 (n, C, size, size)."""
        rows = np.asarray(self.data[start:stop], dtype=np.float32).reshape(-1, self.channels * self.size * self.size)
        if self.channel_order == "channels_first":
            return rows.reshape(-1, self.channels, self.size, self.size)
        return rows.reshape(-1, self.size, self.size, self.channels).transpose(0, 3, 1, 2).copy()


def _open(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: HDF5 file not found")
    try:
        return _h5py().File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file: {' '.join(str(exc).split())[:200]}") from None


def read_labelled(path: str | Path, classes: Sequence[str], data_key: str = DEFAULT_DATA_KEY,
                  label_key: str = DEFAULT_LABEL_KEY, channels: int = 2, size: int = 64,
                  channel_order: str = "channels_first", class_key: str | None = AUTO
                  ) -> tuple[np.ndarray, list[str]]:
    """All crops of a file as float32 (n, channels, size, size), values as stored, and each
    cell's class name (from the config's ``classes``, in the label columns' order).

    ``channels_first``: each row is the channels' planes one after the other (DeepLoc);
    ``channels_last``: pixel-interleaved (size, size, channels). ``class_key`` names the
    file's class-name list to check against ``classes`` ("auto": ``<label_key>_columns`` if
    present; None: no check).
    """
    path = Path(path)
    with _open(path) as handle:
        data = _Labelled(handle, path, classes, data_key, label_key, channels, size, channel_order, class_key, None)
        return data.crops(), list(data.labels)


def class_map(classes: Sequence[str], merge: dict | None) -> dict[str, str | None]:
    """{class: label after ``merge``} (lower-case, as ``labels.merge_terms``); None drops the class."""
    lower = [str(c).strip().lower() for c in classes]
    unknown = [k for k in (merge or {}) if str(k).strip().lower() not in lower]
    if unknown:
        raise ConfigError(f"labelled_hdf5.merge: {unknown} not among the classes {list(classes)}")
    frame = pd.DataFrame({"protein": lower, "term": lower})
    merged = merge_terms(frame, merge or {})
    kept = dict(zip(merged["protein"], merged["term"]))
    return {c: kept.get(low) for c, low in zip(classes, lower)}


def build_store(paths: Sequence[str | Path], store_path: str | Path, classes: Sequence[str],
                merge: dict | None = None, channels: Sequence[str] = ("gfp", "rfp"),
                roles: Sequence[str] = ("protein", "structural"), *, data_key: str = DEFAULT_DATA_KEY,
                label_key: str = DEFAULT_LABEL_KEY, size: int = 64, channel_order: str = "channels_first",
                class_key: str | None = AUTO, protein_key: str | None = None, model_size: int = 64,
                normalise: str = "per_crop", percentiles: tuple[float, float] = (0.1, 99.9),
                clip_structural_below: float = 0.0, dataset: str = "", batch_size: int = 2048,
                store_order: Sequence[str] | None = None) -> pd.DataFrame:
    """Crop store and cell table of one or more labelled HDF5 files (in the order given).

    ``channels``/``roles`` name the file's channels in the order they are stored. ``label``
    is the cell's class after ``merge`` (e.g. {"spindle_pole": "spindle"}; a class mapped to
    None or "" drops its cells: the DeepLoc files have 19 classes, the paper's benchmark 17).
    Crops are resized to ``model_size`` if needed, normalised (``precropped``'s
    modes), preprocessed as every crop of the workflow and stored as uint8. ``cell_id`` is
    ``<file stem>:<row>``; ``image_id`` ``<file stem>:<label>``; ``protein`` the per-cell
    names of ``protein_key`` or else the label. ``store_order`` names the channels in the order
    the store keeps them (the dataset's config order, which a model taken from another dataset
    expects); default: the file's order.
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
            handles.append(_open(p))
        files = [_Labelled(h, Path(p), classes, data_key, label_key, len(channels), size, channel_order,
                           class_key, protein_key) for h, p in zip(handles, paths)]
        selections = []
        for stem, data in zip(stems, files):
            label = pd.Series([mapping[c] for c in data.labels], dtype=object)
            keep = label.notna().to_numpy()
            rows = np.flatnonzero(keep)
            table = pd.DataFrame({
                "cell_id": [f"{stem}:{i}" for i in rows],
                "image_id": [f"{stem}:{lab}" for lab in label[keep]],
                "field_id": stem,
                "protein": (np.asarray(data.proteins, dtype=object)[rows] if data.proteins is not None
                            else label[keep].to_numpy()),
                "label": label[keep].to_numpy(),
            })
            tables.append(table)
            selections.append(keep)
            if (~keep).any():
                log.info("%s: %d cells of classes merged away (None) left out", data.path, int((~keep).sum()))
        n_cells = sum(len(t) for t in tables)
        if n_cells == 0:
            raise InputError(f"{paths[0]}: no cells left after the merge map {merge}")

        def batches() -> Iterator[np.ndarray]:
            for data, keep in zip(files, selections):
                for start in range(0, len(data), batch_size):
                    sel = keep[start:start + batch_size]
                    if not sel.any():
                        continue
                    crops = data.crops(start, start + batch_size)[sel]
                    if not np.isfinite(crops).all():
                        raise InputError(f"{data.path}: crops in rows {start}..{start + len(sel) - 1} "
                                         "hold NaN or infinite values")
                    crops = resize_crops(crops, model_size)
                    crops = normalise_crops(crops, normalise, percentiles)
                    crops = preprocess_crops(crops, structural, clip_structural_below)
                    yield to_uint8(crops[:, order])

        write_crop_store(store_path, batches(), n_cells, len(channels), model_size,
                         attrs={"channels": [channels[i] for i in order], "roles": [roles[i] for i in order],
                                "dataset": dataset})
    finally:
        for h in handles:
            h.close()
    cells = pd.concat(tables, ignore_index=True)
    cells["centroid_y"] = np.nan
    cells["centroid_x"] = np.nan
    cells["area"] = np.nan
    cells["store_index"] = np.arange(len(cells), dtype=np.int64)
    cols = ["cell_id", "image_id", "field_id", "protein", "label", "centroid_y", "centroid_x", "area", "store_index"]
    log.info("%s: stored %d labelled cells in %d classes", store_path, len(cells), cells["label"].nunique())
    return cells[cols]
