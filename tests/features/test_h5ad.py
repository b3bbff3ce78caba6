"""The h5ad export written block by block holds what anndata wrote from the whole table.

Runs where anndata is installed (envs/anndata.yaml); the comparison is of the files' HDF5
content: every group, dataset (values, dtype, shape) and attribute."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.features import h5ad
from pcinpaint.features.table import feature_table, feature_table_writer, split_table
from pcinpaint.io import read_table, write_table

anndata = pytest.importorskip("anndata", reason="anndata is optional (features.h5ad); envs/anndata.yaml has it")
h5py = pytest.importorskip("h5py")


def _cells(n):
    rng = np.random.default_rng(n)
    return pd.DataFrame(
        {
            "cell_id": [f"f{i // 4}:{i % 4}" for i in range(n)],
            "image_id": [f"im{i // 10}" for i in range(n)],
            "protein": [f"P{i % 3}" for i in range(n)],
            "label": [f"class {i % 2}" if i % 7 else None for i in range(n)],
            "centroid_y": rng.uniform(0, 100, n),
            "area": rng.integers(40, 400, n),
            "touching": rng.integers(0, 2, n).astype(bool),
            "store_index": rng.permutation(n),
        }
    )


def whole_table_h5ad(table: pd.DataFrame, path) -> None:
    """The export as it was: the whole table through anndata (the reference)."""
    meta, x = split_table(table)
    meta.index = meta["cell_id"].astype(str)
    feats = [c for c in table.columns if not c.startswith("Metadata_")]
    adata = anndata.AnnData(
        X=x, obs=meta.astype({c: str for c in meta.columns if meta[c].dtype == object}), var=pd.DataFrame(index=feats)
    )
    adata.write_h5ad(path)


def _content(path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        out["/"] = dict(f.attrs)

        def visit(name, obj):
            attrs = {k: (list(v) if isinstance(v, np.ndarray) else v) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                out[name] = (obj.dtype, obj.shape, obj[()], attrs)
            else:
                out[name] = attrs

        f.visititems(visit)
    return out


def _assert_same_file(a, b):
    first, second = _content(a), _content(b)
    assert sorted(first) == sorted(second)
    for key in first:
        if isinstance(first[key], tuple):
            (dtype_a, shape_a, va, attrs_a), (dtype_b, shape_b, vb, attrs_b) = first[key], second[key]
            assert (dtype_a, shape_a, attrs_a) == (dtype_b, shape_b, attrs_b), key
            np.testing.assert_array_equal(va, vb, err_msg=key, strict=True)
        else:
            assert first[key] == second[key], key


@pytest.mark.parametrize("block_values", [7, 64, 10**6])  # one row a block, a few rows, the whole table
def test_blockwise_export_equals_the_whole_table_export(tmp_path, monkeypatch, block_values):
    monkeypatch.setattr(h5ad, "BLOCK_VALUES", block_values)
    n, p = 53, 6
    cells = _cells(n)
    x = np.random.default_rng(1).normal(size=(n, p)).astype(np.float32)
    x[3, 2] = np.nan  # kept as it is
    path = tmp_path / "pci_conv3.parquet"
    with feature_table_writer(cells, path, "pci_conv3", p) as writer:  # how the rules write tables
        for i in range(0, n, 10):
            writer.write(x[i : i + 10])
    whole_table_h5ad(read_table(path), tmp_path / "whole.h5ad")

    assert h5ad.export_h5ad(path, tmp_path / "blocks.h5ad") == n
    _assert_same_file(tmp_path / "whole.h5ad", tmp_path / "blocks.h5ad")
    h5ad.write_h5ad(read_table(path), tmp_path / "in_memory.h5ad")
    _assert_same_file(tmp_path / "whole.h5ad", tmp_path / "in_memory.h5ad")
    adata = anndata.read_h5ad(tmp_path / "blocks.h5ad")
    ordered = cells.sort_values("store_index")
    assert list(adata.obs_names) == list(ordered["cell_id"])
    np.testing.assert_array_equal(adata.X, x)
    assert adata.obs["protein"].dtype == "category"  # strings with repeats, as anndata writes them
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["pci_conv3.parquet", "whole.h5ad", "blocks.h5ad", "in_memory.h5ad"]
    )  # no temporary left


def test_table_features_of_other_types_and_a_text_table(tmp_path):
    table = feature_table(_cells(9), np.arange(18, dtype=np.float32).reshape(9, 2), "classic")
    table["classic_int"] = np.arange(9, dtype=np.int64)
    table["classic_gap"] = pd.array([1.5, None, 2.5, 1, 2, 3, 4, 5, 6], dtype="Float64")
    write_table(table, tmp_path / "t.parquet")
    whole_table_h5ad(read_table(tmp_path / "t.parquet"), tmp_path / "whole.h5ad")
    h5ad.export_h5ad(tmp_path / "t.parquet", tmp_path / "blocks.h5ad")
    _assert_same_file(tmp_path / "whole.h5ad", tmp_path / "blocks.h5ad")
    write_table(table.drop(columns="classic_gap"), tmp_path / "t.tsv")  # read whole, as text
    assert h5ad.export_h5ad(tmp_path / "t.tsv", tmp_path / "text.h5ad") == 9
    adata = anndata.read_h5ad(tmp_path / "text.h5ad")
    np.testing.assert_array_equal(adata.X[:, 2], np.arange(9, dtype=np.float32))
