"""A dataset that is one feature table (``source: features``): its cell table from the metadata
columns, its feature set through the imported reader, and one-line errors for bad tables."""

import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from pcinpaint.errors import InputError
from pcinpaint.features import imported
from pcinpaint.features.feature_table import (
    feature_columns,
    read_cell_table,
    source,
    write_cell_table,
    write_feature_set,
)
from pcinpaint.features.imported import TableReader
from pcinpaint.io import read_table
from pcinpaint.table_roles import cell_table_columns

FEATURES = ["Cells_AreaShape_Area", "Cells_Intensity_Mean", "Nuclei_Texture_Contrast"]


def _profiles(n: int = 6, seed: int = 0) -> pd.DataFrame:
    """A pycytominer-style profile: Metadata_ columns (plate, well = image, site = field) and
    float32 CellProfiler features."""
    rng = np.random.default_rng(seed)
    meta = pd.DataFrame(
        {
            "Metadata_Plate": [f"P{i % 2}" for i in range(n)],
            "Metadata_Well": [f"A0{i % 3}" for i in range(n)],
            "Metadata_Site": [str(i % 2 + 1) for i in range(n)],
            "Metadata_protein": [f"G{i % 4}" for i in range(n)],
            "Metadata_label": [["nucleus", "", "cytoplasm"][i % 3] for i in range(n)],
            "Metadata_moa": [f"m{i}" for i in range(n)],
        }
    )
    values = pd.DataFrame(rng.normal(size=(n, len(FEATURES))).astype(np.float32), columns=FEATURES)
    return pd.concat([meta, values], axis=1)


