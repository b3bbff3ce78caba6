"""Inputs and stores: sample sheets, one-line errors for bad images, the crop store round trip."""

import numpy as np
import pandas as pd
import pytest
import tifffile

from pcinpaint.config import SAMPLESHEET_SCHEMA, load_schema
from pcinpaint.io import (InputError, open_crop_store, read_crops, read_field, read_samplesheet, to_uint8,
                          write_crop_store, write_table)


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
        ([dict(image_id="w1", field_id="f1", protein="P", rfp="a.tif", gfp="b.tif")] * 2, "field_id 'f1' appears more than once"),
        ([dict(image_id="", field_id="f1", protein="P", rfp="a.tif", gfp="b.tif")], r"row 2: empty value in column 'image_id'"),
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
    cases = {1: r"row 3 \(field_id=f2\): channels have different shapes",
             2: r"row 4 \(field_id=f3\): cannot read image .*corrupt\.tif",
             3: r"row 5 \(field_id=f4\): image file not found: .*missing\.tif",
             4: r"row 6 \(field_id=f5\): cannot read image .*truncated\.tif"}
    for index, match in cases.items():
        with pytest.raises(InputError, match=match) as err:
            read_field(sheet, index, ["rfp", "gfp"])
        assert "\n" not in str(err.value) and "sheet.csv" in str(err.value)
    assert corrupt.read_bytes() == before  # raw inputs are never modified


def test_crop_store_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    crops = rng.random((2500, 3, 64, 64), dtype=np.float32)
    stored = to_uint8(crops)
    batches = (stored[i:i + 300] for i in range(0, len(stored), 300))  # not shard-aligned on purpose
    path = write_crop_store(tmp_path / "crops.zarr", batches, len(stored), 3, 64, attrs={"channels": ["a", "b", "c"]})
    on_disk = open_crop_store(path, memory_limit=None)
    in_memory = open_crop_store(path)
    assert on_disk.memory is None and in_memory.memory is not None
    assert in_memory.shape == (2500, 3, 64, 64) and in_memory.array.dtype == np.uint8
    assert in_memory.array.chunks == (16, 3, 64, 64) and in_memory.array.shards == (1024, 3, 64, 64)
    assert in_memory.attrs["channels"] == ["a", "b", "c"]
    everything = read_crops(path)
    assert everything.dtype == np.float32 and everything.min() >= 0 and everything.max() <= 1
    assert np.abs(everything - crops).max() <= 0.5 / 255 + 1e-6
    idx = np.array([2499, 3, 3, 1024, 0, 1500])  # unsorted, repeated, across shards
    for store in (on_disk, in_memory, path):
        np.testing.assert_array_equal(read_crops(store, idx), stored[idx].astype(np.float32) / 255)
        np.testing.assert_array_equal(read_crops(store, slice(10, 20)), stored[10:20].astype(np.float32) / 255)
        assert read_crops(store, []).shape == (0, 3, 64, 64)
        with pytest.raises(IndexError, match="out of range"):
            read_crops(store, [2500])


def test_failed_store_write_leaves_nothing(tmp_path):
    good = np.zeros((4, 2, 64, 64), np.uint8)
    with pytest.raises(ValueError, match="expected 10"):
        write_crop_store(tmp_path / "crops.zarr", [good], 10, 2, 64)
    with pytest.raises(ValueError, match="must be uint8"):
        write_crop_store(tmp_path / "crops.zarr", [good.astype(np.float32)], 4, 2, 64)
    assert list(tmp_path.iterdir()) == []


def test_missing_store_is_a_one_line_error(tmp_path):
    with pytest.raises(InputError, match="crop store not found"):
        read_crops(tmp_path / "nope.zarr")


@pytest.mark.parametrize("n", [0, 1, 17, 1100])
def test_crop_store_of_any_size(tmp_path, n):
    crops = np.random.default_rng(n).integers(0, 256, (n, 2, 64, 64), dtype=np.uint8)
    path = write_crop_store(tmp_path / "crops.zarr", [crops[: n // 2], crops[n // 2:]], n, 2, 64)
    np.testing.assert_array_equal(read_crops(path), crops.astype(np.float32) / 255)
