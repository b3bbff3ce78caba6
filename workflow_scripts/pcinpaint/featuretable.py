"""The feature-table contract shared by every feature set and every consumer.

One row per cell in store order; the cell table's columns first, each with a ``Metadata_``
prefix; feature columns after them. Light on purpose (no torch), so analysis stages and
exporters can read tables without the model's dependencies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

METADATA_PREFIX = "Metadata_"


def feature_table(cells: pd.DataFrame, features: np.ndarray, prefix: str) -> pd.DataFrame:
    """Metadata_ copies of the cell table, then ``<prefix>_<i>`` feature columns (float32)."""
    if len(cells) != len(features):
        raise ValueError(f"{len(cells)} cells but {len(features)} feature rows")
    cells = cells.sort_values("store_index").reset_index(drop=True)
    meta = cells.add_prefix(METADATA_PREFIX)
    width = len(str(max(features.shape[1] - 1, 0)))
    cols = [f"{prefix}_{i:0{width}d}" for i in range(features.shape[1])]
    return pd.concat([meta, pd.DataFrame(np.asarray(features, np.float32), columns=cols)], axis=1)


def split_table(table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """(metadata without prefix, feature matrix) of a feature table."""
    meta_cols = [c for c in table.columns if c.startswith(METADATA_PREFIX)]
    meta = table[meta_cols].rename(columns=lambda c: c[len(METADATA_PREFIX):])
    return meta, table.drop(columns=meta_cols).to_numpy(np.float32)
