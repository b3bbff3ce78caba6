"""Feature tables read by the rows and columns a step uses, one parquet row group at a time.

A feature set of 2,000,000 cells x 384 float32 features is 3 GB, and reading it whole through
pandas costs about four times that. No analysis needs it whole: the benchmarks use a subsample
of the rows (``benchmarks.max_cells``), the pairwise score the cells of the images it draws, the
single-cell dendrograms a few proteins' cells, and the protein and image profiles and the
z-score only sums over the rows. ``FeatureFile`` serves all of them from the row groups the
feature-table writer cuts (``features.table``), so memory follows what is used, not the screen.

Rows are positions in store order (the cell table sorted by ``store_index``), the order every
feature table is written in; ``read_cell_rows`` checks that the rows read are the cells asked
for, so a table that no longer matches its cell table stops with one line instead of pairing
features with the wrong cells.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.errors import InputError, one_line
from pcinpaint.features.table import METADATA_PREFIX


class FeatureFile:
    """A feature table on disk: its feature columns, row groups and metadata columns, read lazily.

    With ``store_index`` (the cell table's, sorted: one per cell) the table must have one row per
    cell, and every row read is checked to hold the store index asked for: a feature table built
    from another version of the cell table is an error, not features silently paired with other
    cells."""

    def __init__(self, path: str | Path, store_index: np.ndarray | None = None):
        import pyarrow.parquet as pq

        self.path = Path(path)
        try:
            self._file = pq.ParquetFile(self.path)
        except FileNotFoundError:
            raise InputError(f"{self.path}: file not found") from None
        except Exception as exc:
            raise InputError(f"{self.path}: cannot read feature table: {one_line(exc, None)}") from None
        names = self._file.schema_arrow.names
        self.meta_columns = [c[len(METADATA_PREFIX) :] for c in names if c.startswith(METADATA_PREFIX)]
        self.features = [c for c in names if not c.startswith(METADATA_PREFIX)]
        meta = self._file.metadata
        sizes = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        self._starts = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        self.n_rows = int(meta.num_rows)
        self._moments = None
        self.store_index = None
        if store_index is not None:
            self.expect_rows(len(store_index))
            if "store_index" in self.meta_columns:
                self.store_index = np.asarray(store_index)

    def expect_rows(self, n_cells: int) -> None:
        """One line naming the table when it has not one row per cell of the cell table."""
        if self.n_rows != n_cells:
            raise InputError(
                f"{self.path}: {self.n_rows} feature rows but {n_cells} cells in the cell table; "
                "rebuild the feature table"
            )

    @property
    def n_features(self) -> int:
        return len(self.features)

    def moments(self):
        """Every row's ``features.matrix.Moments``, from one pass, kept for every later use."""
        from pcinpaint.features.matrix import Moments

        if self._moments is None:
            self._moments = Moments.of_blocks(self.blocks(), self.n_features)
        return self._moments

    def metadata(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The named Metadata_ columns (without the prefix; those the table lacks are skipped), all
        rows: a few columns of a million cells are tens of MB where the features are GB."""
        wanted = self.meta_columns if columns is None else [c for c in columns if c in self.meta_columns]
        table = self._file.read(columns=[METADATA_PREFIX + c for c in wanted])
        return table.to_pandas().rename(columns=lambda c: c[len(METADATA_PREFIX) :])

    def batches(
        self, rows: np.ndarray | None = None, meta: Sequence[str] = ()
    ) -> Iterator[tuple[np.ndarray, pd.DataFrame, np.ndarray]]:
        """(row positions, the ``meta`` columns, float32 features) per row group: every row, or
        only ``rows`` (positions, sorted ascending). A row group without wanted rows is not read."""
        check = self.store_index is not None
        wanted = [c for c in dict.fromkeys([*meta, *(["store_index"] if check else [])]) if c in self.meta_columns]
        columns = [METADATA_PREFIX + c for c in wanted] + self.features
        rows = None if rows is None else np.asarray(rows, np.int64)
        if rows is not None and len(rows) and (np.any(np.diff(rows) <= 0) or rows[0] < 0 or rows[-1] >= self.n_rows):
            raise ValueError(f"{self.path}: rows must be increasing positions below {self.n_rows}")
        for group in range(len(self._starts) - 1):
            lo, hi = int(self._starts[group]), int(self._starts[group + 1])
            if rows is None:
                positions = np.arange(lo, hi)
            else:
                a, b = np.searchsorted(rows, [lo, hi])
                if a == b:
                    continue
                positions = rows[a:b]
            try:
                table = self._file.read_row_group(group, columns=columns)
            except Exception as exc:  # a damaged file: one line naming it, not a pyarrow traceback
                raise InputError(
                    f"{self.path}: row group {group} (rows {lo}-{hi - 1}) cannot be read: {one_line(exc, None)}"
                ) from None
            if rows is not None and len(positions) < hi - lo:
                table = table.take(positions - lo)
            x = np.empty((table.num_rows, len(self.features)), np.float32)
            for j, name in enumerate(self.features):
                x[:, j] = table.column(name).to_numpy(zero_copy_only=False)
            extra = pd.DataFrame(index=pd.RangeIndex(len(positions)))
            if wanted:
                extra = table.select(columns[: len(wanted)]).to_pandas()
                extra = extra.rename(columns=lambda c: c[len(METADATA_PREFIX) :])
            if check:
                self._check(positions, extra["store_index"].to_numpy())
            yield positions, extra[[c for c in meta if c in extra.columns]], x

    def _check(self, positions: np.ndarray, got: np.ndarray) -> None:
        want = self.store_index[positions]
        if not np.array_equal(got, want):
            i = np.flatnonzero(got != want)[0]
            raise InputError(
                f"{self.path}: row {positions[i]} holds store_index {got[i]} where the cell table has "
                f"{want[i]}; rebuild the feature table"
            )

    def read(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The float32 (rows, features) matrix of ``rows`` (sorted positions), or of every row."""
        n = self.n_rows if rows is None else len(rows)
        out = np.empty((n, self.n_features), np.float32)
        at = 0
        for _, _, x in self.batches(rows):
            out[at : at + len(x)] = x
            at += len(x)
        return out

    def blocks(self, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(row positions, float32 features) per row group: the form ``features.matrix``'s
        accumulators take, the same as ``matrix.array_blocks`` gives for an array in memory."""
        for positions, _, x in self.batches(rows):
            yield positions, x


class FeatureRows:
    """Some rows of a ``FeatureFile`` (the cells one analysis takes part in), addressed as
    0 .. len(rows) - 1, so code written for an array of those cells reads them lazily instead."""

    def __init__(self, file: FeatureFile, rows: np.ndarray):
        self.file, self.rows = file, np.asarray(rows, np.int64)
        self.n_rows, self.n_features = len(self.rows), file.n_features
        self._moments = None

    def moments(self):
        """The rows' ``features.matrix.Moments``, from one pass, kept for every later use."""
        from pcinpaint.features.matrix import Moments

        if self._moments is None:
            self._moments = Moments.of_blocks(self.file.blocks(self.rows), self.n_features)
        return self._moments

    def blocks(self, rows: np.ndarray | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for positions, x in self.file.blocks(self.rows if rows is None else self.rows[rows]):
            yield np.searchsorted(self.rows, positions), x

    def read(self, rows: np.ndarray | None = None) -> np.ndarray:
        return self.file.read(self.rows if rows is None else self.rows[rows])


def read_cell_rows(path: str | Path, mask: np.ndarray, store_index: np.ndarray | None = None) -> np.ndarray:
    """Features of the cells where ``mask`` (one per cell, store order) is set, checked against
    the cell table's sorted ``store_index`` when given (see ``FeatureFile``)."""
    mask = np.asarray(mask, bool)
    file = FeatureFile(path, store_index)
    file.expect_rows(len(mask))
    return file.read(np.flatnonzero(mask))


def read_cells(path: str | Path, columns: Sequence[str]) -> pd.DataFrame:
    """The named columns of a cell table that it has (``store_index`` always), sorted by
    ``store_index``: the positions of its rows are the rows of every feature table."""
    import pyarrow.parquet as pq

    from pcinpaint.io import read_table

    path = Path(path)
    try:
        have = set(pq.read_schema(path).names)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:
        raise InputError(f"{path}: cannot read cell table: {one_line(exc, None)}") from None
    wanted = list(dict.fromkeys(["store_index", *columns]))
    cells = read_table(path, columns=[c for c in wanted if c in have])
    return cells.sort_values("store_index").reset_index(drop=True)
