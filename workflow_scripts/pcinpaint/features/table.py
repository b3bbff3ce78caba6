"""The feature-table contract shared by every feature set and every consumer.

One row per cell in store order; the cell table's columns first, each with a ``Metadata_``
prefix; feature columns after them. Light on purpose (no torch), so analysis stages and
exporters can read tables without the model's dependencies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

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
