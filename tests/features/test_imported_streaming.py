"""Imported feature tables read batch by batch give the table the whole-table join gave.

``reference_import`` is the join as it was when the user's table was read whole; the batched
reader, the in-memory result and the streamed file must all equal it, logs included."""

import logging

import numpy as np
import pandas as pd
import pytest

from pcinpaint.errors import InputError
from pcinpaint.features import imported
from pcinpaint.features.imported import import_features, write_imported_features
from pcinpaint.features.table import feature_table, with_metadata
from pcinpaint.io import read_table, write_table


def _keys_as_text(frame, columns):
    parts = [frame[c].astype(str).str.strip() for c in columns]
    return parts[0] if len(parts) == 1 else pd.Series(list(zip(*parts)), index=frame.index).map("\x1f".join)


def _numeric_features(table, exclude, where, log):
    names, values, text, missing = [], [], [], []
    for col in table.columns:
        if col in exclude or str(col).startswith("Metadata_"):
            continue
        raw = table[col]
        if raw.dtype == object or pd.api.types.is_string_dtype(raw):
            stripped = raw.astype(str).str.strip()
            blank = stripped.isin(["", "nan", "NaN", "NA", "null", "None"])
            number = pd.to_numeric(stripped.where(~blank), errors="coerce")
            if (number.isna() & ~blank).any():
                text.append(col)
                continue
        else:
            number = pd.to_numeric(raw, errors="coerce")
        if number.isna().any() or not np.isfinite(number.to_numpy(np.float64)).all():
            missing.append(col)
            continue
        names.append(str(col))
        values.append(number.to_numpy(np.float32))
    if text:
        log.info("%s: %d non-numeric column(s) are not features: %s", where, len(text), text[:10])
    if missing:
        log.warning("%s: %d column(s) with missing or infinite values dropped: %s", where, len(missing), missing[:10])
    if not names:
        raise InputError(f"{where}: no numeric feature columns with complete values")
    return np.stack(values, axis=1), names


def reference_import(path, cells, key=None, level="cell", drop_unmatched=False):
    """The whole-table join (the user's table read at once), kept as the oracle."""
    log = logging.getLogger(imported.__name__)
    table = read_table(path)
    keys = imported.key_columns(key, level)
    file_key = _keys_as_text(table, list(keys))
    if file_key.duplicated().any():
        raise InputError(f"{path}: duplicated keys")
    cells = cells.sort_values("store_index").reset_index(drop=True)
    rows = pd.DataFrame({"protein": pd.unique(cells["protein"])}) if level == "protein" else cells
    cell_key = _keys_as_text(rows, list(keys.values()))
    unmatched = ~file_key.isin(set(cell_key))
    if unmatched.any():
        message = (
            f"{path}: {int(unmatched.sum())} of {len(table)} rows match no {level} of the screen "
            f"on key {list(keys)} (e.g. {file_key[unmatched].iloc[0]!r})"
        )
        if not drop_unmatched:
            raise InputError(message + "; set drop_unmatched: true to drop them")
        log.warning("%s; dropped (drop_unmatched)", message)
        table, file_key = table[~unmatched], file_key[~unmatched]
    features, names = _numeric_features(table, set(keys), str(path), log)
    order = pd.Series(np.arange(len(file_key)), index=file_key.to_numpy())[cell_key.to_numpy()].to_numpy()
    log.info("%s: %d %ss x %d features", path, len(rows), level, len(names))
    if level == "protein":
        return with_metadata(rows, features[order], names)
    return feature_table(cells, features[order], "", names)


N = 23


@pytest.fixture
def cells():
    rng = np.random.default_rng(4)
    return pd.DataFrame(
        {
            "cell_id": [f"f{i // 5}:{i % 5 + 1}" for i in range(N)],
            "image_id": [f"im{i // 7}" for i in range(N)],
            "field_id": [f"f{i // 5}" for i in range(N)],
            "protein": [f"P{i % 4}" for i in range(N)],
            "object_number": [i % 5 + 1 for i in range(N)],
            "centroid_y": rng.uniform(0, 100, N),
            "area": rng.integers(50, 500, N),
            "store_index": rng.permutation(N),
        }
    )


def _user_table(cells, rng, extra_rows=0):
    """A CellProfiler-like export: shuffled rows, text, blanks, NaN, inf, ints, a column that is
    blank early and text late (text wins), and ``extra_rows`` objects that match no cell."""
    n = len(cells) + extra_rows
    ids = list(cells["cell_id"]) + [f"ghost{i}" for i in range(extra_rows)]
    table = pd.DataFrame(
        {
            "FileName": [f"x{i}.tif" for i in range(n)],
            "cell_id": ids,
            "Metadata_Well": "A01",
            "AreaShape_Area": rng.integers(10, 900, n),
            "Intensity_Mean": rng.normal(size=n) * 1e3,
            "Tiny": rng.normal(size=n) * 1e-30,
            "Gap": np.where(np.arange(n) == 2, np.nan, rng.normal(size=n)),
            "Inf": np.where(np.arange(n) == 3, np.inf, 1.0),
            "Flag": rng.integers(0, 2, n).astype(bool),
        }
    )
    late = np.full(n, "", dtype=object)
    late[1:] = [f"{v:.7g}" for v in rng.normal(size=n - 1)]
    late[len(cells) - 1] = "oops"
    table["LateText"] = late
    ghost_gap = rng.normal(size=n)  # missing only in the rows that match no cell: a feature once they go
    ghost_gap[len(cells) :] = np.nan
    table["GhostGap"] = ghost_gap
    return table.iloc[rng.permutation(n)].reset_index(drop=True)


