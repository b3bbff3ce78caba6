"""Write the AnnData reference files the h5ad reader is tested against, with anndata itself.

Not run by the tests: anndata pins pandas < 3, so it cannot live in the project's environment.
Rerun it (from this folder) in a separate one::

    python3 -m venv /tmp/adenv && /tmp/adenv/bin/pip install anndata==0.12.19
    /tmp/adenv/bin/python make_anndata_reference.py

Each ``<name>.h5ad`` gets a ``<name>.json`` beside it: what ``anndata.read_h5ad`` reads back from
it (obs names, obs columns, X with its var names, each obsm key), so the tests compare against
anndata's own reading of the file without needing anndata. Floats are written as float64 (exact
for float32 values), missing values as null.
"""

import json
import math
from importlib.metadata import version
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
N = 40


def dense_file(rng) -> ad.AnnData:
    """Dense X, the obs encodings anndata writes by default, three obsm kinds; the obs index is
    named (so ``_index`` names a dataset other than ``_index``)."""
    proteins = ["ACT1", "NUP49", "TOM20", "SEC7"]
    obs = pd.DataFrame(
        {
            "protein": [proteins[i % 4] for i in range(N)],  # repeats: written categorical
            "barcode": [f"AC{i * 7919 % 1000:03d}-{i}" for i in range(N)],  # unique: string-array
            "area": rng.integers(40, 900, N),
            "intensity": np.where(np.arange(N) % 9 == 4, np.nan, rng.normal(100, 10, N)),
            "touching": rng.integers(0, 2, N).astype(bool),
            "label": pd.Categorical([None if i % 11 == 3 else ("nucleus", "cytoplasm")[i % 2] for i in range(N)]),
            "n_nuclei": pd.array([None if i % 13 == 5 else i % 3 for i in range(N)], dtype="Int64"),
            "in_focus": pd.array([None if i % 17 == 2 else bool(i % 4) for i in range(N)], dtype="boolean"),
        },
        index=pd.Index([f"cell_{i:03d}" for i in range(N)], name="cell_id"),
    )
    var = pd.DataFrame(index=[f"Cells_Intensity_{i}" for i in range(6)])
    adata = ad.AnnData(X=rng.normal(size=(N, 6)).astype(np.float32), obs=obs, var=var)
    adata.obsm["X_subcell"] = rng.normal(size=(N, 8)).astype(np.float32)
    adata.obsm["X_pca"] = rng.normal(size=(N, 3))  # float64
    adata.obsm["coords"] = pd.DataFrame({"x": rng.uniform(0, 512, N), "y": rng.integers(0, 512, N)}, index=obs.index)
    return adata


def sparse_file(rng) -> ad.AnnData:
    """csr X, a csc obsm; strings kept as strings (a string-array with repeats, a nullable one)."""
    x = rng.normal(size=(N, 10)).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.75] = 0
    x[7] = 0  # an empty row
    obs = pd.DataFrame(
        {
            "protein": [f"P{i % 5}" for i in range(N)],
            "note": pd.array([None if i % 6 == 1 else f"n{i}" for i in range(N)], dtype="string"),
        },
        index=[f"c{i}" for i in range(N)],
    )
    adata = ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(10)]))
    y = rng.normal(size=(N, 5)).astype(np.float32)
    y[rng.uniform(size=y.shape) < 0.6] = 0
    adata.obsm["X_csc"] = sp.csc_matrix(y)
    return adata


def _value(v):
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v.item() if isinstance(v, np.generic) else v


def _columns(frame: pd.DataFrame) -> dict:
    return {str(c): [_value(v) for v in frame[c].astype(object)] for c in frame.columns}


def _matrix(m) -> list:
    dense = m.toarray() if sp.issparse(m) else np.asarray(m)
    return np.asarray(dense, np.float64).tolist()


def reference(adata: ad.AnnData) -> dict:
    """What anndata read back: values, and the dtypes it gave (for the reader's documentation)."""
    obsm = {}
    for key, value in adata.obsm.items():
        if isinstance(value, pd.DataFrame):
            obsm[key] = {"features": list(value.columns), "values": _matrix(value.to_numpy(np.float64))}
        else:
            obsm[key] = {"features": [f"{key}_{i}" for i in range(value.shape[1])], "values": _matrix(value)}
    return {
        "written_by": f"anndata {version('anndata')}, pandas {pd.__version__}",
        "obs_names": list(adata.obs_names),
        "obs": _columns(adata.obs),
        "obs_dtypes": {c: str(t) for c, t in adata.obs.dtypes.items()},
        "var_names": list(adata.var_names),
        "X": _matrix(adata.X),
        "obsm": obsm,
    }


def main():
    rng = np.random.default_rng(2019)
    ad.settings.allow_write_nullable_strings = True
    for name, adata, strings_to_categoricals in [
        ("anndata_dense", dense_file(rng), True),
        ("anndata_sparse", sparse_file(rng), False),
    ]:
        path = HERE / f"{name}.h5ad"
        adata.write_h5ad(path, convert_strings_to_categoricals=strings_to_categoricals)
        back = ad.read_h5ad(path)
        (HERE / f"{name}.json").write_text(json.dumps(reference(back)) + "\n")


if __name__ == "__main__":
    main()
