"""AnnData files written from the on-disk format with h5py (anndata itself pins pandas < 3 and
is not installed beside the workflow): obs as string or number columns, X dense, obsm arrays."""

from pathlib import Path

import h5py
import numpy as np
import pandas as pd


def _enc(node, kind: str, version: str = "0.2.0"):
    node.attrs["encoding-type"], node.attrs["encoding-version"] = kind, version
    return node


def _dataframe(group, frame: pd.DataFrame, index) -> None:
    _enc(group, "dataframe")
    group.attrs["_index"] = "_index"
    group.attrs["column-order"] = list(frame.columns)
    _enc(group.create_dataset("_index", data=[str(i) for i in index], dtype=h5py.string_dtype()), "string-array")
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            _enc(group.create_dataset(column, data=values.to_numpy()), "array")
        elif values.isna().any():  # anndata writes text with missing values as a categorical, -1 = missing
            codes, categories = pd.factorize(values.astype(object))
            node = _enc(group.create_group(column), "categorical")
            node.attrs["ordered"] = False
            _enc(
                node.create_dataset("codes", data=codes.astype(np.int8 if len(categories) < 127 else np.int32)), "array"
            )
            data = [str(c) for c in categories]
            _enc(node.create_dataset("categories", data=data, dtype=h5py.string_dtype()), "string-array")
        else:
            strings = [str(v) for v in values]
            _enc(group.create_dataset(column, data=strings, dtype=h5py.string_dtype()), "string-array")


def write_h5ad(path: Path, obs: pd.DataFrame, x: np.ndarray, var_names, obsm: dict | None = None) -> Path:
    """obs (its index the cell ids), X (cells x features, named ``var_names``), obsm arrays."""
    with h5py.File(path, "w") as f:
        _enc(f, "anndata", "0.1.0")
        _dataframe(f.create_group("obs"), obs, obs.index)
        _dataframe(f.create_group("var"), pd.DataFrame(index=list(var_names)), list(var_names))
        _enc(f.create_dataset("X", data=np.asarray(x)), "array")
        group = _enc(f.create_group("obsm"), "dict", "0.1.0")
        for key, values in (obsm or {}).items():
            _enc(group.create_dataset(key, data=np.asarray(values)), "array")
    return path