def _write(table, path):
    if path.suffix == ".parquet":
        table.to_parquet(path)
    else:
        table.to_csv(path, sep={".csv": ",", ".tsv": "\t"}.get(path.suffix, ";"), index=False)  # else: sniffed
    return path


def _same(path, cells, tmp_path, caplog, **kwargs):
    caplog.set_level(logging.INFO, logger=imported.__name__)
    caplog.clear()
    expected = reference_import(path, cells, **kwargs)
    expected_log = [r.getMessage() for r in caplog.records]
    caplog.clear()
    got = import_features(path, cells, **kwargs)
    assert [r.getMessage() for r in caplog.records] == expected_log
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    out = tmp_path / "out" / "imported.parquet"
    write_imported_features(path, cells, out, **kwargs)
    write_table(expected, tmp_path / "expected.parquet")
    pd.testing.assert_frame_equal(read_table(out), read_table(tmp_path / "expected.parquet"), check_exact=True)
    assert sorted(p.name for p in out.parent.iterdir()) == ["imported.parquet"]  # no temporary left
    return got


@pytest.mark.parametrize("batch_values", [7, 40, 10**6])  # one or two rows per batch, a few rows, all rows
@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".dat"])
def test_batched_join_equals_the_whole_table_join(cells, tmp_path, caplog, monkeypatch, batch_values, suffix):
    monkeypatch.setattr(imported, "BATCH_VALUES", batch_values)
    monkeypatch.setattr(imported, "WRITE_ROWS", 4)
    monkeypatch.setattr(imported, "PARQUET_COLUMNS", 3)  # parquet: a pass per 3 columns
    rng = np.random.default_rng(len(suffix) + batch_values)
    path = _write(_user_table(cells, rng, extra_rows=3), tmp_path / f"cp{suffix}")
    got = _same(path, cells, tmp_path, caplog, drop_unmatched=True)
    flag = ["Flag"] if suffix == ".parquet" else []  # booleans are numbers; "True" in a text file is text
    features = [c for c in got.columns if not c.startswith("Metadata_")]
    assert features == ["AreaShape_Area", "Intensity_Mean", "Tiny", *flag, "GhostGap"]
    assert list(got["Metadata_store_index"]) == list(range(N))


@pytest.mark.parametrize("batch_values", [5, 10**6])
def test_batched_multi_key_indexed_parquet_and_protein_tables(cells, tmp_path, caplog, monkeypatch, batch_values):
    monkeypatch.setattr(imported, "BATCH_VALUES", batch_values)
    monkeypatch.setattr(imported, "PARQUET_COLUMNS", 1)
    rng = np.random.default_rng(1)
    table = pd.DataFrame(
        {
            "ImageNumber": cells["field_id"],
            "ObjectNumber": cells["object_number"].astype(float),  # typed unlike the cell table
            "f": rng.normal(size=N),
            "g": rng.integers(0, 9, N),
        }
    ).iloc[rng.permutation(N)]
    table.index = pd.Index(rng.permutation(N) * 10, name="row")  # an index kept by parquet is not a feature
    table.to_parquet(tmp_path / "cp.parquet")
    key = {"ImageNumber": "field_id", "ObjectNumber": "object_number"}
    cells = cells.assign(object_number=cells["object_number"].astype(float))
    _same(tmp_path / "cp.parquet", cells, tmp_path, caplog, key=key)
    proteins = pd.DataFrame({"protein": ["P3", "P0", "P2", "P1"], "a": [3.0, 0, 2, 1], "b": ["x", "y", "z", "w"]})
    _write(proteins, tmp_path / "p.tsv")
    got = _same(tmp_path / "p.tsv", cells, tmp_path, caplog, level="protein")
    assert list(got.columns) == ["Metadata_protein", "a"]


def test_a_failed_join_leaves_nothing_beside_the_output(cells, tmp_path, monkeypatch):
    monkeypatch.setattr(imported, "BATCH_VALUES", 6)
    table = _user_table(cells, np.random.default_rng(2), extra_rows=2)
    path = _write(table, tmp_path / "cp.csv")
    out = tmp_path / "out" / "imported.parquet"
    with pytest.raises(InputError, match=r"cp\.csv: 2 of 25 rows match no cell of the screen"):
        write_imported_features(path, cells, out)
    assert list(out.parent.iterdir()) == []
    _write(table.iloc[:-5], path)
    with pytest.raises(InputError, match=r"cp\.csv: \d of 23 cells of the screen have no row"):
        write_imported_features(path, cells, out, drop_unmatched=True)
    assert list(out.parent.iterdir()) == []
    path.write_text('cell_id,f\nc1,"1\n')  # an unclosed quote: the parser fails while reading
    with pytest.raises(InputError, match=r"cp\.csv: cannot parse table"):
        write_imported_features(path, cells, out)
