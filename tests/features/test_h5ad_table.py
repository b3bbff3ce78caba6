"""AnnData files read with h5py alone (``features.h5ad_table``) hold what anndata reads from them.

The reference files in ``data/`` were written by anndata 0.12.19 (``data/make_anndata_reference.py``,
run in its own environment); beside each, a JSON file holds what ``anndata.read_h5ad`` read back,
so these tests need no anndata. Files written here by hand follow the on-disk format's other
encodings (csc X, numeric categories, anndata 0.7's layout)."""

import json
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from pcinpaint.errors import InputError
from pcinpaint.features import h5ad_table
from pcinpaint.features.h5ad_table import OBS_NAMES, H5adTable
from pcinpaint.io import table_columns

DATA = Path(__file__).parent / "data"
DENSE, SPARSE = DATA / "anndata_dense.h5ad", DATA / "anndata_sparse.h5ad"
#: the dtypes obs columns are read as (anndata's own: category, Int64, boolean, string)
DENSE_DTYPES = {
    "protein": "str",
    "barcode": "str",
    "area": "int64",
    "intensity": "float64",
    "touching": "bool",
    "label": "str",
    "n_nuclei": "float64",
    "in_focus": "object",
}


def _reference(path: Path, obsm: str | None = None) -> tuple[pd.DataFrame, list[str]]:
    """(what anndata read from ``path``: obs names, obs columns, features; the feature names)."""
    ref = json.loads(path.with_suffix(".json").read_text())
    if obsm is None:
        names, values = ref["var_names"], ref["X"]
    else:
        names, values = ref["obsm"][obsm]["features"], ref["obsm"][obsm]["values"]
    obs = {OBS_NAMES: ref["obs_names"], **ref["obs"]}
    features = pd.DataFrame(np.array(values, np.float64).astype(np.float32), columns=names)
    return pd.concat([pd.DataFrame(obs, dtype=object), features], axis=1), names


def _as_lists(frame: pd.DataFrame) -> dict:
    """Column -> values, missing ones as None: numbers compared exactly, whatever the dtype."""
    return {c: [None if pd.isna(v) else v for v in frame[c].astype(object)] for c in frame.columns}


def _assert_same(got: pd.DataFrame, expected: pd.DataFrame, features: list[str]) -> None:
    assert got.columns.tolist() == expected.columns.tolist()
    assert got.index.equals(pd.RangeIndex(len(expected)))
    assert all(got[c].dtype == np.float32 for c in features)
    assert _as_lists(got) == _as_lists(expected)


def test_columns_metadata_and_features_of_an_anndata_file():
    table = H5adTable(DENSE)
    obs = list(DENSE_DTYPES)
    var = [f"Cells_Intensity_{i}" for i in range(6)]
    assert table.metadata == [OBS_NAMES, *obs]
    assert table.features == var
    assert table.columns == [OBS_NAMES, *obs, *var]
    assert table.n_rows == 40 and table.path == DENSE
    assert H5adTable(DENSE, "X_subcell").features == [f"X_subcell_{i}" for i in range(8)]
    assert H5adTable(DENSE, "coords").features == ["x", "y"]  # a dataframe in obsm: its columns
    assert H5adTable(SPARSE, "X_csc").columns == [OBS_NAMES, "protein", "note", *[f"X_csc_{i}" for i in range(5)]]
    assert table_columns(DENSE) == table.metadata


@pytest.mark.parametrize(
    ("path", "obsm"),
    [(DENSE, None), (DENSE, "X_subcell"), (DENSE, "X_pca"), (DENSE, "coords"), (SPARSE, None), (SPARSE, "X_csc")],
)
@pytest.mark.parametrize("rows", [1, 7, None])
def test_batches_of_rows_make_up_what_anndata_reads(path, obsm, rows):
    table = H5adTable(path, obsm)
    batches = list(table.batches(rows=rows))
    assert [len(b) for b in batches[:-1]] == [rows or 40] * (len(batches) - 1)
    expected, features = _reference(path, obsm)
    _assert_same(pd.concat(batches), expected, features)


def test_obs_columns_are_read_as_pandas_columns():
    frame = next(H5adTable(DENSE).batches())
    assert {c: str(frame[c].dtype) for c in DENSE_DTYPES} == DENSE_DTYPES
    assert frame["label"].isna().sum() == 4 and frame["n_nuclei"].isna().sum() == 3
    assert set(frame["in_focus"].dropna()) == {True, False} and frame["in_focus"].isna().sum() == 3
    sparse = next(H5adTable(SPARSE).batches())
    assert sparse["note"].isna().sum() == 7 and sparse["protein"].nunique() == 5


