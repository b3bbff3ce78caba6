"""Yeast screens as per-ORF folders of fields: listing, splitting interleaved stacks, ORF labels,
each field's label mask (segmentation method provided) and the config checks that go with it."""

import copy

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import REPO, require_shared
from scipy import ndimage as ndi
from skimage import segmentation
from yeast_screens_files import NOP1, WEILL, yeast_screens_downloads

from pcinpaint.config import SAMPLESHEET_SCHEMA, DatasetConfig, load_config, load_schema, validate_config
from pcinpaint.crops.segment_chunk import process_chunk
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.annotations import read_annotations
from pcinpaint.inputs.samplesheet import check_files, read_field, read_mask, read_samplesheet
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


# --------------------------------------------------------------------------------------------
# a label mask per field (layout single, yeast_screen.masks), read by segmentation method provided
# --------------------------------------------------------------------------------------------

SCREENS = REPO / "config" / "yeast_screens.yaml"


def _labels(shape=(20, 24)) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[2:8, 3:9], labels[10:17, 12:20] = 1, 2
    return labels


def _field(folder, stem, names=("gfp", "rfp"), mask_name="_mask", mask=None):
    """One field's channel files ``<stem>_<name>.tif`` and its mask ``<stem><mask_name>.tif``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        tifffile.imwrite(folder / f"{stem}_{name}.tif", np.full((20, 24), 7, np.uint16))
    if mask_name is not None:
        tifffile.imwrite(folder / f"{stem}{mask_name}.tif", _labels() if mask is None else mask)


def test_masks_are_listed_per_field_and_carried_into_the_sheet(tmp_path):
    root = tmp_path / "screen"
    _field(root / "YAL001C", "site1")
    _field(root / "YAL001C", "site2", mask_name="_rfp_mask")  # named after the file it was made from
    _field(root / "YAL002W", "site1")
    tifffile.imwrite(root / "YAL001C" / "overview.tif", np.zeros((4, 4), np.uint8))  # carries no token: ignored
    listing = scan_screen(root, ["rfp", "gfp"], layout="single", tokens=TOKENS, masks="_mask")
    assert listing["field_id"].tolist() == ["YAL001C/site1", "YAL001C/site2", "YAL002W/site1"]
    names = [p.rsplit("/", 1)[1] for p in listing["mask"]]
    assert names == ["site1_mask.tif", "site2_rfp_mask.tif", "site1_mask.tif"]
    assert listing.loc[1, "rfp"].endswith("/site2_rfp.tif")
    assert listing.loc[0, "mask"] == str((root / "YAL001C" / "site1_mask.tif").resolve())

    sheet = write_samplesheet(listing, tmp_path / "fields")
    assert list(sheet.columns) == ["image_id", "field_id", "protein", "rfp", "gfp", "mask"]
    # the sheet passes the samplesheet rule's checks, masks included, and its masks are the labels
    path = write_table(sheet, tmp_path / "sheet.tsv")
    read = read_samplesheet(path, ["rfp", "gfp"], need_mask=True, schema=load_schema(SAMPLESHEET_SCHEMA))
    check_files(read, ["rfp", "gfp"], need_mask=True)
    np.testing.assert_array_equal(read_mask(read, 1), _labels())


def test_a_file_carrying_the_mask_token_is_a_mask_only(tmp_path):
    root = tmp_path / "screen"
    _field(root / "ORF1", "f1", mask_name="_mask_gfp")  # a channel token after the mask token
    listing = scan_screen(root, ["gfp", "rfp"], layout="single", tokens=TOKENS, masks="_mask")
    assert listing.loc[0, "gfp"].endswith("/f1_gfp.tif") and listing.loc[0, "mask"].endswith("/f1_mask_gfp.tif")
    # a mask token inside a channel's token does not make that channel's file a mask
    _field(tmp_path / "other" / "ORF2", "f1", names=("gfp", "mcherry"), mask_name="_m")
    listing = scan_screen(
        tmp_path / "other", ["gfp", "mcherry"], "single", {"gfp": "_gfp", "mcherry": "_mcherry"}, masks="_m"
    )
    assert listing.loc[0, "mcherry"].endswith("/f1_mcherry.tif") and listing.loc[0, "mask"].endswith("/f1_m.tif")
    tifffile.imwrite(root / "ORF1" / "f1_mask.tif", _labels())
    with pytest.raises(InputError, match=r"f1_mask(_gfp)?\.tif: a second mask file for field 'f1'"):
        scan_screen(root, ["gfp", "rfp"], layout="single", tokens=TOKENS, masks="_mask")


def test_field_without_a_mask_file_is_an_error_naming_field_folder_and_token(tmp_path):
    folder = tmp_path / "screen" / "YBR002C"
    _field(folder, "site1")
    _field(folder, "site2", mask_name=None)
    with pytest.raises(InputError, match=r"field 'site2' has no mask file \(token '_mask'\) in .*YBR002C") as err:
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout="single", tokens=TOKENS, masks="_mask")
    assert "\n" not in str(err.value)


def test_mask_that_is_not_one_plane_of_the_fields_shape_is_an_error_naming_it(tmp_path):
    folder = tmp_path / "screen" / "YCL001W"
    _field(folder, "site1", mask=np.stack([_labels(), _labels()]))
    with pytest.raises(InputError, match=r"site1_mask\.tif: holds 2 page\(s\) of shape \(20, 24\).*one 2-D label mask"):
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout="single", tokens=TOKENS, masks="_mask")
    _field(folder, "site1", mask=_labels((24, 20)))
    with pytest.raises(
        InputError, match=r"site1_mask\.tif: mask of shape \(24, 20\), but field 'site1' has .*\(20, 24\)"
    ):
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout="single", tokens=TOKENS, masks="_mask")


@pytest.mark.parametrize(
    "layout, tokens, masks, words",
    [
        ("interleaved", None, "_mask", "yeast_screen.masks: masks need layout 'single'"),
        ("single", TOKENS, "_rfp", "yeast_screen.masks: token '_rfp' is also the token of channel(s) ['rfp']"),
        ("single", TOKENS, "", "yeast_screen.masks: an empty token"),
    ],
)
def test_mask_token_that_cannot_name_masks_is_a_config_error(tmp_path, layout, tokens, masks, words):
    _field(tmp_path / "screen" / "ORF1", "f1")
    with pytest.raises(ConfigError) as err:
        scan_screen(tmp_path / "screen", ["gfp", "rfp"], layout=layout, tokens=tokens, masks=masks)
    assert str(err.value).startswith(words) and "\n" not in str(err.value)


MASKED = {
    "datasets": {
        "screen": {
            "source": "yeast_screen",
            "yeast_screen": {"root": "screen", "layout": "single", "tokens": dict(TOKENS), "masks": "_mask"},
            "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
            "segmentation": {"channel": "rfp", "method": "provided"},
        }
    }
}


def test_masked_screen_config_validates():
    config = validate_config(copy.deepcopy(MASKED))
    assert config["datasets"]["screen"]["yeast_screen"]["masks"] == "_mask"
    watershed = copy.deepcopy(MASKED)
    screen = watershed["datasets"]["screen"]
    screen["yeast_screen"] = {"root": "screen", "layout": "interleaved"}
    screen["segmentation"]["method"] = "cells_watershed"
    assert validate_config(watershed)["datasets"]["screen"]["yeast_screen"]["masks"] is None
    shipped = load_config(SCREENS)["datasets"]
    assert [shipped[n]["yeast_screen"]["masks"] for n in ("yeast_wt2", "yeast_nop1", "yeast_nup49")] == [
        None,
        "_mask",
        "_mask",
    ]


def _without_masks(ds):
    del ds["yeast_screen"]["masks"]


def _interleaved(ds):
    ds["yeast_screen"].update(layout="interleaved")
    del ds["yeast_screen"]["tokens"]


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (_without_masks, "datasets.screen.segmentation.method", "set yeast_screen.masks"),
        (_interleaved, "datasets.screen.yeast_screen.masks", "masks need layout 'single'"),
        (lambda ds: ds["yeast_screen"].update(masks="_gfp"), "datasets.screen.yeast_screen.masks", "channel's token"),
    ],
)
def test_masks_config_violations_name_the_key_in_one_line(mutate, key, words):
    config = copy.deepcopy(MASKED)
    mutate(config["datasets"]["screen"])
    with pytest.raises(ConfigError) as err:
        validate_config(config, where="my.yaml")
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"my.yaml: {key}") and words in message


def test_built_nop1_screen_lists_a_mask_per_field_whose_labels_are_the_cells(tmp_path):
    info = yeast_screens_downloads(tmp_path, require_shared())
    src = load_config(SCREENS)["datasets"]["yeast_nop1"]["yeast_screen"]
    listing = scan_screen(tmp_path / NOP1, ["brightfield", "gfp"], "single", src["tokens"], masks=src["masks"])
    assert sorted(listing["protein"].unique()) == sorted(info["strains"]["yeast_nop1"])
    assert len(listing) == len(info["strains"]["yeast_nop1"]) * info["fields_per_strain"]["yeast_nop1"]
    for _, row in listing.iterrows():
        mask, bf = tifffile.imread(row["mask"]), tifffile.imread(row["brightfield"]).astype(float)
        assert mask.shape == bf.shape and mask.dtype == np.uint16
        n = int(mask.max())
        assert n >= 5 and np.array_equal(np.unique(mask), np.arange(n + 1))  # labels 1..n, 0 the background
        assert all(ndi.label(mask == k)[1] == 1 for k in range(1, n + 1))  # each label one cell
        outline = segmentation.find_boundaries(mask, mode="inner")
        assert np.median(bf[outline]) < np.median(bf[mask == 0]) - 500  # the cells' dark brightfield outlines
    assert info["punctate"] and set(info["punctate"]) < set(info["strains"]["yeast_nop1"])
    terms = read_annotations(tmp_path / WEILL, layout="long", key="ORF", column="localization")
    assert set(terms.loc[terms["term"] == "punctate", "protein"]) == set(info["punctate"])


def test_built_screens_keep_min_cells_per_image_through_segmentation(tmp_path):
    """Every image of the three built screens keeps the dataset's min_cells after the configs'
    own segmentation and 64 px crop filters, read through the sample sheet as the workflow does."""
    info = yeast_screens_downloads(tmp_path, require_shared())
    config = load_config(SCREENS)
    for name, ds in config["datasets"].items():
        src, cfg = ds["yeast_screen"], DatasetConfig.from_config(config, name)
        order = src.get("page_order") or list(cfg.channels)
        listing = scan_screen(tmp_path / src["root"], order, src["layout"], src.get("tokens"), masks=src["masks"])
        sheet = write_samplesheet(listing, tmp_path / name / "fields")
        need_mask = ds["segmentation"]["method"] == "provided"
        path = write_table(sheet, tmp_path / name / "samplesheet.tsv")
        read = read_samplesheet(path, cfg.channels, need_mask, load_schema(SAMPLESHEET_SCHEMA))
        check_files(read, cfg.channels, need_mask)
        objects = process_chunk(read, cfg, progress=False).objects
        kept = objects[objects["kept"]].groupby("image_id").size()
        assert sorted(kept.index) == sorted(info["strains"][name]), name
        assert kept.min() >= ds["min_cells"], (name, kept.to_dict())
