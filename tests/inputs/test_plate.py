"""A plate as a screen: an OME-Zarr plate (NGFF 0.4 and 0.5) and an ImageXpress folder with a
plate map give the crops of the same pixels as one TIFF per channel, bit for bit; the plate map
and the channel map fail in one line naming the file and row."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pcinpaint.errors import InputError
from pcinpaint.inputs.plate import parse_well, plate_format, plate_sheet, read_plate_map
from pcinpaint.inputs.samplesheet import check_files, read_samplesheet
from pcinpaint.io import write_table

TESTS = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(TESTS), str(TESTS / "crops")]
from plate_files import CHANNELS, imagexpress_plate, ome_zarr_plate, plate_map, tiff_sheet  # noqa: E402
from synthetic_fields import _dataset, _field  # noqa: E402

pytest.importorskip("bioio_ome_zarr", reason="bioio-ome-zarr reads OME-Zarr fields (requirements.txt)")
pytest.importorskip("ome_zarr", reason="the ome-zarr package writes the test plates (requirements-dev.txt)")

CONFIG = ["rfp", "gfp"]
#: two wells of disks, one with two fields; D05 is on the plate but not in the map
WELLS = {
    "B03": [_field([(30, 30), (30, 90), (90, 30)], seed=0)[0], _field([(90, 90), (64, 64), (30, 60)], seed=1)[0]],
    "C04": [_field([(40, 40), (80, 80), (30, 100), (100, 100)], seed=2)[0]],
    "D05": [_field([(50, 50)], seed=3)[0]],
}
PROTEINS = {"B3": "P1", "C04": "P2"}


def _plate(tmp_path, kind):
    if kind == "imagexpress":
        return imagexpress_plate(tmp_path / "plate1", WELLS), {}, 1
    version, z = {"zarr04": ("0.4", 1), "zarr05": ("0.5", 1), "zarr05_z": ("0.5", 3)}[kind]
    return ome_zarr_plate(tmp_path / "plate1.ome.zarr", WELLS, version, z), ({"z": "max"} if z > 1 else {}), 0


@pytest.mark.parametrize("kind", ["zarr04", "zarr05", "zarr05_z", "imagexpress"])
def test_a_plate_gives_the_crops_of_the_same_pixels_as_tiffs(tmp_path, kind):
    """Sheet rows, crops and object tables of a plate equal those of a sample sheet of TIFFs."""
    from pcinpaint.crops.segment_chunk import process_chunk

    path, extra, first = _plate(tmp_path, kind)
    block = {"path": str(path), "map": str(plate_map(tmp_path / "map.csv", PROTEINS)), "channels": CHANNELS, **extra}
    sheet, counts = plate_sheet(block, CONFIG)
    assert counts == {"plates": 1, "wells": 2, "fields": 3, "unmapped_wells": 1}
    assert len(sheet) == 3  # the count the workflow plans from, at parse
    assert list(sheet["image_id"]) == ["plate1_B03", "plate1_B03", "plate1_C04"]
    assert list(sheet["protein"]) == ["P1", "P1", "P2"]
    write_table(sheet, tmp_path / "plate_sheet.tsv")
    from_plate = read_samplesheet(tmp_path / "plate_sheet.tsv", CONFIG)
    check_files(from_plate, CONFIG)  # metadata only: every field's planes there, shapes alike

    tiffs = tiff_sheet(
        tmp_path / "tiffs.tsv", {w: WELLS[w] for w in ("B03", "C04")}, {"B03": "P1", "C04": "P2"}, "plate1", first
    )
    (tmp_path / "cfg").mkdir()
    _, cfg = _dataset(tmp_path / "cfg", {"x": ("P_w", [])}, min_cells=1)
    expected = process_chunk(read_samplesheet(tiffs, CONFIG), cfg, progress=False)
    got = process_chunk(from_plate, cfg, progress=False)
    assert len(expected.crops) >= 10
    assert np.array_equal(got.crops, expected.crops)
    pd.testing.assert_frame_equal(got.objects, expected.objects)


def test_a_plate_map_names_wells_once_and_every_error_its_row(tmp_path):
    ok = tmp_path / "ok.csv"
    pd.DataFrame({"well": ["b3", "B_04", "C12"], "protein": ["P1", "P2", "P3"], "label": ["", "a", "b"]}).to_csv(
        ok, index=False
    )
    table = read_plate_map(ok, ["p"])
    assert list(table["well"]) == ["B03", "B04", "C12"] and list(table["plate"]) == ["p"] * 3
    cases = [
        ({"well": ["B03", "X"], "protein": ["P1", "P2"]}, "row 3: well 'X' is not a well name"),
        ({"well": ["B03", "C04"], "protein": ["P1", ""]}, "row 3: empty protein"),
        ({"well": ["B03", "B3"], "protein": ["P1", "P2"]}, "well B03 of plate p is given more than once (rows [2, 3])"),
        ({"well": ["B03"], "gene": ["P1"]}, "missing column(s) ['protein']"),
        (
            {"well": ["B03"], "protein": ["P1"], "plate": ["q"]},
            "row 2: plate 'q' is none of the dataset's plates ['p']",
        ),
    ]
    for columns, words in cases:
        bad = tmp_path / "bad.csv"
        pd.DataFrame(columns).to_csv(bad, index=False)
        with pytest.raises(InputError, match=r"bad\.csv") as err:
            read_plate_map(bad, ["p"])
        assert words in str(err.value) and "\n" not in str(err.value)


def test_several_plates_share_a_map_or_name_their_plate(tmp_path):
    one = imagexpress_plate(tmp_path / "plateA", {"B03": WELLS["B03"]})
    two = imagexpress_plate(tmp_path / "plateB", {"B03": WELLS["C04"]})
    shared = plate_map(tmp_path / "map.csv", {"B03": "P1"})
    sheet, counts = plate_sheet({"path": [str(one), str(two)], "map": str(shared), "channels": CHANNELS}, CONFIG)
    assert list(sheet["image_id"]) == ["plateA_B03", "plateA_B03", "plateB_B03"]
    assert counts["plates"] == 2
    own = tmp_path / "own.csv"
    pd.DataFrame({"plate": ["plateA", "plateB"], "well": ["B03", "B03"], "protein": ["P1", "P2"]}).to_csv(
        own, index=False
    )
    sheet, _ = plate_sheet({"path": [str(one), str(two)], "map": str(own), "channels": CHANNELS}, CONFIG)
    assert list(sheet["protein"]) == ["P1", "P1", "P2"]


def test_the_map_carries_labels_and_a_well_the_plate_lacks_is_an_error(tmp_path):
    path = imagexpress_plate(tmp_path / "p", {"B03": WELLS["B03"]})
    labelled = plate_map(tmp_path / "map.csv", {"B03": "P1"}, label={"B03": "nucleus"}, cell_line={"B03": "U2OS"})
    sheet, _ = plate_sheet({"path": str(path), "map": str(labelled), "channels": CHANNELS}, CONFIG)
    assert list(sheet.columns) == ["image_id", "field_id", "protein", "cell_line", "label", "rfp", "gfp"]
    assert set(sheet["label"]) == {"nucleus"}
    extra = plate_map(tmp_path / "extra.csv", {"B03": "P1", "H12": "P9"})
    with pytest.raises(InputError, match=r"extra\.csv: row 3: well H12 has no field in plate p"):
        plate_sheet({"path": str(path), "map": str(extra), "channels": CHANNELS}, CONFIG)


@pytest.mark.parametrize(
    "channels, words",
    [
        ({"DAPI": "rfp", "FITC": "gfp"}, "no channel named ['FITC'] (the plate's channels are ['DAPI', 'GFP'])"),
        ({"DAPI": "rfp"}, "no plate channel gives the config's channel(s) ['gfp']"),
        (None, "no channel named ['gfp', 'rfp']"),
    ],
)
def test_a_channel_the_plate_lacks_is_one_line(tmp_path, channels, words):
    path = imagexpress_plate(tmp_path / "p", {"B03": WELLS["B03"]})
    block = {"path": str(path), "map": str(plate_map(tmp_path / "m.csv", {"B03": "P1"})), "channels": channels}
    with pytest.raises(InputError) as err:
        plate_sheet(block, CONFIG)
    assert words in str(err.value)


def test_wells_and_formats_are_read_as_labs_write_them(tmp_path):
    assert [parse_well(w) for w in ("B3", "b03", "B_03", "AA12", "P24", "3B", "")] == [
        "B03",
        "B03",
        "B03",
        "AA12",
        "P24",
        None,
        None,
    ]
    (tmp_path / "plate.zarr").mkdir()
    (tmp_path / "converted").mkdir()
    (tmp_path / "converted" / "zarr.json").write_text("{}")
    assert plate_format(tmp_path / "plate.zarr") == "ome-zarr"
    assert plate_format(tmp_path / "converted") == "ome-zarr"
    assert plate_format(tmp_path / "ix") == "imagexpress"
    assert plate_format(tmp_path / "plate.zarr", "imagexpress") == "imagexpress"
    with pytest.raises(InputError, match="plate not found"):
        plate_sheet({"path": str(tmp_path / "nothing"), "map": "m.csv"}, CONFIG)


def test_the_checks_of_tiffs_hold_for_a_plate(tmp_path):
    """A z-stack without plate.z, a slice it lacks, and NaN pixels stop with one line (naming the
    field where one is at fault)."""
    from pcinpaint.inputs.samplesheet import read_field

    stack = ome_zarr_plate(tmp_path / "stack.ome.zarr", {"B03": WELLS["B03"][:1]}, "0.5", z=2)
    block = {"path": str(stack), "map": str(plate_map(tmp_path / "m.csv", {"B03": "P1"})), "channels": CHANNELS}
    with pytest.raises(InputError, match=r"B/3/0: the fields have 2 z planes; set the dataset's plate\.z to"):
        plate_sheet(block, CONFIG)
    write_table(plate_sheet({**block, "z": 5}, CONFIG)[0], tmp_path / "stack.tsv")
    with pytest.raises(InputError) as err:
        check_files(read_samplesheet(tmp_path / "stack.tsv", CONFIG), CONFIG)
    assert "row 2 (field_id=stack_B03_0): rfp: " in str(err.value) and "z=5 is out of range" in str(err.value)
    field = WELLS["C04"][0].astype(np.float32)
    field[1, 5, 5] = np.nan
    nan = ome_zarr_plate(tmp_path / "nan.ome.zarr", {"C04": [field]}, "0.4")
    block = {"path": str(nan), "map": str(plate_map(tmp_path / "n.csv", {"C04": "P2"})), "channels": CHANNELS}
    write_table(plate_sheet(block, CONFIG)[0], tmp_path / "nan.tsv")
    sheet = read_samplesheet(tmp_path / "nan.tsv", CONFIG)
    check_files(sheet, CONFIG)  # headers only: pixels are the segmentation job's to check
    with pytest.raises(InputError, match=r"row 2 \(field_id=nan_C04_0\): channel 'gfp' .* has 1 non-finite pixels"):
        read_field(sheet, 0, CONFIG)