def _write(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` in the format its suffix names; text keeps float32's shortest round-trip form."""
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, sep="\t" if ".tsv" in path.suffixes else ",", index=False)
    return path


def _one_line(match: str, make, path: Path) -> str:
    with pytest.raises(InputError, match=match) as err:
        make()
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    return message


def _as_lists(frame: pd.DataFrame) -> dict:
    """Column -> values, a missing one as None (parquet reads text columns back as ``str``)."""
    return {c: [None if pd.isna(v) else v for v in frame[c].astype(object)] for c in frame.columns}


@pytest.fixture(params=["profiles.parquet", "profiles.csv", "profiles.tsv.gz"])
def table_path(request, tmp_path) -> Path:
    return _write(_profiles(), tmp_path / request.param)


def test_the_cell_table_of_a_pycytominer_profile(table_path):
    block = {"path": str(table_path)}
    cells = read_cell_table(block)
    assert cells.columns.tolist() == cell_table_columns(block, TableReader(table_path).columns)
    assert cells.columns.tolist() == ["cell_id", "image_id", "field_id", "protein", "label", "moa", "store_index"]
    assert cells["cell_id"].tolist() == [str(i) for i in range(6)]  # no id column: the row number
    assert cells["image_id"].tolist() == ["P0/A00", "P1/A01", "P0/A02", "P1/A00", "P0/A01", "P1/A02"]
    assert cells["field_id"].tolist() == ["P0/A00/1", "P1/A01/2", "P0/A02/1", "P1/A00/2", "P0/A01/1", "P1/A02/2"]
    assert cells["protein"].tolist() == ["G0", "G1", "G2", "G3", "G0", "G1"]
    assert cells["label"].tolist() == ["nucleus", None, "cytoplasm", "nucleus", None, "cytoplasm"]
    assert cells["moa"].tolist() == [f"m{i}" for i in range(6)]
    assert cells["store_index"].tolist() == list(range(6)) and cells["store_index"].dtype == np.int64


def test_id_columns_and_no_field(tmp_path):
    table = pd.DataFrame(
        {
            "cell_id": ["c9", "c3", "c5"],
            "image_id": [" im1 ", "im1", "im2"],  # padded text is the same image
            "protein": ["NUP49", "NUP49", "ACT1"],
            "cell_line": ["BY4741"] * 3,
            "Metadata_label": ["nan", "NA", "ER"],
            "f": [1.0, 2.0, 3.0],
        }
    )
    path = _write(table, tmp_path / "cells.csv")
    cells = read_cell_table({"path": str(path)})
    assert cells.columns.tolist() == ["cell_id", "image_id", "field_id", "protein", "cell_line", "label", "store_index"]
    assert cells["cell_id"].tolist() == ["c9", "c3", "c5"]
    assert cells["field_id"].tolist() == cells["image_id"].tolist() == ["im1", "im1", "im2"]
    assert cells["label"].tolist() == [None, None, "ER"]


def test_named_columns_build_the_cell_table(tmp_path):
    table = pd.DataFrame({"ORF": ["YAL1", "YAL2"], "plate": [1, 1], "well": ["B02", "B03"], "x": [0.5, 1.5]})
    block = {
        "path": str(_write(table, tmp_path / "t.parquet")),
        "columns": {"protein": "ORF", "image_id": ["plate", "well"]},
    }
    cells = read_cell_table(block)
    assert cells["image_id"].tolist() == ["1/B02", "1/B03"] and cells["protein"].tolist() == ["YAL1", "YAL2"]


def test_write_cell_table_writes_what_is_read(tmp_path, table_path):
    out = tmp_path / "out" / "cells.parquet"
    out.parent.mkdir()
    assert write_cell_table({"path": str(table_path)}, out) == 6
    expected = read_cell_table({"path": str(table_path)})
    assert _as_lists(read_table(out)) == _as_lists(expected)


def test_a_per_protein_table_is_one_row_per_protein(tmp_path):
    table = pd.DataFrame(
        {
            "Metadata_protein": ["NUP49", "ACT1", "SEC7"],
            "Metadata_image_id": ["i0", "i0", "i1"],  # ignored: a protein is its own image
            "Metadata_go": ["nuclear pore", "actin", "golgi"],
            "a": [1.0, 2.0, 3.0],
        }
    )
    block = {"path": str(_write(table, tmp_path / "means.csv")), "level": "protein"}
    cells = read_cell_table(block)
    assert cells.columns.tolist() == ["cell_id", "image_id", "field_id", "protein", "go", "store_index"]
    for role in ("cell_id", "image_id", "field_id", "protein"):
        assert cells[role].tolist() == ["NUP49", "ACT1", "SEC7"]
    assert cells["store_index"].tolist() == [0, 1, 2]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_repeated_cell_ids_name_the_two_rows(tmp_path, suffix):
    table = pd.DataFrame({"cell_id": ["a", "b", "c", "a", "b"], "image_id": "i", "protein": "p", "f": 1.0})
    path = _write(table, tmp_path / f"cells{suffix}")
    _one_line(
        r"rows 1 and 4 share the cell_id 'a' \(2 repeated\); each cell needs exactly one row$",
        lambda: read_cell_table({"path": str(path)}),
        path,
    )


def test_repeated_wells_as_cell_ids(tmp_path):
    table = _profiles(3).assign(Metadata_Plate="P1", Metadata_Well=["A01", "A02", "A01"])
    path = _write(table, tmp_path / "wells.csv")
    _one_line(
        r"rows 1 and 3 share the cell_id 'P1/A01' \(1 repeated\)",
        lambda: read_cell_table({"path": str(path), "columns": {"cell_id": ["Metadata_Plate", "Metadata_Well"]}}),
        path,
    )


def test_a_protein_twice_in_a_per_protein_table(tmp_path):
    table = pd.DataFrame({"protein": ["ACT1", "NUP49", "ACT1"], "a": [1.0, 2.0, 3.0]})
    path = _write(table, tmp_path / "means.parquet")
    _one_line(
        r"rows 1 and 3 share the protein 'ACT1' \(1 repeated\); each protein needs exactly one row$",
        lambda: read_cell_table({"path": str(path), "level": "protein"}),
        path,
    )


@pytest.mark.parametrize("level", ["cell", "protein"])
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_blank_protein_names_its_row_and_column(tmp_path, level, suffix):
    table = pd.DataFrame(
        {"cell_id": ["a", "b", "c"], "image_id": "i", "Metadata_protein": ["ACT1", None, "SEC7"], "f": 1.0}
    )
    path = _write(table, tmp_path / f"cells{suffix}")
    _one_line(
        r"row 2: no protein \(column Metadata_protein is blank in 1 rows\)$",
        lambda: read_cell_table({"path": str(path), "level": level}),
        path,
    )


def test_a_blank_part_of_a_joined_id_is_blank(tmp_path):
    table = _profiles(4)
    table.loc[2, "Metadata_Plate"] = ""
    path = _write(table, tmp_path / "blank_plate.csv")
    _one_line(
        r"row 3: no image_id \(column Metadata_Plate\+Metadata_Well is blank in 1 rows\)$",
        lambda: read_cell_table({"path": str(path)}),
        path,
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("level", ["cell", "protein"])
def test_an_empty_table_is_one_line(tmp_path, suffix, level):
    table = pd.DataFrame({"cell_id": ["a"], "image_id": ["i"], "protein": ["p"], "f": [1.0]}).iloc[:0]
    path = _write(table, tmp_path / f"empty{suffix}")
    _one_line(r"the table has no rows$", lambda: read_cell_table({"path": str(path), "level": level}), path)


def _columns(block: dict) -> list[str]:
    return feature_columns(block, TableReader(source(block)))


def test_feature_columns_by_list_prefix_or_default(tmp_path):
    table = _profiles().assign(cell_id=[f"c{i}" for i in range(6)], image_id="i", Image_Count=1.0)
    path = str(_write(table, tmp_path / "profiles.parquet"))
    listed = ["Nuclei_Texture_Contrast", "Cells_AreaShape_Area"]
    assert _columns({"path": path, "features": {"columns": listed}}) == listed
    assert _columns({"path": path, "features": {"prefix": ["Nuclei_", "Cells_"]}}) == FEATURES
    assert _columns({"path": path, "features": {"prefix": ["Cells_"]}}) == FEATURES[:2]
    # default: every column that is neither a role's nor Metadata_
    assert _columns({"path": path}) == [*FEATURES, "Image_Count"]
    assert _columns({"path": path, "features": {"columns": [], "prefix": []}}) == [*FEATURES, "Image_Count"]


def test_bad_feature_choices_are_one_line(tmp_path):
    path = _write(_profiles(), tmp_path / "profiles.parquet")
    _one_line(
        r"no column starts with \['Cytoplasm_'\] \(feature_table\.features\.prefix\)$",
        lambda: _columns({"path": str(path), "features": {"prefix": ["Cytoplasm_"]}}),
        path,
    )
    _one_line(  # a prefix matching only metadata matches nothing
        r"no column starts with \['Metadata_'\]",
        lambda: _columns({"path": str(path), "features": {"prefix": ["Metadata_"]}}),
        path,
    )
    _one_line(
        r"feature_table\.features\.columns names metadata column\(s\) \['Metadata_moa'\]$",
        lambda: _columns({"path": str(path), "features": {"columns": ["Cells_AreaShape_Area", "Metadata_moa"]}}),
        path,
    )
    meta = _profiles().filter(like="Metadata_").assign(image_id="i")
    only_meta = _write(meta, tmp_path / "meta.parquet")
    _one_line(r"no feature column: every column is metadata", lambda: _columns({"path": str(only_meta)}), only_meta)


def _written(block: dict, cells: pd.DataFrame, tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "out" / "features.parquet"
    assert write_feature_set(block, cells, out) == len(cells)
    return read_table(out)


def _assert_contract(got: pd.DataFrame, cells: pd.DataFrame, table: pd.DataFrame, names: list[str]) -> None:
    """``got`` is the feature-table contract: the cell table's columns prefixed, in store order,
    then the table's ``names`` as float32, bit for bit."""
    meta = cells.sort_values("store_index").reset_index(drop=True).add_prefix("Metadata_")
    assert got.columns.tolist() == [*meta.columns, *names]
    assert _as_lists(got[meta.columns]) == _as_lists(meta)
    values = got[names].to_numpy()
    assert values.dtype == np.float32
    assert values.view(np.uint32).tolist() == table[names].to_numpy(np.float32).view(np.uint32).tolist()


def test_the_feature_set_is_the_tables_features_in_table_order(table_path, tmp_path):
    block = {"path": str(table_path)}
    cells = read_cell_table(block)
    shuffled = cells.sample(frac=1, random_state=1)  # the writer restores store order
    got = _written(block, shuffled, tmp_path)
    assert got["Metadata_cell_id"].tolist() == [str(i) for i in range(6)]
    _assert_contract(got, cells, _profiles(), FEATURES)  # text holds float32's round-trip form


def test_a_per_protein_feature_set(tmp_path):
    table = pd.DataFrame({"protein": ["NUP49", "ACT1"], "a": [1.5, 2.5], "b": [-1.0, 0.25]})
    block = {"path": str(_write(table, tmp_path / "means.tsv")), "level": "protein"}
    cells = read_cell_table(block)
    got = _written(block, cells, tmp_path)
    _assert_contract(got, cells, table, ["a", "b"])


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_a_text_feature_column_stops_the_run(tmp_path, suffix):
    table = _profiles().assign(FileName_DNA=[f"img{i}.tif" for i in range(6)])
    path = _write(table, tmp_path / f"profiles{suffix}")
    block = {"path": str(path)}
    _one_line(
        r"1 feature column\(s\) hold text, not numbers: \['FileName_DNA'\]; name metadata columns",
        lambda: write_feature_set(block, read_cell_table(block), tmp_path / "out.parquet"),
        path,
    )
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_columns_with_missing_or_infinite_values_are_dropped_and_counted(tmp_path, suffix, caplog):
    table = _profiles()
    table.loc[3, "Cells_Intensity_Mean"] = np.nan
    table.loc[5, "Nuclei_Texture_Contrast"] = np.inf
    block = {"path": str(_write(table, tmp_path / f"profiles{suffix}"))}
    cells = read_cell_table(block)
    with caplog.at_level(logging.INFO, logger="pcinpaint"):
        got = _written(block, cells, tmp_path)
    assert got.columns.tolist()[-1:] == ["Cells_AreaShape_Area"]
    _assert_contract(got, cells, table, ["Cells_AreaShape_Area"])
    dropped = [r for r in caplog.records if "missing or infinite" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.WARNING
    assert "2 column(s)" in dropped[0].getMessage()
    assert "['Cells_Intensity_Mean', 'Nuclei_Texture_Contrast']" in dropped[0].getMessage()


@pytest.mark.parametrize("suffix", [".parquet", ".csv.gz"])
def test_a_large_table_in_small_batches_equals_the_in_memory_answer(tmp_path, monkeypatch, suffix):
    n, width = 5_000, 40
    rng = np.random.default_rng(3)
    names = [f"Cells_F{j:02d}" for j in range(width)]
    table = pd.DataFrame(rng.normal(size=(n, width)).astype(np.float32), columns=names)
    table.insert(0, "Metadata_Well", [f"W{i // 50:03d}" for i in range(n)])
    table.insert(0, "Metadata_Plate", "P1")
    table.insert(0, "Metadata_protein", [f"G{i % 37}" for i in range(n)])
    path = tmp_path / f"big{suffix}"
    if suffix == ".parquet":
        table.to_parquet(path, index=False, row_group_size=700)
    else:
        table.to_csv(path, index=False)
    monkeypatch.setattr(imported, "BATCH_VALUES", 9_000)  # 209 rows of 43 columns a batch
    monkeypatch.setattr(imported, "WRITE_ROWS", 333)
    monkeypatch.setattr(imported, "PARQUET_COLUMNS", 16)  # three passes over the parquet file
    read, written = [], []
    batches, blocks = TableReader.batches, imported.JoinedTable.blocks

    def recorded_batches(self, columns=None):
        for frame in batches(self, columns):
            read.append(len(frame))
            yield frame

    def recorded_blocks(self, rows=None):
        for values in blocks(self, imported.WRITE_ROWS):
            written.append(len(values))
            yield values

    monkeypatch.setattr(TableReader, "batches", recorded_batches)
    monkeypatch.setattr(imported.JoinedTable, "blocks", recorded_blocks)
    block = {"path": str(path)}
    cells = read_cell_table(block)
    assert cells["cell_id"].tolist() == [str(i) for i in range(n)]
    _assert_contract(_written(block, cells, tmp_path), cells, table, names)
    assert max(read) <= 9_000 // 3 and sum(read) >= 2 * n  # the cell table's pass, then the features'
    assert written == [333] * 15 + [5]


@pytest.mark.parametrize("suffix", [".csv", ".tsv.gz"])
def test_the_cell_table_of_a_wide_text_table_is_read_in_batches_of_whole_rows(tmp_path, monkeypatch, suffix):
    """Text is parsed whole rows at a time: a batch of the metadata pass holds about
    ``BATCH_VALUES`` values of every column, not that many rows of a wide table."""
    table = _profiles(n=400).assign(**{f"Cells_F{j:02d}": float(j) for j in range(60)})
    path = _write(table, tmp_path / f"wide{suffix}")
    monkeypatch.setattr(imported, "BATCH_VALUES", 2_000)
    shapes, frames = [], TableReader._frames

    def recorded(self, columns):
        for frame in frames(self, columns):
            shapes.append(frame.shape)
            yield frame

    monkeypatch.setattr(TableReader, "_frames", recorded)
    cells = read_cell_table({"path": str(path)})
    assert cells["cell_id"].tolist() == [str(i) for i in range(400)]
    assert all(rows * width <= 2_000 for rows, width in shapes) and sum(r for r, _ in shapes) == 400


def test_integer_ids_and_labels_read_the_same_in_a_parquet_batch_with_a_null(tmp_path, monkeypatch):
    """A parquet batch holding a null reads an integer column as floats: its ids and labels are
    still "1", as in the batches without one (and as the same table in CSV)."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    table = {
        "Metadata_Plate": pa.array([1] * 8, pa.int64()),
        "Metadata_Well": [f"A0{i // 2}" for i in range(8)],
        "Metadata_protein": ["a", "a", "b", "b", "c", "c", "d", "d"],
        "Metadata_label": pa.array([1, 2, 1, 2, None, 1, 2, 1], pa.int64()),
        "f": np.arange(8, dtype=np.float32),
    }
    path = tmp_path / "ints.parquet"
    pq.write_table(pa.table(table), path, row_group_size=4)
    monkeypatch.setattr(imported, "BATCH_VALUES", 20)  # batches of 5 rows: the null in the first
    cells = read_cell_table({"path": str(path)})
    assert cells["label"].tolist() == ["1", "2", "1", "2", None, "1", "2", "1"]
    assert cells["image_id"].tolist() == [f"1/A0{i // 2}" for i in range(8)]
    pa_csv.write_csv(pa.table(table), tmp_path / "ints.csv")  # integers as integers, a null blank
    assert _as_lists(read_cell_table({"path": str(tmp_path / "ints.csv")})) == _as_lists(cells)


def _enc(node, kind: str, version: str = "0.2.0"):
    node.attrs["encoding-type"], node.attrs["encoding-version"] = kind, version
    return node


def _strings(group, name: str, values) -> None:
    _enc(group.create_dataset(name, data=list(values), dtype=h5py.string_dtype()), "string-array")


def _dataframe(group, index, columns: dict):
    """An AnnData dataframe: string-array columns, the index in ``_index``."""
    _enc(group, "dataframe")
    group.attrs["_index"] = "_index"
    group.attrs["column-order"] = list(columns)
    _strings(group, "_index", index)
    for name, values in columns.items():
        _strings(group, name, values)


def _anndata(path: Path, x: np.ndarray, embedding: np.ndarray) -> Path:
    """A SubCell-like file as anndata writes it: obs, var, dense X and an obsm embedding."""
    with h5py.File(path, "w") as f:
        _enc(f, "anndata", "0.1.0")
        obs = {
            "image_id": ["im0", "im0", "im1", "im1", "im2"],
            "protein": ["ACT1", "ACT1", "NUP49", "NUP49", "SEC7"],
            "label": ["actin", "actin", "", "nucleus", "golgi"],
        }
        _dataframe(f.create_group("obs"), [f"cell{i}" for i in range(5)], obs)
        _dataframe(f.create_group("var"), ["area", "intensity", "eccentricity"], {})
        _enc(f.create_dataset("X", data=x), "array")
        _enc(f.create_group("obsm"), "dict", "0.1.0")
        _enc(f["obsm"].create_dataset("X_subcell", data=embedding), "array")
    return path


def test_an_anndata_file_gives_its_cell_table_and_x_or_an_obsm_key(tmp_path):
    rng = np.random.default_rng(5)
    x, embedding = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(5, 4)).astype(np.float32)
    path = _anndata(tmp_path / "subcell.h5ad", x, embedding)
    block = {"path": str(path)}
    cells = read_cell_table(block)
    assert cells.columns.tolist() == ["cell_id", "image_id", "field_id", "protein", "label", "store_index"]
    assert cells["cell_id"].tolist() == [f"cell{i}" for i in range(5)]  # the obs names
    assert cells["label"].tolist() == ["actin", "actin", None, "nucleus", "golgi"]
    got = _written(block, cells, tmp_path)
    assert got.columns.tolist()[-3:] == ["area", "intensity", "eccentricity"]
    assert got[["area", "intensity", "eccentricity"]].to_numpy().tolist() == x.tolist()
    subcell = {**block, "obsm": "X_subcell"}
    assert _columns(subcell) == [f"X_subcell_{j}" for j in range(4)]
    got = _written(subcell, read_cell_table(subcell), tmp_path)
    assert got[[f"X_subcell_{j}" for j in range(4)]].to_numpy().tolist() == embedding.tolist()
    assert got["Metadata_cell_id"].tolist() == cells["cell_id"].tolist()


def test_a_parquet_tables_named_index_is_a_column(tmp_path):
    """pandas writes a named index (``set_index("cell_id")``) as a column the file marks as its
    index: it is the table's cell ids, not lost to row numbers."""
    frame = pd.DataFrame(
        {
            "cell_id": ["c3", "c1", "c2"],
            "image_id": ["i1", "i1", "i2"],
            "protein": ["A", "A", "B"],
            "f": [0.5, 1.5, 2.5],
        }
    )
    frame.set_index("cell_id").to_parquet(tmp_path / "indexed.parquet")
    block = {"path": str(tmp_path / "indexed.parquet")}
    cells = read_cell_table(block)
    assert list(cells["cell_id"]) == ["c3", "c1", "c2"]
    write_feature_set(block, cells, tmp_path / "out.parquet")
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert [c for c in out.columns if not c.startswith("Metadata_")] == ["f"]
    assert list(out["f"]) == [0.5, 1.5, 2.5]
