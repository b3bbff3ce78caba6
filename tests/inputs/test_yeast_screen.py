"""Yeast screens as per-ORF folders of fields: listing, splitting interleaved stacks, ORF labels."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import require_shared

from pcinpaint.errors import InputError
from pcinpaint.inputs.samplesheet import read_field, read_samplesheet
from pcinpaint.inputs.yeast_screen import orf_labels, scan_screen, write_samplesheet
from pcinpaint.io import write_table

TOKENS = {"gfp": "_gfp", "rfp": "_rfp"}


def _handfield_screen(tmp_path):
    """A screen root with one ORF folder holding (a link to) the real Handfield stack."""
    stack = require_shared("yeast_fields", "handfield_example_gfp_rfp.tif")
    folder = tmp_path / "screen" / "YGR000W"
    folder.mkdir(parents=True)
    (folder / stack.name).symlink_to(stack)
    return tmp_path / "screen", stack


def test_real_interleaved_stack_gives_four_fields_with_the_right_pages(tmp_path):
    root, stack = _handfield_screen(tmp_path)
    before = stack.read_bytes()
    listing = scan_screen(root, ["gfp", "rfp"], layout="interleaved")
    assert len(listing) == 4
    assert listing["image_id"].unique().tolist() == ["YGR000W"]
    assert listing["protein"].unique().tolist() == ["YGR000W"]
    assert listing["field_id"].is_unique
    sheet = write_samplesheet(listing, tmp_path / "fields")
    assert list(sheet.columns) == ["image_id", "field_id", "protein", "gfp", "rfp"]
    pages = tifffile.imread(stack)
    assert pages.shape == (8, 243, 242)
    for k, row in sheet.iterrows():  # pages 1,3,5,7 GFP and 2,4,6,8 RFP
        gfp, rfp = tifffile.imread(row["gfp"]), tifffile.imread(row["rfp"])
        assert gfp.dtype == np.uint8 and gfp.shape == (243, 242)
        np.testing.assert_array_equal(gfp, pages[2 * k])
        np.testing.assert_array_equal(rfp, pages[2 * k + 1])
    assert stack.read_bytes() == before  # the raw input is only read
    assert not [p for p in (tmp_path / "fields").iterdir() if p.name.startswith(".")]  # no temp files left

    # the sheet is one the segmentation stage reads as is
    path = write_table(sheet, tmp_path / "sheet.tsv")
    read = read_samplesheet(path, ["rfp", "gfp"])
    field = read_field(read, 0, ["rfp", "gfp"])
    assert field.shape == (2, 243, 242)
    np.testing.assert_array_equal(field[0], pages[1])


def test_interleaved_page_order_follows_the_channel_list(tmp_path):
    folder = tmp_path / "screen" / "W01"
    folder.mkdir(parents=True)
    planes = np.stack([np.full((8, 9), v, np.uint16) for v in range(6)])  # 2 fields x 3 channels
    tifffile.imwrite(folder / "stack.tif", planes, photometric="minisblack")
    tifffile.imwrite(folder / "stack2.tiff", planes[:3] + 100, photometric="minisblack")
    listing = scan_screen(tmp_path / "screen", ["bf", "gfp", "rfp"], layout="interleaved")
    assert listing["field_id"].tolist() == ["W01/stack/1", "W01/stack/2", "W01/stack2/1"]
    sheet = write_samplesheet(listing, tmp_path / "fields")
    values = [[int(tifffile.imread(row[ch])[0, 0]) for ch in ("bf", "gfp", "rfp")] for _, row in sheet.iterrows()]
    assert values == [[0, 1, 2], [3, 4, 5], [100, 101, 102]]


def test_single_file_layout_points_at_the_files(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / "screen"
    for orf in ("YAL001C", "YAL002W"):
        (root / orf).mkdir(parents=True)
        for field in (1, 2, 10):
            for ch in ("gfp", "rfp"):
                tifffile.imwrite(root / orf / f"{orf}_f{field}_{ch}.tif", rng.integers(0, 4000, (20, 24), np.uint16))
    tifffile.imwrite(root / "YAL001C" / "overview.tif", np.zeros((4, 4), np.uint8))  # carries no token: ignored
    listing = scan_screen(root, ["rfp", "gfp"], layout="single", tokens=TOKENS)
    assert len(listing) == 6
    assert listing["field_id"].tolist()[:3] == ["YAL001C/YAL001C_f1", "YAL001C/YAL001C_f2", "YAL001C/YAL001C_f10"]
    assert listing.groupby("image_id").size().to_dict() == {"YAL001C": 3, "YAL002W": 3}
    sheet = write_samplesheet(listing, tmp_path / "fields")
    assert not (tmp_path / "fields").exists()  # nothing to split
    assert sheet.loc[0, "gfp"] == str((root / "YAL001C" / "YAL001C_f1_gfp.tif").resolve())
    assert sheet.loc[0, "rfp"] == str((root / "YAL001C" / "YAL001C_f1_rfp.tif").resolve())


def test_single_layout_accepts_a_token_inside_the_name(tmp_path):
    folder = tmp_path / "screen" / "ORF1"
    folder.mkdir(parents=True)
    for ch in ("w1", "w2"):
        tifffile.imwrite(folder / f"plate1_A01_{ch}_s1.tif", np.zeros((6, 6), np.uint8))
    listing = scan_screen(tmp_path / "screen", ["gfp", "bf"], layout="single", tokens={"gfp": "_w1", "bf": "_w2"})
    assert listing["field_id"].tolist() == ["ORF1/plate1_A01_s1"]


def test_odd_page_count_is_an_error_naming_the_file(tmp_path):
    folder = tmp_path / "screen" / "YBR001C"
    folder.mkdir(parents=True)
    tifffile.imwrite(folder / "odd.tif", np.zeros((3, 8, 8), np.uint8), photometric="minisblack")
    with pytest.raises(InputError, match=r"odd\.tif: odd page count: 3 pages is not a multiple of the 2") as err:
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout="interleaved")
    assert "\n" not in str(err.value)


def test_missing_channel_file_is_an_error_naming_field_and_channel(tmp_path):
    folder = tmp_path / "screen" / "YBR002C"
    folder.mkdir(parents=True)
    for name in ("f1_gfp.tif", "f1_rfp.tif", "f2_gfp.tif"):
        tifffile.imwrite(folder / name, np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"f2_gfp\.tif: field 'f2' has no 'rfp' file \(token '_rfp'\)"):
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout="single", tokens=TOKENS)


def test_empty_folder_empty_screen_and_stacks_in_single_layout(tmp_path):
    root = tmp_path / "screen"
    root.mkdir()
    with pytest.raises(InputError, match="empty screen"):
        scan_screen(root, ["gfp", "rfp"], layout="single", tokens=TOKENS)
    (root / "YCL001W").mkdir()
    with pytest.raises(InputError, match=r"YCL001W: empty folder: no files matching"):
        scan_screen(root, ["gfp", "rfp"], layout="single", tokens=TOKENS)
    tifffile.imwrite(root / "YCL001W" / "a_gfp.tif", np.zeros((2, 8, 8), np.uint8), photometric="minisblack")
    tifffile.imwrite(root / "YCL001W" / "a_rfp.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match=r"a_gfp\.tif: holds 2 page\(s\).*layout 'single' needs one 2-D plane"):
        scan_screen(root, ["gfp", "rfp"], layout="single", tokens=TOKENS)


def test_orf_labels_from_huh2003():
    path = require_shared("annotations", "yeastgfp_huh2003.csv")
    by_gene = orf_labels(path, key="gene name")
    assert by_gene["AAC1"] == "mitochondrion" and by_gene["AAC3"] == "mitochondrion"
    assert by_gene["AAH1"] == "cytoplasm+nucleus" and by_gene["AAR2"] == "cytoplasm+nucleus"
    assert "AAP1" not in by_gene.index
    by_orf = orf_labels(path)
    assert by_orf["YAL001C"] == "cytoplasm+nucleus"
    assert len(by_orf) > 3000 and isinstance(by_orf, pd.Series)
    merged = orf_labels(path, merge={"cytoplasm": None}, key="gene name")
    assert merged["AAH1"] == "nucleus"
    single = orf_labels(path, key="gene name", mode="single")
    assert single["AAC1"] == "mitochondrion" and "AAH1" not in single.index
