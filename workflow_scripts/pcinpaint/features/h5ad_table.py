"""An AnnData ``.h5ad`` file (SubCell, scPortrait) read as a feature table, by rows and columns.

anndata pins pandas < 3, so the file is read with h5py following AnnData's on-disk format
(anndata 0.8+, and 0.7's layout): ``obs`` is a dataframe group whose ``_index`` attribute names
the index dataset and ``column-order`` lists the columns, each a ``string-array``, ``array``,
``categorical`` or ``nullable-integer`` / ``-boolean`` / ``-string-array`` element. The features
are ``X`` (named by the var index) or one ``obsm`` key (``<key>_0``, ``<key>_1``, ...; a
dataframe there: its columns), each a dense 2-D array, a ``csr_matrix`` or a ``csc_matrix``.

Memory follows the batch, not the file: each batch reads its rows of the requested columns only.
A csr matrix is read through its row pointers. A csc matrix is stored by column, so each batch
reads the requested columns' stored values whole (``SPARSE_VALUES`` at a time) and keeps its
rows: memory stays bounded but time grows with batches x stored values (the slower path; a
large file is better written as csr, ``adata.X = adata.X.tocsr()``). Of obs, only what decodes
a whole column is read once: a categorical's categories and codes, a nullable column's mask.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from pcinpaint.errors import InputError
from pcinpaint.io import OBS_NAMES, h5ad_obs_layout, open_h5ad

#: values (rows x columns) per batch when the caller does not say: tens of MB
BATCH_VALUES = 1_000_000
#: stored values of a sparse matrix read at once (data, indices and their row or column)
SPARSE_VALUES = 1_000_000
#: encodings of the elements that may hold features
MATRICES = ("array (2-D)", "csr_matrix", "csc_matrix")
NULLABLE = ("nullable-integer", "nullable-boolean", "nullable-string-array")

__all__ = ["BATCH_VALUES", "OBS_NAMES", "SPARSE_VALUES", "H5adTable"]


def _encoding(node) -> str:
    """An element's ``encoding-type``; a dataset without one (anndata 0.7) is an array, a 0.7
    sparse group says ``h5sparse_format``."""
    if "encoding-type" in node.attrs:
        value = node.attrs["encoding-type"]
    elif "h5sparse_format" in node.attrs:
        value = f"{_text(node.attrs['h5sparse_format'])}_matrix"
    else:
        value = "array" if isinstance(node, h5py.Dataset) else "group without encoding-type"
    return _text(value)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _whole(dataset) -> np.ndarray:
    """A 1-D dataset whole; text as ``str`` objects."""
    return (dataset.asstr() if h5py.check_string_dtype(dataset.dtype) else dataset)[()]


def _with_missing(values: np.ndarray, missing: np.ndarray, any_missing: bool) -> np.ndarray:
    """``values`` with NaN where ``missing``: numbers become float64 (integers only where the
    whole column has a missing value, so a batch's dtype never depends on its rows), the rest
    objects."""
    if values.dtype.kind in "iufb" and not any_missing:
        return values
    out = values.astype(np.float64 if values.dtype.kind in "iuf" else object)
    out[missing] = np.nan
    return out


class _Values:
    """An ``array`` or ``string-array`` column (text as ``str`` objects)."""

    def __init__(self, dataset):
        self._data = dataset.asstr() if h5py.check_string_dtype(dataset.dtype) else dataset

    def read(self, start: int, stop: int) -> np.ndarray:
        return self._data[start:stop]


class _Categorical:
    """A ``categorical`` column decoded to its categories' values (code -1: missing)."""

    def __init__(self, codes, categories):
        self._codes, self._categories = codes, _whole(categories)
        self._any_missing = bool((codes[()] < 0).any())

    def read(self, start: int, stop: int) -> np.ndarray:
        codes = self._codes[start:stop]
        if len(self._categories) == 0:
            return np.full(len(codes), np.nan)
        values = self._categories.take(np.maximum(codes, 0))
        return _with_missing(values, codes < 0, self._any_missing)


class _Masked:
    """A ``nullable-*`` column: values, and a mask true where missing."""

    def __init__(self, group):
        self._values, self._mask = _Values(group["values"]), group["mask"]
        self._any_missing = bool(self._mask[()].any())

    def read(self, start: int, stop: int) -> np.ndarray:
        return _with_missing(self._values.read(start, stop), self._mask[start:stop], self._any_missing)


def _column(path: Path, where: str, node):
    """The reader of one obs (or obsm dataframe) column."""
    kind = _encoding(node)
    if isinstance(node, h5py.Dataset) and isinstance(node.attrs.get("categories"), h5py.Reference):
        return _Categorical(node, node.file[node.attrs["categories"]])  # anndata 0.7
    if isinstance(node, h5py.Dataset) and kind in ("array", "string-array") and node.ndim == 1:
        return _Values(node)
    if isinstance(node, h5py.Group) and kind == "categorical":
        return _Categorical(node["codes"], node["categories"])
    if isinstance(node, h5py.Group) and kind in NULLABLE:
        return _Masked(node)
    known = ", ".join(["array", "string-array", "categorical", *NULLABLE])
    raise InputError(f"{path}: column {where} is encoded as {kind!r}, which is not read (only {known})")


def _pieces(pointers: np.ndarray, lo: int, hi: int) -> Iterator[tuple[int, int]]:
    """(i, j) ranges covering [lo, hi) of a sparse matrix's major axis, each holding at most
    ``SPARSE_VALUES`` stored values (one row or column even if it holds more)."""
    while lo < hi:
        end = int(np.searchsorted(pointers, pointers[lo] + SPARSE_VALUES, side="right")) - 1
        end = min(max(end, lo + 1), hi)
        yield lo, end
        lo = end


class _Dense:
    """A dense 2-D dataset: a block of rows, of the requested columns only."""

    def __init__(self, dataset):
        self._data, self.shape = dataset, dataset.shape

    def read(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        if len(columns) == 0:
            return np.empty((stop - start, 0), np.float32)
        ordered = np.sort(columns)
        lo, hi = int(ordered[0]), int(ordered[-1]) + 1
        if 2 * len(columns) >= hi - lo:  # close together: one rectangle, cut
            block = self._data[start:stop, lo:hi][:, columns - lo]
        else:  # far apart: the columns themselves (h5py wants them increasing)
            block = self._data[start:stop, ordered][:, np.searchsorted(ordered, columns)]
        return block.astype(np.float32, copy=False)


class _Sparse:
    """A ``csr_matrix`` (read by row slices) or ``csc_matrix`` (each batch reads the requested
    columns whole, piece by piece, and keeps its rows: the slower path). Duplicate entries are
    summed, as scipy does."""

    def __init__(self, group, shape, by_row: bool):
        self._data, self._indices, self._indptr = group["data"], group["indices"], group["indptr"]
        self.shape, self._by_row = tuple(int(n) for n in shape), by_row
        self._dtype = np.result_type(self._data.dtype, np.float32)
        self._column_pointers = None if by_row else self._indptr[()]  # one per column: small

    def read(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        out = np.zeros((stop - start, len(columns)), self._dtype)
        if len(columns):
            (self._rows if self._by_row else self._columns)(start, stop, columns, out)
        return out.astype(np.float32, copy=False)

    def _rows(self, start: int, stop: int, columns: np.ndarray, out: np.ndarray) -> None:
        position = np.full(self.shape[1], -1, np.int64)
        position[columns] = np.arange(len(columns))
        pointers = self._indptr[start : stop + 1].astype(np.int64)
        for i, j in _pieces(pointers, 0, stop - start):
            a, b = pointers[i], pointers[j]
            rows = np.repeat(np.arange(i, j), np.diff(pointers[i : j + 1]))
            at = position[self._indices[a:b]]
            keep = at >= 0
            np.add.at(out, (rows[keep], at[keep]), self._data[a:b][keep])

    def _columns(self, start: int, stop: int, columns: np.ndarray, out: np.ndarray) -> None:
        pointers = self._column_pointers.astype(np.int64)
        ordered = np.sort(columns)
        slot = np.argsort(columns)
        runs = np.split(np.arange(len(ordered)), np.flatnonzero(np.diff(ordered) != 1) + 1)
        for run in runs:  # consecutive columns are read together
            first = int(ordered[run[0]])
            for i, j in _pieces(pointers, first, first + len(run)):
                a, b = pointers[i], pointers[j]
                rows = self._indices[a:b].astype(np.int64)
                cols = np.repeat(slot[run[0] + i - first : run[0] + j - first], np.diff(pointers[i : j + 1]))
                keep = (rows >= start) & (rows < stop)
                np.add.at(out, (rows[keep] - start, cols[keep]), self._data[a:b][keep])


class _Frame:
    """A dataframe in ``obsm``: its columns are the features."""

    def __init__(self, path: Path, where: str, group):
        self._path, self._where, self._group = path, where, group
        index, self.names = h5ad_obs_layout(path, group)
        self.shape = (len(group[index]), len(self.names))

    def read(self, start: int, stop: int, columns: np.ndarray) -> np.ndarray:
        out = np.empty((stop - start, len(columns)), np.float32)
        for j, c in enumerate(columns):
            name = self.names[c]
            values = _column(self._path, f"{self._where}/{name}", self._group[name]).read(start, stop)
            if values.dtype.kind not in "biuf":
                raise InputError(f"{self._path}: feature column {self._where}/{name} is not numeric")
            out[:, j] = values
        return out


def _matrix(path: Path, where: str, node):
    """The reader of the element holding the features."""
    kind = _encoding(node)
    if isinstance(node, h5py.Dataset) and kind == "array" and node.ndim == 2:
        return _Dense(node)
    if isinstance(node, h5py.Group) and kind in ("csr_matrix", "csc_matrix"):
        shape = node.attrs["shape"] if "shape" in node.attrs else node.attrs["h5sparse_shape"]
        return _Sparse(node, shape, by_row=kind == "csr_matrix")
    if isinstance(node, h5py.Group) and kind == "dataframe" and where != "X":
        return _Frame(path, where, node)
    shape = f" of shape {node.shape}" if isinstance(node, h5py.Dataset) else ""
    raise InputError(
        f"{path}: {where} is encoded as {kind!r}{shape}, which is not read (only {', '.join(MATRICES)}"
        f"{', dataframe' if where != 'X' else ''})"
    )


class H5adTable:
    """An AnnData file's obs and features as one table of columns: ``OBS_NAMES`` (the obs index),
    the obs columns in order, then the features of ``X`` or of ``obsm[obsm]``.

    ``batches`` reads consecutive row blocks of the columns asked for: obs columns as pandas
    columns (text as strings, categoricals as their values, NaN where a value is missing: a
    nullable integer column with one becomes float64), features as float32."""

    def __init__(self, path: str | Path, obsm: str | None = None):
        self.path, self.obsm = Path(path), obsm
        with open_h5ad(self.path) as handle:
            index, obs_columns = h5ad_obs_layout(self.path, handle["obs"])
            self.n_rows = len(handle["obs"][index])
            matrix = self._features(handle)
            self.features = self._feature_names(handle, matrix)
        self.metadata = [OBS_NAMES, *obs_columns]
        self.columns = [*self.metadata, *self.features]
        twice = pd.Index(self.columns)
        twice = list(dict.fromkeys(twice[twice.duplicated()]))
        if twice:
            raise InputError(
                f"{self.path}: name(s) {twice[:5]} used twice among the obs index, obs columns and features"
            )

    @property
    def _where(self) -> str:
        return "X" if self.obsm is None else f"obsm/{self.obsm}"

    def _features(self, handle):
        """The reader of X or of the obsm key, its rows checked against obs."""
        if self.obsm is None:
            if "X" not in handle:
                keys = sorted(handle["obsm"]) if "obsm" in handle else []
                raise InputError(f"{self.path}: no X (name an obsm key instead; obsm has {keys or 'none'})")
            node = handle["X"]
        else:
            keys = sorted(handle["obsm"]) if isinstance(handle.get("obsm"), h5py.Group) else []
            if self.obsm not in keys:
                raise InputError(f"{self.path}: no obsm key {self.obsm!r} (obsm has {keys or 'none'})")
            node = handle["obsm"][self.obsm]
        matrix = _matrix(self.path, self._where, node)
        if len(matrix.shape) != 2 or matrix.shape[0] != self.n_rows:
            raise InputError(f"{self.path}: {self._where} has shape {matrix.shape}, obs has {self.n_rows} rows")
        return matrix

    def _feature_names(self, handle, matrix) -> list[str]:
        """X: the var index; an obsm array: ``<key>_<i>``; an obsm dataframe: its columns."""
        if isinstance(matrix, _Frame):
            return list(matrix.names)
        if self.obsm is not None:
            return [f"{self.obsm}_{i}" for i in range(matrix.shape[1])]
        if not isinstance(handle.get("var"), h5py.Group):
            raise InputError(f"{self.path}: not AnnData: X has no var group naming its features")
        index = h5ad_obs_layout(self.path, handle["var"])[0]
        names = [str(name) for name in _whole(handle["var"][index])]
        if len(names) != matrix.shape[1]:
            raise InputError(f"{self.path}: X has {matrix.shape[1]} columns, var names {len(names)}")
        return names

    def batches(self, columns: list[str] | None = None, rows: int | None = None) -> Iterator[pd.DataFrame]:
        """Consecutive row blocks holding only ``columns`` (all when None), in that order, each
        indexed by its row numbers; ``rows`` per block (default: about ``BATCH_VALUES`` values)."""
        columns = list(self.columns if columns is None else dict.fromkeys(columns))
        absent = [c for c in columns if c not in set(self.columns)]
        if absent:
            raise InputError(
                f"{self.path}: no column(s) {absent[:5]} (it has {OBS_NAMES}, obs columns "
                f"{self.metadata[1:13]} and {len(self.features)} features from {self._where})"
            )
        rows = rows or max(1, BATCH_VALUES // max(len(columns), 1))
        position = {name: i for i, name in enumerate(self.features)}
        wanted = [c for c in columns if c in position]
        feature_columns = np.array([position[c] for c in wanted], np.int64)
        with open_h5ad(self.path) as handle:
            obs = handle["obs"]
            index = h5ad_obs_layout(self.path, obs)[0]
            named = {c: (index if c == OBS_NAMES else c) for c in columns if c not in position}
            readers = {c: _column(self.path, f"obs/{name}", obs[name]) for c, name in named.items()}
            matrix = self._features(handle) if wanted else None
            for start in range(0, self.n_rows, rows):
                stop = min(start + rows, self.n_rows)
                yield self._batch(start, stop, columns, readers, (wanted, matrix, feature_columns))

    @staticmethod
    def _batch(start: int, stop: int, columns: list[str], readers: dict, features: tuple) -> pd.DataFrame:
        """One block: obs columns, then the features as one float32 block, in the order asked."""
        index = pd.RangeIndex(start, stop)
        frame = pd.DataFrame({c: reader.read(start, stop) for c, reader in readers.items()}, index=index)
        wanted, matrix, feature_columns = features
        if wanted:
            block = pd.DataFrame(matrix.read(start, stop, feature_columns), columns=wanted, index=index)
            frame = pd.concat([frame, block], axis=1)
        return frame[columns] if list(frame.columns) != columns else frame