def test_only_the_requested_columns_are_returned_and_decoded(monkeypatch):
    decoded = []
    column = h5ad_table._column

    def recording(path, where, node):
        decoded.append(where)
        return column(path, where, node)

    monkeypatch.setattr(h5ad_table, "_column", recording)
    wanted = ["Cells_Intensity_4", "label", OBS_NAMES, "Cells_Intensity_1"]
    frames = list(H5adTable(DENSE).batches(wanted, rows=16))
    assert [len(f) for f in frames] == [16, 16, 8]
    assert all(f.columns.tolist() == wanted for f in frames)
    assert sorted(decoded) == ["obs/cell_id", "obs/label"]  # the index is the dataset _index names
    expected, _ = _reference(DENSE)
    _assert_same(pd.concat(frames), expected[wanted], ["Cells_Intensity_4", "Cells_Intensity_1"])
    assert next(H5adTable(DENSE).batches(["protein"])).columns.tolist() == ["protein"]


@pytest.mark.parametrize("sparse_values", [1, 3, 10**6])  # pieces of a row (or column), a few, all at once
@pytest.mark.parametrize("obsm", [None, "X_csc"])
def test_sparse_matrices_read_in_pieces_and_column_subsets(monkeypatch, sparse_values, obsm):
    monkeypatch.setattr(h5ad_table, "SPARSE_VALUES", sparse_values)
    expected, features = _reference(SPARSE, obsm)
    for wanted in [features, features[::-1], [features[4], features[0]], [features[-1]]]:
        got = pd.concat(H5adTable(SPARSE, obsm).batches(wanted, rows=6))
        _assert_same(got, expected[wanted], wanted)


def test_dense_column_subsets_close_together_or_far_apart():
    expected, features = _reference(DENSE, "X_subcell")
    for wanted in [features[2:5], features[::-1], [features[7], features[0]], [features[6], features[1], features[3]]]:
        got = pd.concat(H5adTable(DENSE, "X_subcell").batches(wanted, rows=9))
        _assert_same(got, expected[wanted], wanted)


def _enc(node, kind: str, version: str = "0.2.0"):
    node.attrs["encoding-type"], node.attrs["encoding-version"] = kind, version
    return node


def _strings(group, name: str, values) -> None:
    _enc(group.create_dataset(name, data=list(values), dtype=h5py.string_dtype()), "string-array")


def _dataframe(group, index_name: str, index, columns: list[str]):
    _enc(group, "dataframe")
    group.attrs["_index"] = index_name
    group.attrs["column-order"] = columns
    _strings(group, index_name, index)
    return group


def _sparse(group, matrix: sp.spmatrix, kind: str) -> None:
    """csr or csc as the format writes it; ``legacy``: anndata 0.7's h5sparse attributes."""
    if kind == "legacy":
        group.attrs["h5sparse_format"], group.attrs["h5sparse_shape"] = "csr", matrix.shape
    else:
        _enc(group, kind, "0.1.0").attrs["shape"] = matrix.shape
    for name in ("data", "indices", "indptr"):
        group.create_dataset(name, data=getattr(matrix, name))


#: the features of the hand-written file (int, with zeros so sparse forms are sparse)
X = np.array([[0, 2, 0, 1], [0, 0, 0, 0], [5, 0, 0, 7], [0, 0, 3, 0], [1, 1, 1, 1], [0, 9, 0, 0]], np.int32)


