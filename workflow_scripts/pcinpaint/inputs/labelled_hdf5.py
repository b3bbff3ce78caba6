"""Labelled single-cell benchmark sets in HDF5: the Chong et al. 2015 yeast crops (DeepLoc files).

The paper's yeast benchmark is the set of single cells Chong et al. labelled by hand, as
distributed with DeepLoc (``Chong_{train,valid,test}_set.hdf5``): each file holds the crops
as one row per cell (``data1``: channels x 64 x 64 values, channel blocks one after the
other, GFP then RFP) and their classes one-hot (``Index1``), with the class names in
``Index1_columns`` where the file carries them (a dataset or a root attribute). The dataset
names, the channel layout and the class names are configurable, so other sets written the
same way read too.

The paper's benchmark is all three files together, as its reference code reads them
(``yeast_model/preprocessing/unpackage_test_set.py`` pools test, valid and train into one set
of 30,889 cells): ``expect`` checks the files hold that many cells in the expected number of
classes before anything is computed from them. The files also carry Chong et al.'s own
CellProfiler measurements of each cell (``Info1``, named in ``Info1_columns``), which become
the ``cellprofiler`` feature set (``features.cellprofiler``).

These cells come without images to pair them in: they are for feature extraction with a
model trained on another dataset (``model_from``) and for the benchmarks. So ``image_id`` is
``<file stem>:<class>`` (grouping cells only for bookkeeping), and, unless the file has a
per-cell protein dataset (``protein_key``), ``protein`` is the class: the files name no
proteins, and per-class groups are what protein-level summaries of a labelled set can use.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import ConfigError, InputError, one_line
from pcinpaint.inputs.annotations import merge_terms

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


def _dataset(handle, path: Path, key: str):
    if key not in handle or not hasattr(handle[key], "shape"):
        raise InputError(f"{path}: no dataset '{key}'; the file holds {sorted(handle.keys())}")
    return handle[key]


def _names(handle, key: str) -> list[str] | None:
    """A list of names the file keeps as a dataset or as a root attribute (None: neither)."""
    if key in handle:
        return _text(handle[key][()])
    if key in handle.attrs:
        return _text(handle.attrs[key])
    return None


def read_labels(handle, path: Path, label_key: str, n_classes: int) -> np.ndarray:
    """The label dataset, checked: one one-hot row of ``n_classes`` columns per cell."""
    labels = np.asarray(_dataset(handle, path, label_key)[()])
    if labels.ndim != 2:
        raise InputError(f"{path}: '{label_key}' has shape {labels.shape}; expected (cells, classes) one-hot rows")
    if labels.shape[1] != n_classes:
        raise InputError(
            f"{path}: '{label_key}' has {labels.shape[1]} label columns but the config lists {n_classes} classes"
        )
    binary = (labels == 0) | (labels == 1)
    one_hot = binary.all(axis=1) & (labels.sum(axis=1) == 1)
    if not one_hot.all():
        bad = int(np.flatnonzero(~one_hot)[0])
        raise InputError(
            f"{path}: '{label_key}' row {bad} is not one-hot ({labels[bad].tolist()}); "
            f"{int((~one_hot).sum())} of {len(labels)} rows are not"
        )
    return labels


@dataclass(frozen=True)
class FileLayout:
    """How a labelled file is laid out: its crop and label datasets, the channels and side of a
    crop and their order in a row (``channels_first``: the channels' planes one after the other,
    DeepLoc; ``channels_last``: pixel-interleaved), the class-name list to check the config's
    classes against (``AUTO``: ``<label_key>_columns`` if present; None: no check), and the
    per-cell protein dataset (None: none)."""

    data_key: str = DEFAULT_DATA_KEY
    label_key: str = DEFAULT_LABEL_KEY
    channels: int = 2
    size: int = 64
    channel_order: str = "channels_first"
    class_key: str | None = AUTO
    protein_key: str | None = None


class LabelledFile:
    """An open labelled file, checked: data rows, one-hot labels, class names."""

    def __init__(self, handle, path: Path, classes: Sequence[str], layout: FileLayout):
        data_key, label_key, channels, size = layout.data_key, layout.label_key, layout.channels, layout.size
        channel_order, class_key, protein_key = layout.channel_order, layout.class_key, layout.protein_key
        if channel_order not in CHANNEL_ORDERS:
            raise ConfigError(
                f"labelled_hdf5.channel_order: unknown order '{channel_order}'; choose one of {list(CHANNEL_ORDERS)}"
            )
        self.path, self.channels, self.size, self.channel_order = path, int(channels), int(size), channel_order
        self.data = _dataset(handle, path, data_key)
        n = self.data.shape[0] if self.data.ndim else 0
        width = int(np.prod(self.data.shape[1:])) if self.data.ndim >= 2 else 0
        want = self.channels * self.size * self.size
        if width != want:
            raise InputError(
                f"{path}: '{data_key}' rows hold {width} values; expected channels x size x size = "
                f"{self.channels} x {self.size} x {self.size} = {want}"
            )
        labels = read_labels(handle, path, label_key, len(classes))
        if labels.shape[0] != n:
            raise InputError(f"{path}: '{label_key}' has {labels.shape[0]} rows but '{data_key}' has {n} cells")
        self._check_class_names(handle, classes, label_key, class_key)
        self.labels = [str(classes[i]) for i in labels.argmax(axis=1)]
        self.proteins = None
        if protein_key:
            if protein_key not in handle:
                raise InputError(f"{path}: no protein dataset '{protein_key}'; the file holds {sorted(handle.keys())}")
            self.proteins = _text(handle[protein_key][()])
            if len(self.proteins) != n:
                raise InputError(
                    f"{path}: '{protein_key}' has {len(self.proteins)} entries but '{data_key}' has {n} cells"
                )

    def _check_class_names(self, handle, classes, label_key: str, class_key: str | None) -> None:
        if class_key is None or class_key == "":
            return
        key = f"{label_key}_columns" if class_key == AUTO else class_key
        names = _names(handle, key)
        if names is None and class_key == AUTO:
            return
        if names is None:
            raise InputError(f"{self.path}: no class names '{class_key}' (dataset or attribute)")
        if [_norm_class(n) for n in names] != [_norm_class(c) for c in classes]:
            raise InputError(
                f"{self.path}: the file's classes {names} differ from the config's {list(classes)} "
                "(names and order must agree)"
            )

    def __len__(self) -> int:
        return len(self.labels)

    def crops(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` as float32 (n, C, size, size)."""
        rows = np.asarray(self.data[start:stop], dtype=np.float32).reshape(-1, self.channels * self.size * self.size)
        if self.channel_order == "channels_first":
            return rows.reshape(-1, self.channels, self.size, self.size)
        return rows.reshape(-1, self.size, self.size, self.channels).transpose(0, 3, 1, 2).copy()


