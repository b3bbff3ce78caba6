"""The feature-table contract shared by every feature set and every consumer.

One row per cell in store order; the cell table's columns first, each with a ``Metadata_``
prefix; feature columns after them. Light on purpose (no torch), so analysis stages and
exporters can read tables without the model's dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.io import atomic_path

METADATA_PREFIX = "Metadata_"


def feature_table(
    cells: pd.DataFrame, features: np.ndarray, prefix: str, names: Sequence[str] | None = None
) -> pd.DataFrame:
    """Metadata_ copies of the cell table, then float32 feature columns: ``<prefix>_<i>``, or
    ``<prefix>_<name>`` for named features (just ``<name>`` with an empty prefix)."""
    if len(cells) != len(features):
        raise ValueError(f"{len(cells)} cells but {len(features)} feature rows")
    cells = cells.sort_values("store_index").reset_index(drop=True)
    return with_metadata(cells, features, feature_names(features.shape[1], prefix, names))


def feature_names(n: int, prefix: str, names: Sequence[str] | None = None) -> list[str]:
    if names is None:
        width = len(str(max(n - 1, 0)))
        names = [f"{i:0{width}d}" for i in range(n)]
    if len(names) != n:
        raise ValueError(f"{n} feature columns but {len(names)} names")
    return [f"{prefix}_{name}" if prefix else str(name) for name in names]


def with_metadata(rows: pd.DataFrame, features: np.ndarray, columns: Sequence[str]) -> pd.DataFrame:
    """``rows`` with the Metadata_ prefix, then the features as float32 columns."""
    meta = rows.reset_index(drop=True).add_prefix(METADATA_PREFIX)
    return pd.concat([meta, pd.DataFrame(np.asarray(features, np.float32), columns=list(columns))], axis=1)


def split_table(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(metadata without prefix, feature matrix) of a feature table."""
    meta_cols = [c for c in table.columns if c.startswith(METADATA_PREFIX)]
    meta = table[meta_cols].rename(columns=lambda c: c[len(METADATA_PREFIX) :])
    return meta, table.drop(columns=meta_cols).to_numpy(np.float32)


#: a row group holds GROUP_ROWS rows, fewer only past ROW_GROUP_BYTES of features: the parquet
#: writer keeps about 0.83 KB of metadata per column chunk until the file closes, which grows as
#: cells x columns / rows per group whatever the width (2,048-row groups: +118 MB over a million
#: cells of the five layer tables; 8,192: +28 MB, bench_extraction_memory.py), while the rows
#: waiting for their group cost rows x columns x 4 bytes; the byte cap only bounds the very wide
ROW_GROUP_BYTES = 64 * 2**20
GROUP_ROWS = 8_192


class FeatureTableWriter:
    """Appends the next cells' feature rows (store order) to a table being written, buffering
    batches into row groups of about ``ROW_GROUP_BYTES``."""

    def __init__(self, writer, cells: pd.DataFrame, columns: list[str], schema):
        self._writer, self._cells, self._columns, self._schema = writer, cells, columns, schema
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0
        self._group_rows = max(1, min(GROUP_ROWS, ROW_GROUP_BYTES // (4 * max(len(columns), 1))))
        self.written = 0  # rows handed to write, flushed or pending

    def write(self, features: np.ndarray) -> None:
        if self.written + len(features) > len(self._cells):
            raise ValueError(f"{self.written + len(features)} feature rows for {len(self._cells)} cells")
        self._pending.append(np.asarray(features, np.float32))
        self._pending_rows += len(features)
        self.written += len(features)
        if self._pending_rows >= self._group_rows:
            self.flush()

    def flush(self) -> None:
        import pyarrow as pa

        if not self._pending:
            return
        features = np.concatenate(self._pending)
        self._pending, self._pending_rows = [], 0
        end = self.written
        rows = self._cells.iloc[end - len(features) : end]
        batch = with_metadata(rows, features, self._columns)
        self._writer.write_table(pa.Table.from_pandas(batch, schema=self._schema, preserve_index=False))


@dataclass(frozen=True)
class CellRows:
    """The cell table in store order and its Metadata_ columns' arrow schema: worked out once
    for all the tables one pass writes (the schema is inferred from every row)."""

    cells: pd.DataFrame
    meta: object  # pyarrow.Schema

    @staticmethod
    def of(cells: pd.DataFrame | CellRows) -> CellRows:
        import pyarrow as pa

        if isinstance(cells, CellRows):
            return cells
        cells = cells.sort_values("store_index").reset_index(drop=True)
        return CellRows(cells, pa.Schema.from_pandas(cells.add_prefix(METADATA_PREFIX), preserve_index=False))


@contextmanager
def feature_table_writer(
    cells: pd.DataFrame | CellRows,
    path: str | Path,
    prefix: str,
    n_features: int,
    names: Sequence[str] | None = None,
) -> Iterator[FeatureTableWriter]:
    """A feature table written batch by batch as parquet row groups, so memory does not grow
    with the cells: the same table ``feature_table`` gives, read back identically. The file
    appears only once every cell has its row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = CellRows.of(cells)
    cells, meta = rows.cells, rows.meta
    columns = feature_names(n_features, prefix, names)
    pandas_meta = json.loads(meta.metadata[b"pandas"])
    pandas_meta["columns"] += [
        {"name": c, "field_name": c, "pandas_type": "float32", "numpy_type": "float32", "metadata": None}
        for c in columns
    ]
    schema = pa.schema(
        list(meta) + [pa.field(c, pa.float32()) for c in columns], metadata={b"pandas": json.dumps(pandas_meta)}
    )
    with atomic_path(path) as tmp:
        # statistics for the metadata columns only: min/max of every feature column would weigh
        # on the footer of wide tables and serve no reader
        with pq.ParquetWriter(tmp, schema, write_statistics=[f.name for f in meta]) as writer:
            table = FeatureTableWriter(writer, cells, columns, schema)
            yield table
            table.flush()
        if table.written != len(cells):
            raise ValueError(f"{path}: {table.written} feature rows for {len(cells)} cells")


def stream_feature_tables(
    cells: pd.DataFrame,
    batches: Iterable[Mapping[Hashable, np.ndarray]],
    tables: Mapping[Hashable, tuple],
) -> None:
    """Several feature tables from one pass over the cells: ``batches`` yields, per batch of
    cells in store order, ``{key: features}``; ``tables`` maps each key to ``(path, prefix,
    n_features)`` or ``(path, prefix, n_features, names)``. Every table is written as its rows
    come, and all appear together once the pass is complete."""
    rows = CellRows.of(cells)
    with ExitStack() as stack:
        writers = {key: stack.enter_context(feature_table_writer(rows, *spec)) for key, spec in tables.items()}
        for batch in batches:
            for key, writer in writers.items():
                writer.write(batch[key])


def collect_batches(
    batches: Iterable[Mapping[Hashable, np.ndarray]], sizes: Mapping[Hashable, int], n: int
) -> dict[Hashable, np.ndarray]:
    """Batches of ``{key: features}`` (store order) gathered into one float32 (n, size) matrix
    per key: the in-memory counterpart of ``stream_feature_tables``."""
    out = {key: np.empty((n, size), np.float32) for key, size in sizes.items()}
    at = 0
    for batch in batches:
        m = len(next(iter(batch.values())))
        for key, value in batch.items():
            out[key][at : at + m] = value
        at += m
    return out