def _hand_written(path: Path, x_kind: str) -> Path:
    """An AnnData file made by hand from the on-disk format: each obs encoding, anndata 0.7's
    columns (no encoding attributes, a categorical as codes referring to its categories), X
    as ``x_kind``, a dense integer obsm."""
    with h5py.File(path, "w") as f:
        _enc(f, "anndata", "0.1.0")
        obs = _dataframe(f.create_group("obs"), "idx", list("abcdef"), ["gene", "kind", "count", "ok", "old", "leg"])
        _strings(obs, "gene", ["ACT1", "NUP49", "ACT1", "SEC7", "TOM20", "ACT1"])
        kind = _enc(obs.create_group("kind"), "categorical")
        kind.attrs["ordered"] = False
        _enc(kind.create_dataset("codes", data=np.array([0, 1, -1, 2, 0, 1], np.int8)), "array")
        _enc(kind.create_dataset("categories", data=np.array([10, 20, 30])), "array")
        for name, kind_name, values, mask in [
            ("count", "nullable-integer", np.array([3, 1, 4, 1, 5, 9], np.int32), np.zeros(6, bool)),
            ("ok", "nullable-boolean", np.array([True, False, True, True, False, False]), np.arange(6) == 1),
        ]:
            group = _enc(obs.create_group(name), kind_name, "0.1.0")
            group.create_dataset("values", data=values)
            group.create_dataset("mask", data=mask)
        obs.create_dataset("old", data=np.linspace(0, 1, 6))  # anndata 0.7: no encoding attributes
        categories = obs.create_group("__categories").create_dataset("leg", data=["x", "y"], dtype=h5py.string_dtype())
        obs.create_dataset("leg", data=np.array([1, 0, -1, 1, 1, 0], np.int8)).attrs["categories"] = categories.ref
        _dataframe(f.create_group("var"), "_index", ["v0", "v1", "v2", "v3"], [])
        if x_kind == "dense":
            _enc(f.create_dataset("X", data=X), "array")
        else:
            _sparse(f.create_group("X"), (sp.csc_matrix if x_kind == "csc_matrix" else sp.csr_matrix)(X), x_kind)
        _enc(f.create_group("obsm"), "dict", "0.1.0")
        _enc(f["obsm"].create_dataset("emb", data=np.arange(12).reshape(6, 2)), "array")
    return path


@pytest.mark.parametrize("x_kind", ["dense", "csr_matrix", "csc_matrix", "legacy"])
def test_a_file_written_by_hand_from_the_format_reads_back(tmp_path, x_kind):
    table = H5adTable(_hand_written(tmp_path / "hand.h5ad", x_kind))
    assert table.columns == [OBS_NAMES, "gene", "kind", "count", "ok", "old", "leg", "v0", "v1", "v2", "v3"]
    got = pd.concat(table.batches(rows=4))
    expected = {
        OBS_NAMES: list("abcdef"),
        "gene": ["ACT1", "NUP49", "ACT1", "SEC7", "TOM20", "ACT1"],
        "kind": [10.0, 20.0, None, 30.0, 10.0, 20.0],  # numeric categories with a missing one: float
        "count": [3, 1, 4, 1, 5, 9],
        "ok": [True, None, True, True, False, False],
        "old": list(np.linspace(0, 1, 6)),
        "leg": ["y", "x", None, "y", "y", "x"],
        **{f"v{j}": X[:, j].astype(np.float32).tolist() for j in range(4)},
    }
    assert _as_lists(got) == expected
    assert got["count"].dtype == np.int32  # no missing value: the integers as they are
    assert got["kind"].dtype == np.float64 and got["v0"].dtype == np.float32
    emb = pd.concat(H5adTable(tmp_path / "hand.h5ad", "emb").batches(rows=5))
    assert emb[["emb_0", "emb_1"]].to_numpy().tolist() == np.arange(12.0).reshape(6, 2).tolist()


@pytest.mark.parametrize("kind", ["csr_matrix", "csc_matrix"])
def test_duplicate_sparse_entries_are_summed_as_scipy_does(tmp_path, kind):
    data, indices = np.array([1.5, 2.0, 0.25, 4.0], np.float32), np.array([1, 1, 0, 2], np.int32)
    matrix = (sp.csr_matrix if kind == "csr_matrix" else sp.csc_matrix)((data, indices, [0, 3, 3, 4]), shape=(3, 3))
    assert not matrix.has_canonical_format
    path = _hand_written(tmp_path / "dup.h5ad", "dense")
    with h5py.File(path, "a") as f:
        f["obsm"].create_group("dup")
        _sparse(f["obsm"]["dup"], matrix, kind)
        del f["obs"]
        _dataframe(f.create_group("obs"), "_index", ["a", "b", "c"], [])
        del f["X"]
    got = pd.concat(H5adTable(path, "dup").batches(rows=2))
    assert got.drop(columns=OBS_NAMES).to_numpy().tolist() == matrix.toarray().tolist()


