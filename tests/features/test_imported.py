"""Imported feature tables: per-cell and per-protein joins, and clear errors for broken tables."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.errors import InputError
from pcinpaint.features.imported import import_features
from pcinpaint.features.table import split_table


@pytest.fixture
def cells():
    return pd.DataFrame(
        {
            "cell_id": [f"c{i}" for i in range(6)],
            "image_id": ["i0", "i0", "i1", "i1", "i2", "i2"],
            "protein": ["P1", "P1", "P1", "P1", "P2", "P2"],
            "store_index": [3, 0, 1, 2, 5, 4],  # not in store order: the join must restore it
        }
    )


def test_per_cell_table_joins_in_store_order(cells, tmp_path):
    rng = np.random.default_rng(0)
    values = rng.normal(size=(6, 3))
    exported = pd.DataFrame(
        {
            "cell_id": list(reversed(cells["cell_id"])),
            "FileName": "x.tif",
            "Metadata_Well": "A01",
            "AreaShape_Area": values[::-1, 0],
            "Intensity_Mean": values[::-1, 1],
            "Texture_X": values[::-1, 2],
        }
    )
    exported.to_csv(tmp_path / "cp.csv", index=False)
    table = import_features(tmp_path / "cp.csv", cells)
    meta, x = split_table(table)
    assert list(meta["store_index"]) == list(range(6))
    assert [c for c in table.columns if not c.startswith("Metadata_")] == [
        "AreaShape_Area",
        "Intensity_Mean",
        "Texture_X",
    ]
    order = cells.sort_values("store_index").index.to_numpy()  # row of `values` for each store slot
    np.testing.assert_allclose(x, values[order], rtol=1e-6)


def test_multi_column_key_and_parquet(cells, tmp_path):
    cells = cells.assign(object_number=[1, 2, 1, 2, 1, 2])
    table = pd.DataFrame(
        {"ImageNumber": cells["image_id"], "ObjectNumber": cells["object_number"], "f": np.arange(6.0)}
    )
    table.to_parquet(tmp_path / "cp.parquet")
    out = import_features(
        tmp_path / "cp.parquet", cells, key={"ImageNumber": "image_id", "ObjectNumber": "object_number"}
    )
    meta, x = split_table(out)
    assert list(x[:, 0]) == list(cells.sort_values("store_index").index.astype(float))  # f == original row


def test_per_protein_table(cells, tmp_path):
    pd.DataFrame({"protein": ["P2", "P1"], "a": [2.0, 1.0], "b": [20.0, 10.0]}).to_csv(
        tmp_path / "p.tsv", sep="\t", index=False
    )
    out = import_features(tmp_path / "p.tsv", cells, level="protein")
    assert list(out["Metadata_protein"]) == ["P1", "P2"]
    assert out[["a", "b"]].to_numpy().tolist() == [[1.0, 10.0], [2.0, 20.0]]


def test_unmatched_rows_error_with_the_count_or_are_dropped(cells, tmp_path):
    extra = pd.DataFrame({"cell_id": list(cells["cell_id"]) + ["ghost1", "ghost2"], "f": np.arange(8.0)})
    extra.to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(
        InputError, match=r"extra\.csv: 2 of 8 rows match no cell of the screen on key \['cell_id'\]"
    ) as exc:
        import_features(tmp_path / "extra.csv", cells)
    assert "\n" not in str(exc.value)
    out = import_features(tmp_path / "extra.csv", cells, drop_unmatched=True)
    assert len(out) == 6


def test_missing_cells_and_bad_keys_error_clearly(cells, tmp_path):
    pd.DataFrame({"cell_id": cells["cell_id"][:4], "f": np.arange(4.0)}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match=r"short\.csv: 2 of 6 cells of the screen have no row"):
        import_features(tmp_path / "short.csv", cells, drop_unmatched=True)  # missing cells are never dropped
    pd.DataFrame({"id": cells["cell_id"], "f": 1.0}).to_csv(tmp_path / "nokey.csv", index=False)
    with pytest.raises(InputError, match=r"nokey\.csv: key column\(s\) \['cell_id'\] not in the table"):
        import_features(tmp_path / "nokey.csv", cells)
    pd.DataFrame({"cell_id": ["c0", "c0", "c1", "c2", "c3", "c4", "c5"], "f": 1.0}).to_csv(
        tmp_path / "dup.csv", index=False
    )
    with pytest.raises(InputError, match=r"dup\.csv: 1 row\(s\) repeat the key"):
        import_features(tmp_path / "dup.csv", cells)
    pd.DataFrame({"cell_id": cells["cell_id"], "name": "x"}).to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(InputError, match=r"text\.csv: no numeric feature columns"):
        import_features(tmp_path / "text.csv", cells)
    with pytest.raises(InputError, match=r"absent\.csv: file not found"):
        import_features(tmp_path / "absent.csv", cells)


def test_columns_with_missing_values_are_dropped_not_imputed(cells, tmp_path):
    table = pd.DataFrame({"cell_id": cells["cell_id"], "ok": np.arange(6.0), "gap": [1, 2, None, 4, 5, 6]})
    table.to_csv(tmp_path / "gap.csv", index=False)
    out = import_features(tmp_path / "gap.csv", cells)
    assert "gap" not in out.columns and "ok" in out.columns
    # NaN and Inf, written as numbers or as text, drop their column the same way
    table = table.assign(
        inf=[1.0, np.inf, 3, 4, 5, 6], nan=[1.0, 2, np.nan, 4, 5, 6], minus_inf=["-inf", "1", "2", "3", "4", "5"]
    )
    table.to_parquet(tmp_path / "bad.parquet")
    out = import_features(tmp_path / "bad.parquet", cells)
    assert [c for c in out.columns if not c.startswith("Metadata_")] == ["ok"]
    assert np.isfinite(out["ok"]).all()
