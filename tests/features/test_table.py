"""The feature-table contract (``pcinpaint.features.table``): Metadata_ columns first in store
order, float32 features after them, the streamed parquet identical to the table in memory, and a
table short of rows never appearing."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.features.table import (
    METADATA_PREFIX,
    collect_batches,
    feature_names,
    feature_table,
    feature_table_writer,
    split_table,
    stream_feature_tables,
)

CELLS = pd.DataFrame({"store_index": [2, 0, 1], "protein": ["c", "a", "b"], "area": [30.0, 10.0, 20.0]})


def _features(n=3, d=12):
    return np.arange(n * d, dtype=np.float64).reshape(n, d) / 7


def test_feature_names_are_zero_padded_or_named():
    assert feature_names(12, "conv1")[:2] == ["conv1_00", "conv1_01"] and feature_names(12, "conv1")[-1] == "conv1_11"
    assert feature_names(3, "x") == ["x_0", "x_1", "x_2"]
    assert feature_names(2, "", ["area", "ecc"]) == ["area", "ecc"]
    assert feature_names(2, "cp", ["area", "ecc"]) == ["cp_area", "cp_ecc"]
    with pytest.raises(ValueError, match="3 feature columns but 2 names"):
        feature_names(3, "x", ["a", "b"])


def test_a_table_has_metadata_in_store_order_then_float32_features():
    feats = _features()  # rows already in store order
    table = feature_table(CELLS, feats, "conv5")
    assert list(table.columns[:3]) == ["Metadata_store_index", "Metadata_protein", "Metadata_area"]
    assert table["Metadata_store_index"].tolist() == [0, 1, 2]
    assert table["Metadata_protein"].tolist() == ["a", "b", "c"]
    assert (table.dtypes[3:] == np.float32).all() and table.columns[3] == "conv5_00"
    meta, x = split_table(table)
    pd.testing.assert_frame_equal(meta, CELLS.sort_values("store_index").reset_index(drop=True))
    np.testing.assert_array_equal(x, feats.astype(np.float32))
    assert x.dtype == np.float32
    with pytest.raises(ValueError, match="3 cells but 2 feature rows"):
        feature_table(CELLS, feats[:2], "conv5")


def test_a_streamed_table_reads_back_as_the_table_in_memory(tmp_path):
    feats = _features()
    path = tmp_path / "conv5.parquet"
    with feature_table_writer(CELLS, path, "conv5", 12) as writer:
        writer.write(feats[:2])
        assert not path.exists()  # the file appears only once every cell has its row
        writer.write(feats[2:])
    pd.testing.assert_frame_equal(pd.read_parquet(path), feature_table(CELLS, feats, "conv5"))


def test_a_table_short_of_rows_or_given_too_many_is_an_error_and_never_written(tmp_path):
    path = tmp_path / "short.parquet"
    with pytest.raises(ValueError, match=r"short\.parquet: 2 feature rows for 3 cells"):
        with feature_table_writer(CELLS, path, "x", 12) as writer:
            writer.write(_features()[:2])
    with pytest.raises(ValueError, match="4 feature rows for 3 cells"):
        with feature_table_writer(CELLS, path, "x", 12) as writer:
            writer.write(_features(n=4))
    assert list(tmp_path.iterdir()) == []


def test_several_tables_from_one_pass_and_their_in_memory_counterpart(tmp_path):
    feats = {"a": _features(d=2), "b": _features(d=5) + 1}
    batches = [{k: v[:1] for k, v in feats.items()}, {k: v[1:] for k, v in feats.items()}]
    specs = {"a": (tmp_path / "a.parquet", "a", 2), "b": (tmp_path / "b.parquet", "", 5, list("vwxyz"))}
    stream_feature_tables(CELLS, batches, specs)
    b = pd.read_parquet(tmp_path / "b.parquet")
    assert [c for c in b.columns if not c.startswith(METADATA_PREFIX)] == list("vwxyz")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "a.parquet"), feature_table(CELLS, feats["a"], "a"))
    collected = collect_batches(batches, {"a": 2, "b": 5}, 3)
    assert collected["b"].dtype == np.float32
    np.testing.assert_array_equal(collected["b"], feats["b"].astype(np.float32))