def _big(path: Path, x_kind: str, n: int = 20_000, width: int = 100) -> Path:
    """A file whose X (8 MB dense) is much larger than a batch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, width)).astype(np.float32)
    x[rng.uniform(size=x.shape) < 0.5] = 0  # half stored: data and indices 4 MB each
    with h5py.File(path, "w") as f:
        _dataframe(f.create_group("obs"), "_index", [f"c{i}" for i in range(n)], [])
        _dataframe(f.create_group("var"), "_index", [f"f{j}" for j in range(width)], [])
        if x_kind == "dense":
            _enc(f.create_dataset("X", data=x), "array")
        else:
            _sparse(f.create_group("X"), (sp.csr_matrix if x_kind == "csr_matrix" else sp.csc_matrix)(x), x_kind)
    return path


@pytest.mark.parametrize("x_kind", ["dense", "csr_matrix", "csc_matrix"])
def test_memory_follows_the_batch_not_the_file(tmp_path, monkeypatch, x_kind):
    monkeypatch.setattr(h5ad_table, "SPARSE_VALUES", 20_000)
    table = H5adTable(_big(tmp_path / "big.h5ad", x_kind))
    tracemalloc.start()
    try:
        rows = sum(len(batch) for batch in table.batches(table.features, rows=500))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rows == 20_000
    assert peak < 2 * 2**20, f"{peak / 2**20:.1f} MB for 200 kB batches of an 8 MB X"


def _assert_one_line(match: str, make, path) -> None:
    with pytest.raises(InputError, match=match) as err:
        make()
    message = str(err.value)
    assert "\n" not in message and message.startswith(str(path))


def test_problems_with_the_file_are_one_line_naming_it(tmp_path):
    text = tmp_path / "cells.h5ad"
    text.write_text("cell_id,area\n")
    _assert_one_line(r"cells\.h5ad: not an HDF5 file", lambda: H5adTable(text), text)
    other = tmp_path / "other.h5ad"
    with h5py.File(other, "w") as f:
        f.create_group("images")
    _assert_one_line(r"other\.h5ad: not AnnData: no obs group", lambda: H5adTable(other), other)
    _assert_one_line(r"absent\.h5ad: file not found", lambda: H5adTable(tmp_path / "absent.h5ad"), tmp_path)
    _assert_one_line(
        r"anndata_dense\.h5ad: no obsm key 'X_cytoself' \(obsm has \['X_pca', 'X_subcell', 'coords'\]\)$",
        lambda: H5adTable(DENSE, "X_cytoself"),
        DENSE,
    )
    _assert_one_line(
        r"anndata_dense\.h5ad: no column\(s\) \['X_subcell_0', 'gene'\] \(it has obs_names, obs columns \[",
        lambda: list(H5adTable(DENSE).batches(["protein", "X_subcell_0", "gene"])),
        DENSE,
    )


def test_a_missing_or_unreadable_x_is_named(tmp_path):
    path = _hand_written(tmp_path / "hand.h5ad", "dense")
    with h5py.File(path, "a") as f:
        del f["X"]
    _assert_one_line(
        r"hand\.h5ad: no X \(name an obsm key instead; obsm has \['emb'\]\)$", lambda: H5adTable(path), path
    )
    with h5py.File(path, "a") as f:
        _enc(f.create_group("X"), "awkward-array", "0.1.0")
        f.create_dataset("obsm/flat", data=np.arange(6))
        _enc(f["obs"].create_group("nested"), "dataframe")
        f["obs"].attrs["column-order"] = ["gene", "nested"]
    _assert_one_line(
        r"hand\.h5ad: X is encoded as 'awkward-array', which is not read \(only", lambda: H5adTable(path), path
    )
    _assert_one_line(r"obsm/flat is encoded as 'array' of shape \(6,\)", lambda: H5adTable(path, "flat"), path)
    table = H5adTable(path, "emb")
    assert table.metadata == [OBS_NAMES, "gene", "nested"]
    assert next(table.batches(["gene"]))["gene"].tolist() == ["ACT1", "NUP49", "ACT1", "SEC7", "TOM20", "ACT1"]
    _assert_one_line(
        r"hand\.h5ad: column obs/nested is encoded as 'dataframe', which is not read",
        lambda: list(table.batches()),
        path,
    )


def test_a_name_used_twice_is_refused(tmp_path):
    path = _hand_written(tmp_path / "hand.h5ad", "dense")
    with h5py.File(path, "a") as f:
        del f["var/_index"]
        _strings(f["var"], "_index", ["v0", "gene", "v2", "v3"])
    _assert_one_line(r"hand\.h5ad: name\(s\) \['gene'\] used twice", lambda: H5adTable(path), path)
    assert H5adTable(path, "emb").features == ["emb_0", "emb_1"]  # X's names do not matter then
