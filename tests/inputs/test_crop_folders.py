"""Screens delivered as single-cell crop files: listing, grouping, the crop store, bad crops."""

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import require_shared

from pcinpaint.crops.import_crops import ImportSettings, store_crop_folders
from pcinpaint.crops.preprocess import normalise_crops
from pcinpaint.crops.store import open_crop_store, read_crops, to_uint8
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.crop_folders import NamePatterns, folder_protein, scan_crops

YEAST = {"rfp": "_rfp", "gfp": "_gfp"}
HUMAN = {"blue": "_blue", "red": "_red", "green": "_green"}
CELL_COLUMNS = ["cell_id", "image_id", "field_id", "protein", "centroid_y", "centroid_x", "area", "store_index"]


def _minmax(plane):
    plane = plane.astype(np.float64)
    return (plane - plane.min()) / (plane.max() - plane.min())


def test_real_yeast_toy_crops(tmp_path):
    root = require_shared("yeast_toy_crops")
    listing = scan_crops(root, YEAST)
    assert len(listing) == 1642
    assert listing.groupby("protein").size().to_dict() == {
        "AAC1": 366,
        "AAC3": 416,
        "AAH1": 203,
        "AAP1": 308,
        "AAR2": 349,
    }
    # pairs are drawn within each protein's folder (its four fields together), as the reference code did
    assert (listing["image_id"] == listing["protein"]).all()
    assert listing["field_id"].nunique() == 20
    assert listing["cell_id"].is_unique and "antibody" not in listing.columns
    first = listing.iloc[0]
    assert first["cell_id"] == "AAC1/AAC1_1_rfp_2" and first["field_id"] == "AAC1/AAC1_1_rfp"
    assert first["gfp"].endswith("AAC1_1_rfp_2_gfp.tif") and first["rfp"].endswith("AAC1_1_rfp_2_rfp.tif")

    cells = store_crop_folders(
        listing, tmp_path / "crops.zarr", ["rfp", "gfp"], structural=[0], settings=ImportSettings(dataset="yeast_toy")
    )
    assert list(cells.columns) == CELL_COLUMNS
    assert cells["store_index"].tolist() == list(range(1642))
    assert cells[["centroid_y", "centroid_x", "area"]].isna().all().all()
    store = open_crop_store(tmp_path / "crops.zarr")
    assert store.shape == (1642, 2, 64, 64) and store.raw([0]).dtype == np.uint8
    assert store.attrs == {"channels": ["rfp", "gfp"], "roles": ["structural", "protein"], "dataset": "yeast_toy"}
    raw = store.raw()
    assert raw.min(axis=(2, 3)).max() == 0 and raw.max(axis=(2, 3)).min() == 255  # every channel spans [0, 1]
    i = 777
    row = listing.iloc[i]
    expected = to_uint8(np.stack([_minmax(tifffile.imread(row["rfp"])), _minmax(tifffile.imread(row["gfp"]))]))
    np.testing.assert_array_equal(raw[i], expected)


def test_real_human_toy_crops(tmp_path):
    root = require_shared("human_toy_crops")
    listing = scan_crops(root, HUMAN)
    assert len(listing) == 62
    assert listing.groupby("antibody").size().to_dict() == {"1645": 6, "413": 22, "762": 34}
    assert sorted(listing["protein"].unique()) == ["A1CF", "A4GALT", "AAAS"]
    assert listing["image_id"].nunique() == 3
    by_field = scan_crops(root, HUMAN, group="folder_field")
    assert sorted(by_field["image_id"].unique()) == [
        "A1CF_762_F2/762_F2_1",
        "A1CF_762_F2/762_F2_2",
        "A4GALT_1645_H1_6/1645_H1_6_cr57b5683c9a8ca",
        "AAAS_413_A12/413_A12_1",
        "AAAS_413_A12/413_A12_2",
    ]
    assert (by_field["cell_id"] == listing["cell_id"]).all()

    cells = store_crop_folders(
        listing,
        tmp_path / "crops.zarr",
        ["blue", "red", "green"],
        structural=[0, 1],
        settings=ImportSettings(model_size=64, normalise="none", clip_structural_below=0.05),
    )
    assert list(cells.columns) == CELL_COLUMNS[:4] + ["antibody"] + CELL_COLUMNS[4:]
    raw = open_crop_store(tmp_path / "crops.zarr").raw()
    assert raw.shape == (62, 3, 64, 64) and raw.dtype == np.uint8  # 128 x 128 crops shrunk to the model's size
    structural = raw[:, :2]
    assert not ((structural > 0) & (structural < 13)).any()  # values below 0.05 x 255 were clipped to 0
    assert raw[:, 2].max(axis=(1, 2)).min() == 255
    crops = read_crops(tmp_path / "crops.zarr")
    assert crops.min() >= 0 and crops.max() <= 1


