"""Sample sheets: paths resolved against the sheet, bad sheets and bad images named by file and row."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from pcinpaint.config import SAMPLESHEET_SCHEMA, load_schema
from pcinpaint.errors import InputError
from pcinpaint.inputs.samplesheet import read_field, read_samplesheet
from pcinpaint.io import write_table


def _sheet(tmp_path, rows, name="sheet.csv"):
    path = tmp_path / name
    write_table(pd.DataFrame(rows), path)
    return path


def _field_files(tmp_path, field_id, shape=(32, 32), shapes=None):
    rng = np.random.default_rng(0)
    out = {}
    for ch in ("rfp", "gfp"):
        shp = (shapes or {}).get(ch, shape)
        name = f"img/{field_id}_{ch}.tif"
        (tmp_path / "img").mkdir(exist_ok=True)
        tifffile.imwrite(tmp_path / name, rng.integers(0, 4000, shp, dtype=np.uint16))
        out[ch] = name
    return out


def test_sheet_paths_resolve_against_the_sheet_folder(tmp_path):
    files = _field_files(tmp_path, "f1")
    path = _sheet(tmp_path, [dict(image_id="w1", field_id="f1", protein="P", label="", **files)])
    sheet = read_samplesheet(path, ["rfp", "gfp"], schema=load_schema(SAMPLESHEET_SCHEMA))
    assert sheet.loc[0, "rfp"] == str(tmp_path / files["rfp"])
    assert pd.isna(sheet.loc[0, "label"])
    field = read_field(sheet, 0, ["rfp", "gfp"])
    assert field.shape == (2, 32, 32) and field.dtype == np.float32
    np.testing.assert_array_equal(field[0], tifffile.imread(tmp_path / files["rfp"]))


@pytest.mark.parametrize(
    "rows, match",
    [
        ([dict(image_id="w1", field_id="f1", rfp="a.tif", gfp="b.tif")], r"missing column\(s\) \['protein'\]"),
        (
            [dict(image_id="w1", field_id="f1", protein="P", rfp="a.tif", gfp="b.tif")] * 2,
            "field_id 'f1' appears more than once",
        ),
        (
            [dict(image_id="", field_id="f1", protein="P", rfp="a.tif", gfp="b.tif")],
            r"row 2: empty value in column 'image_id'",
        ),
    ],
)
def test_bad_sheets(tmp_path, rows, match):
    with pytest.raises(InputError, match=match) as err:
        read_samplesheet(_sheet(tmp_path, rows), ["rfp", "gfp"])
    assert "sheet.csv" in str(err.value) and "\n" not in str(err.value)


def test_missing_corrupt_and_mismatched_images_name_file_and_row(tmp_path):
    ok = _field_files(tmp_path, "f1")
    odd = _field_files(tmp_path, "f2", shapes={"gfp": (32, 30)})
    corrupt = tmp_path / "img" / "corrupt.tif"
    corrupt.write_bytes(b"II*\x00" + b"\x00" * 20)  # a TIFF header and nothing behind it
    truncated = tmp_path / "img" / "truncated.tif"
    full = (tmp_path / ok["gfp"]).read_bytes()
    truncated.write_bytes(full[: len(full) // 2])
    rows = [
        dict(image_id="w1", field_id="f1", protein="P", **ok),
        dict(image_id="w1", field_id="f2", protein="P", **odd),
        dict(image_id="w1", field_id="f3", protein="P", rfp="img/corrupt.tif", gfp=ok["gfp"]),
        dict(image_id="w1", field_id="f4", protein="P", rfp="img/missing.tif", gfp=ok["gfp"]),
        dict(image_id="w1", field_id="f5", protein="P", rfp=ok["rfp"], gfp="img/truncated.tif"),
    ]
    sheet = read_samplesheet(_sheet(tmp_path, rows), ["rfp", "gfp"])
    before = corrupt.read_bytes()
    cases = {
        1: r"row 3 \(field_id=f2\): channels have different shapes",
        2: r"row 4 \(field_id=f3\): cannot read image .*corrupt\.tif",
        3: r"row 5 \(field_id=f4\): image file not found: .*missing\.tif",
        4: r"row 6 \(field_id=f5\): cannot read image .*truncated\.tif",
    }
    for index, match in cases.items():
        with pytest.raises(InputError, match=match) as err:
            read_field(sheet, index, ["rfp", "gfp"])
        assert "\n" not in str(err.value) and "sheet.csv" in str(err.value)
    assert corrupt.read_bytes() == before  # raw inputs are never modified


@pytest.mark.parametrize("suffix", [".parquet", ".tsv", ".csv"])
def test_tables_read_only_the_columns_asked_for(tmp_path, suffix):
    from pcinpaint.io import read_table, write_table

    table = pd.DataFrame({"image_id": ["a", "b"], "store_index": [0, 1], "protein": ["P", "Q"]})
    path = tmp_path / f"cells{suffix}"
    write_table(table, path) if suffix != ".csv" else table.to_csv(path, index=False)
    read = read_table(path, columns=["image_id", "store_index"])
    assert list(read.columns) == ["image_id", "store_index"] and list(read["image_id"]) == ["a", "b"]
    assert list(read_table(path).columns) == ["image_id", "store_index", "protein"]
