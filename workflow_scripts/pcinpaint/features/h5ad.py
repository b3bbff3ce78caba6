"""AnnData export of feature tables (obs = cell table, X = features), for scanpy users.

Separate from the feature-table module because anndata pins pandas < 3: it runs in its own
environment (envs/anndata.yaml).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pcinpaint.features.table import METADATA_PREFIX, split_table
from pcinpaint.io import atomic_path


def write_h5ad(table: pd.DataFrame, path: str | Path) -> None:
    """The same content as AnnData (obs = cell table, X = features), for scanpy users."""
    try:
        import anndata
    except ImportError:
        raise ImportError(
            "h5ad export needs anndata (pip install anndata==0.12.19, or run with --use-conda: envs/anndata.yaml)"
        ) from None

    meta, x = split_table(table)
    meta.index = meta["cell_id"].astype(str) if "cell_id" in meta.columns else meta.index.astype(str)
    feats = [c for c in table.columns if not c.startswith(METADATA_PREFIX)]
    adata = anndata.AnnData(
        X=x, obs=meta.astype({c: str for c in meta.columns if meta[c].dtype == object}), var=pd.DataFrame(index=feats)
    )
    with atomic_path(path) as tmp:
        adata.write_h5ad(tmp)