def _write_cell(folder, name, shapes=None, skip=(), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for ch in ("gfp", "rfp"):
        if ch in skip:
            continue
        shape = (shapes or {}).get(ch, (40, 40))
        tifffile.imwrite(folder / f"{name}_{ch}.tif", rng.random(shape, dtype=np.float32) * 1000)


def test_wrong_size_crops_are_errors_naming_the_file(tmp_path):
    root = tmp_path / "crops"
    for k in (1, 2):
        _write_cell(root / "ORF1", f"ORF1_1_{k}")
    _write_cell(root / "ORF1", "ORF1_1_3", shapes={"gfp": (32, 32), "rfp": (32, 32)})
    listing = scan_crops(root, YEAST)
    with pytest.raises(
        InputError,
        match=r"ORF1_1_3_rfp\.tif: crop size 32x32 differs from the set's 40x40 "
        r"\(cell ORF1/ORF1_1_1\)",
    ) as err:
        store_crop_folders(listing, tmp_path / "crops.zarr", ["rfp", "gfp"], structural=[0])
    assert "\n" not in str(err.value)
    assert not (tmp_path / "crops.zarr").exists() and not list(tmp_path.glob(".crops.zarr*"))  # nothing half-written

    _write_cell(root / "ORF1", "ORF1_1_3", shapes={"gfp": (40, 36)})
    with pytest.raises(
        InputError, match=r"ORF1_1_3_gfp\.tif: crop is 40x36 but channel 'rfp' of cell ORF1/ORF1_1_3 is 40x40"
    ):
        store_crop_folders(scan_crops(root, YEAST), tmp_path / "crops.zarr", ["rfp", "gfp"], structural=[0])


def test_missing_channel_file_is_an_error_naming_cell_and_channel(tmp_path):
    root = tmp_path / "crops"
    _write_cell(root / "ORF1", "ORF1_1_1")
    _write_cell(root / "ORF1", "ORF1_1_2", skip=("rfp",))
    with pytest.raises(InputError, match=r"ORF1: cell 'ORF1_1_2' has no 'rfp' file \(ORF1_1_2_rfp\)"):
        scan_crops(root, YEAST)
    _write_cell(root / "ORF1", "ORF1_1_2")
    listing = scan_crops(root, YEAST)
    (root / "ORF1" / "ORF1_1_2_gfp.tif").unlink()  # gone between listing and building
    with pytest.raises(InputError, match=r"cell ORF1/ORF1_1_2: channel 'gfp' file missing"):
        store_crop_folders(listing, tmp_path / "crops.zarr", ["rfp", "gfp"], structural=[0])


def test_grouping_and_protein_rules(tmp_path):
    root = tmp_path / "crops"
    for folder in ("plate1_YAL001C", "plate2_YAL002W"):
        for field in (1, 2):
            for cell in (1, 2, 3):
                _write_cell(root / folder, f"{folder}_{field}_{cell}", shapes={"gfp": (8, 8), "rfp": (8, 8)})
    (root / "plate1_YAL001C" / "notes_gfp.txt").write_text("not an image")  # outside the file pattern
    default = scan_crops(root, YEAST)
    assert sorted(default["protein"].unique()) == ["plate1", "plate2"]  # first '_' token unless told otherwise
    listing = scan_crops(
        root, YEAST, group="folder_field", patterns=NamePatterns(protein_pattern=r"plate\d+_(?P<protein>\w+)")
    )
    assert sorted(listing["protein"].unique()) == ["YAL001C", "YAL002W"]
    assert listing.groupby("image_id").size().to_dict() == {
        "plate1_YAL001C/plate1_YAL001C_1": 3,
        "plate1_YAL001C/plate1_YAL001C_2": 3,
        "plate2_YAL002W/plate2_YAL002W_1": 3,
        "plate2_YAL002W/plate2_YAL002W_2": 3,
    }
    with pytest.raises(InputError, match=r"plate1_YAL001C: folder name does not match protein_pattern"):
        scan_crops(root, YEAST, patterns=NamePatterns(protein_pattern=r"well_(?P<protein>\w+)"))
    assert folder_protein("AAC1") == "AAC1" and folder_protein("A1CF_762_F2") == "A1CF"


def test_normalise_modes():
    rng = np.random.default_rng(1)
    crops = rng.random((3, 2, 16, 16)).astype(np.float32) * 50 + 10
    crops[0, 1, 3, 3] = 1e4  # a hot pixel
    per_crop = normalise_crops(crops, "per_crop")
    assert per_crop.min() == 0 and per_crop.max() == 1
    np.testing.assert_array_equal(normalise_crops(crops, "none"), crops)
    pct = normalise_crops(crops, "percentile", percentiles=(1, 99))
    assert pct.min() == 0 and pct.max() == 1
    assert per_crop[0, 1].mean() < 0.01 < 0.3 < pct[0, 1].mean()  # the hot pixel no longer flattens the cell
    with pytest.raises(ConfigError, match="unknown mode 'zscore'"):
        normalise_crops(crops, "zscore")


def test_listing_labels_pass_through(tmp_path):
    root = tmp_path / "crops"
    for cell in (1, 2):
        _write_cell(root / "ORF1", f"f_{cell}", shapes={"gfp": (8, 8), "rfp": (8, 8)})
    listing = scan_crops(root, YEAST).assign(label="mitochondrion", cell_line=pd.NA)
    cells = store_crop_folders(
        listing, tmp_path / "crops.zarr", ["gfp", "rfp"], structural=[1], settings=ImportSettings(model_size=16)
    )
    assert "label" in cells.columns and "cell_line" not in cells.columns
    assert open_crop_store(tmp_path / "crops.zarr").shape == (2, 2, 16, 16)