def open_hdf5(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: HDF5 file not found")
    try:
        return _h5py().File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file: {one_line(exc)}") from None


def read_labelled(
    path: str | Path, classes: Sequence[str], layout: FileLayout | None = None
) -> tuple[np.ndarray, list[str]]:
    """All crops of a file as float32 (n, channels, size, size), values as stored, and each
    cell's class name (from the config's ``classes``, in the label columns' order).

    ``layout``: the file's datasets, crop shape and class-name check (default ``FileLayout()``,
    the DeepLoc files).
    """
    path = Path(path)
    with open_hdf5(path) as handle:
        data = LabelledFile(handle, path, classes, layout or FileLayout())
        return data.crops(), list(data.labels)


def class_map(classes: Sequence[str], merge: dict | None) -> dict[str, str | None]:
    """{class: label after ``merge``} (lower-case, as ``annotations.merge_terms``); None drops the class."""
    lower = [str(c).strip().lower() for c in classes]
    unknown = [k for k in (merge or {}) if str(k).strip().lower() not in lower]
    if unknown:
        raise ConfigError(f"labelled_hdf5.merge: {unknown} not among the classes {list(classes)}")
    frame = pd.DataFrame({"protein": lower, "term": lower})
    merged = merge_terms(frame, merge or {})
    kept = dict(zip(merged["protein"], merged["term"]))
    return {c: kept.get(low) for c, low in zip(classes, lower)}


def _file_names(paths: Sequence[str | Path]) -> str:
    return " + ".join(str(p) for p in paths)


def class_counts(
    paths: Sequence[str | Path],
    classes: Sequence[str],
    merge: dict | None = None,
    label_key: str = DEFAULT_LABEL_KEY,
) -> Counter:
    """Cells per class after ``merge`` over all files, from the label datasets alone (a few MB
    for the paper's set), so the check costs nothing next to reading the crops."""
    mapping = class_map(classes, merge)
    counts: Counter = Counter()
    for path in map(Path, paths):
        with open_hdf5(path) as handle:
            labels = read_labels(handle, path, label_key, len(classes))
        for column, n in zip(classes, labels.sum(axis=0)):
            if n and mapping[column] is not None:
                counts[mapping[column]] += int(n)
    return counts


def check_expected(paths: Sequence[str | Path], counts: Counter, expect: dict | None, where: str = "") -> None:
    """A one-line error when the files do not hold the ``expect``-ed cells and classes (after
    the merge), naming the files and the classes found with their cells."""
    if not expect:
        return
    cells, n_classes = sum(counts.values()), len(counts)
    if expect.get("cells", cells) == cells and expect.get("classes", n_classes) == n_classes:
        return
    found = ", ".join(f"{c} {n:,}" for c, n in sorted(counts.items()))
    want = " in ".join(
        part
        for part in (
            f"{expect['cells']:,} cells" if "cells" in expect else "",
            f"{expect['classes']} classes" if "classes" in expect else "",
        )
        if part
    )
    raise InputError(
        f"{_file_names(paths)}: {cells:,} cells in {n_classes} classes after the merge map ({found}); "
        f"{where}labelled_hdf5.expect says {want}"
    )


@functools.cache
def _holds(path: str, key: str, stamp: tuple) -> bool:
    with open_hdf5(path) as handle:
        return key in handle and hasattr(handle[key], "shape")


def missing_dataset(paths: Sequence[str | Path], key: str) -> str | None:
    """Why the files' ``key`` datasets cannot be used (a file lacking it), or None. Asked while
    the job graph is built, so each file is opened once per modification."""
    for path in map(str, paths):
        try:
            stat = os.stat(path)
        except OSError:
            return f"{path}: HDF5 file not found"
        if not _holds(path, key, (stat.st_mtime_ns, stat.st_size)):
            return f"{path} holds no '{key}' dataset (labelled_hdf5.cellprofiler_key)"
    return None


def measurement_names(handle, path: Path, key: str) -> list[str]:
    """Column names of a per-cell measurement dataset: ``<key>_columns`` (a dataset or a root
    attribute), else ``<key>_<i>``."""
    data = _dataset(handle, path, key)
    if data.ndim != 2:
        raise InputError(f"{path}: '{key}' has shape {data.shape}; expected (cells, measurements)")
    names_key = f"{key}_columns"
    names = _names(handle, names_key)
    if names is None:
        return [f"{key}_{i}" for i in range(data.shape[1])]
    if len(names) != data.shape[1]:
        raise InputError(f"{path}: '{names_key}' names {len(names)} columns but '{key}' has {data.shape[1]}")
    return names
