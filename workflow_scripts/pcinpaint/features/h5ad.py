"""AnnData export of feature tables (obs = cell table, X = features), for scanpy users.

Separate from the feature-table module because anndata pins pandas < 3: it runs in its own
environment (envs/anndata.yaml).

anndata writes the file's obs, var and empty slots, so they follow its conventions (string
columns with repeats as categoricals, the encoding attributes); X is then added with h5py
block by block (a dense float32 array, as anndata writes it), so a table's features never
have to be in memory at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pcinpaint.features.table import METADATA_PREFIX, split_table
from pcinpaint.io import atomic_path, read_table

#: feature values per block written to X (rows x features): tens of MB
BLOCK_VALUES = 4_000_000
#: bytes a parquet column reader buffers (a row group's column is otherwise read whole)
PARQUET_BUFFER = 64 * 2**10


def _anndata():
    try:
        import anndata
        import h5py  # anndata's own file layer
    except ImportError:
        raise ImportError(
            "h5ad export needs anndata (pip install anndata==0.12.19, or run with --sdm conda: envs/anndata.yaml)"
        ) from None
    return anndata, h5py


def _write(meta: pd.DataFrame, features: list[str], blocks: Iterable[np.ndarray], path: str | Path) -> None:
    """obs from ``meta`` (the cell table; its index is set), var from the feature names, X from
    row blocks in order."""
    anndata, h5py = _anndata()
    meta.index = meta["cell_id"].astype(str) if "cell_id" in meta.columns else meta.index.astype(str)
    obs = meta.astype({c: str for c in meta.columns if meta[c].dtype == object})
    adata = anndata.AnnData(obs=obs, var=pd.DataFrame(index=features))
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)  # no X yet: anndata leaves it out
        with h5py.File(tmp, "a") as f:
            x = f.create_dataset("X", shape=(len(obs), len(features)), dtype=np.float32)
            at = 0
            for block in blocks:
                block = np.asarray(block, np.float32)
                if at + len(block) > len(obs) or block.shape[1:] != (len(features),):
                    raise ValueError(f"{path}: feature block {block.shape} does not fit X {x.shape} at row {at}")
                x[at : at + len(block)] = block
                at += len(block)
            if at != len(obs):
                raise ValueError(f"{path}: {at} feature rows written for {len(obs)} cells")
            x.attrs["encoding-type"] = "array"
            x.attrs["encoding-version"] = "0.2.0"


def write_h5ad(table: pd.DataFrame, path: str | Path) -> None:
    """The same content as AnnData (obs = cell table, X = features), for scanpy users."""
    meta, x = split_table(table)
    feats = [c for c in table.columns if not c.startswith(METADATA_PREFIX)]
    rows = max(1, BLOCK_VALUES // max(len(feats), 1))
    _write(meta, feats, (x[i : i + rows] for i in range(0, len(x), rows)), path)


def export_h5ad(table_path: str | Path, path: str | Path) -> int:
    """A feature table file as AnnData, read batch by batch: the cell table whole (its
    ``Metadata_`` columns), the features a block of rows at a time. Returns the cells."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_path = Path(table_path)
    if table_path.suffix != ".parquet":  # feature tables are parquet; a text export is read whole
        table = read_table(table_path)
        write_h5ad(table, path)
        return len(table)
    # no pre-buffering: it would load every row group asked for before the first batch
    source = pq.ParquetFile(table_path, pre_buffer=False, buffer_size=PARQUET_BUFFER)
    names = source.schema_arrow.names
    meta_cols = [c for c in names if c.startswith(METADATA_PREFIX)]
    feats = [c for c in names if not c.startswith(METADATA_PREFIX)]
    if meta_cols:
        meta = read_table(table_path, columns=meta_cols).rename(columns=lambda c: c[len(METADATA_PREFIX) :])
    else:
        meta = pd.DataFrame(index=pd.RangeIndex(source.metadata.num_rows))
    rows = max(1, BLOCK_VALUES // max(len(feats), 1))

    def blocks():
        for batch in source.iter_batches(batch_size=rows, columns=feats, use_pandas_metadata=False):
            block = np.empty((batch.num_rows, len(feats)), np.float32)
            for j, column in enumerate(batch.columns):
                block[:, j] = _as_float32(column, pa)
            yield block

    _write(meta, feats, blocks(), path)
    return len(meta)


def _as_float32(column, pa) -> np.ndarray:
    """A feature column as float32, nulls as NaN (what reading the table through pandas gives)."""
    if column.null_count:
        column = column.cast(pa.float64())
    return column.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
