"""Chong et al.'s CellProfiler measurements, carried by a labelled HDF5 set, as a feature set.

The paper's CellProfiler baseline (68.15 at k = 11) is the measurements Chong et al. 2015 made of
these very cells to train their classifier, obtained from the authors; the DeepLoc files carry
them per cell as ``Info1`` with their names in ``Info1_columns``. The paper's reference code
(``yeast_model/preprocessing/unpackage_test_set.py``) writes every ``Info1`` column, selecting
none, so every column is a candidate here too. As for any imported table, a column holding text,
a blank, NaN or an infinite value is not a feature (logged), nor is a ``Metadata_*`` column (the
feature-table contract's prefix, CellProfiler's for metadata). Rows are read file by file for the
stored cells only (``cell_id`` ``<file stem>:<row>``), a block at a time, in store order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.features.imported import in_store_order
from pcinpaint.features.table import METADATA_PREFIX, feature_table_writer
from pcinpaint.inputs.labelled_hdf5 import measurement_names, open_hdf5

log = logging.getLogger(__name__)

#: cells per block read from the files
BLOCK_ROWS = 8_192


def _numbers(block: np.ndarray) -> np.ndarray:
    """float64 values of a block; text that is no number (and blanks) becomes NaN."""
    if block.dtype.kind in "biuf":
        return block.astype(np.float64)
    text = pd.DataFrame(block).apply(
        lambda c: c.map(lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
    )
    return text.apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)


class Measurements:
    """The stored cells' rows of every file's measurement dataset, in store order."""

    def __init__(self, stack: ExitStack, paths: Sequence[str | Path], key: str, cells: pd.DataFrame):
        self.paths = [Path(p) for p in paths]
        stems = {p.name.split(".")[0]: i for i, p in enumerate(self.paths)}
        parts = cells["cell_id"].astype(str).str.rsplit(":", n=1, expand=True)
        unknown = ~parts[0].isin(list(stems))
        if unknown.any():
            raise InputError(
                f"cell {cells['cell_id'].iloc[int(np.flatnonzero(unknown)[0])]!r} is from none of the files "
                f"{[str(p) for p in self.paths]}; rebuild the crops (snakemake -R import_crops)"
            )
        self.file = parts[0].map(stems).to_numpy(np.int64)
        self.row = parts[1].astype(np.int64).to_numpy()
        self.data, names = [], None
        for path in self.paths:
            handle = stack.enter_context(open_hdf5(path))
            these = measurement_names(handle, path, key)  # checks the dataset is there
            if names is not None and these != names:
                raise InputError(f"{path}: the '{key}' columns differ from those of {self.paths[0]}")
            names = these
            if handle[key].shape[0] <= self.row[self.file == len(self.data)].max(initial=-1):
                raise InputError(f"{path}: '{key}' has {handle[key].shape[0]} rows, fewer than the stored cells need")
            self.data.append(handle[key])
        self.names = list(names or [])

    def blocks(self, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """float64 (cells, columns) blocks in store order, each file's rows read in one slice."""
        for start in range(0, len(self.row), rows):
            file, row = self.file[start : start + rows], self.row[start : start + rows]
            out = np.empty((len(row), len(self.names)))
            for f in np.unique(file):
                at = np.flatnonzero(file == f)
                lo, hi = int(row[at].min()), int(row[at].max()) + 1
                out[at] = _numbers(self.data[f][lo:hi])[row[at] - lo]
            yield out


def usable_columns(measurements: Measurements) -> np.ndarray:
    """Columns that are features: numbers everywhere, finite, not ``Metadata_*``."""
    keep = np.array([not n.startswith(METADATA_PREFIX) for n in measurements.names], bool)
    for block in measurements.blocks():
        keep &= np.isfinite(block.astype(np.float32)).all(axis=0)  # as stored
    return keep


def write_cellprofiler_features(paths: Sequence[str | Path], key: str, cells: pd.DataFrame, out: str | Path) -> int:
    """The measurements of the stored cells as the ``cellprofiler`` feature table; returns its
    feature count. Two passes over the rows: which columns are complete, then the table."""
    cells = in_store_order(cells)
    with ExitStack() as stack:
        measurements = Measurements(stack, paths, key, cells)
        keep = usable_columns(measurements)
        dropped = [n for n, k in zip(measurements.names, keep) if not k]
        if dropped:
            log.warning(
                "%d of %d '%s' column(s) are not features (text, missing or infinite values, or Metadata_): %s",
                len(dropped),
                len(keep),
                key,
                dropped[:10],
            )
        if not keep.any():
            raise InputError(f"{paths[0]}: no '{key}' column holds complete numeric measurements")
        names = [n for n, k in zip(measurements.names, keep) if k]
        if len(set(names)) != len(names):
            raise InputError(f"{paths[0]}: the '{key}' column names repeat; each measurement needs its own name")
        with feature_table_writer(cells, out, "", len(names), names) as writer:
            for block in measurements.blocks():
                writer.write(block[:, keep].astype(np.float32))
    log.info("%d cells x %d CellProfiler features from '%s'", len(cells), len(names), key)
    return len(names)
