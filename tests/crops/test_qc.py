"""Field quality flags: blank and saturated protein channels, out-of-focus and empty fields, and
dropping the cells of flagged fields at gather time."""

import copy

import numpy as np
import pandas as pd
import pytest
import tifffile
from conftest import REPO, TEST_CONFIG, require_shared
from scipy import ndimage as ndi
from synthetic_fields import FIELDS, _dataset

from pcinpaint.config import DatasetConfig, load_config, validate_config
from pcinpaint.crops.gather import ChunkFiles, gather
from pcinpaint.crops.qc import describe_flags, edge_width, field_flags, flag_note, protein_measures, qc_settings
from pcinpaint.crops.segment import SegmentationSettings, segment_field
from pcinpaint.crops.segment_chunk import chunk_rows, process_chunk, save_chunk
from pcinpaint.crops.segmentation_qc import FIELD_FLAGGED
from pcinpaint.crops.store import read_crops
from pcinpaint.errors import ConfigError, InputError
from pcinpaint.inputs.samplesheet import read_samplesheet
from pcinpaint.inputs.simulate import write_screen

DEFAULTS = qc_settings(DatasetConfig.from_dict("d", {"channels": [{"name": "a", "role": "structural"}]}))


def _focus(plane, zoom=1):
    """edge_width of a nuclei field segmented with settings scaled to its magnification."""
    labels = segment_field(
        plane,
        SegmentationSettings(
            "nuclei_watershed",
            smoothing_sigma=zoom,
            min_area=5 * zoom**2,
            watershed_min_distance=3 * zoom,
            distance_sigma=zoom,
            min_contrast=5.0,
        ),
    )
    return edge_width(plane, labels)


def _flags(**measures):
    row = dict(protein_contrast=100.0, saturated_fraction=0.0, edge_width=0.03, foreground_fraction=0.2) | measures
    return field_flags(pd.DataFrame([row]), DEFAULTS)["flags"].iloc[0]


def test_a_blurred_real_field_is_out_of_focus_at_any_magnification():
    """A real nuclei field (nuclei about 11 px across) is sharp; blurred by a Gaussian of 3 px
    it is flagged, and so is its 2x copy blurred by 6 px, with about the same edge width
    (measured: 0.060 sharp, 0.095 blurred)."""
    files = sorted(require_shared("human_fields").glob("*d0.tif"))
    nuclei = tifffile.imread(files[0]).astype(np.float32)
    sharp, blurred = _focus(nuclei), _focus(ndi.gaussian_filter(nuclei, 3))
    magnified = _focus(ndi.gaussian_filter(ndi.zoom(nuclei, 2, order=3), 6), zoom=2)
    assert sharp < DEFAULTS["focus_threshold"] - 0.01, sharp
    assert blurred > DEFAULTS["focus_threshold"] + 0.01, blurred
    assert magnified == pytest.approx(blurred, rel=0.1)
    assert _flags(edge_width=sharp) == "" and _flags(edge_width=blurred) == "out_of_focus"


def test_blank_and_saturated_protein_channels_are_flagged():
    """A real yeast GFP field is neither; zeroed, constant at the maximum, or pure camera noise
    it is blank; brightened 4x past the 8-bit range (4% of it clipped at 255) it is saturated."""
    pages = tifffile.imread(require_shared("yeast_fields", "handfield_example_gfp_rfp.tif")).astype(np.float32)
    gfp, rfp = pages[6], pages[7]
    noise = np.random.default_rng(0).normal(100, 5, gfp.shape).astype(np.float32)
    variants = {
        "real": (gfp, ""),
        "zero": (np.zeros_like(gfp), "blank"),
        "constant 255": (np.full_like(gfp, 255), "blank"),
        "noise": (noise, "blank"),
        "clipped": (np.minimum(gfp * 4, 255), "saturated"),
    }
    for name, (protein, expected) in variants.items():
        measures = protein_measures(np.stack([rfp, protein]), (1,))
        assert _flags(**measures) == expected, (name, measures)


def test_empty_field_is_flagged_and_flags_are_recorded_per_field(tmp_path):
    sheet, cfg = _dataset(tmp_path, {"a1": FIELDS["a1"], "c1": FIELDS["c1"]}, min_cells=1)
    result = process_chunk(sheet, cfg, progress=False)
    flags = field_flags(result.fields, qc_settings(cfg)).set_index("field_id")
    # nothing detected, and nothing but camera noise in the protein channel
    assert flags.loc["c1", "foreground_fraction"] == 0 and flags.loc["c1", "flags"] == "blank,empty"
    assert flags.loc["a1", "flags"] == ""


def _gather(tmp_path, sheet, cfg, name):
    paths = []
    for i in range(2):
        paths.append([tmp_path / f"{name}{i}.npy", tmp_path / f"{name}{i}.parquet", tmp_path / f"{name}{i}.tsv"])
        save_chunk(process_chunk(chunk_rows(sheet, 2, i), cfg, progress=False), *paths[-1])
    return gather(ChunkFiles(*zip(*paths)), cfg, sheet, tmp_path / f"{name}.zarr")


def test_drop_flagged_drops_exactly_the_flagged_fields_cells(tmp_path):
    """Field a2's protein channel is blank and d1's saturated: flagged, their cells kept by
    default; with qc.drop_flagged: [blank] only a2's cells go, the rest keep their crops, in
    store order; image P1_w1 then has 3 cells left, under min_cells=4."""
    sheet, cfg = _dataset(tmp_path, FIELDS, min_cells=3)
    tifffile.imwrite(sheet.set_index("field_id").loc["a2", "gfp"], np.zeros((128, 128), np.uint16))
    d1 = sheet.set_index("field_id").loc["d1", "gfp"]
    tifffile.imwrite(d1, np.minimum(tifffile.imread(d1).astype(np.int64) * 8, 4095).astype(np.uint16))
    kept = _gather(tmp_path, sheet, cfg, "kept")
    fields = kept.fields.set_index("field_id")
    assert fields["flags"].to_dict() == {"a1": "", "a2": "blank", "b1": "", "c1": "blank,empty", "d1": "saturated"}
    assert fields["flag_blank"].dtype == bool and (fields["n_field_flagged"] == 0).all()
    assert set(kept.cells["field_id"]) == {"a1", "a2", "d1"}

    cfg = DatasetConfig.from_dict("d", {**cfg.raw, "qc": {"drop_flagged": ["blank"]}})
    dropped = _gather(tmp_path, sheet, cfg, "dropped")
    fields = dropped.fields.set_index("field_id")
    assert fields.loc["a2", "n_field_flagged"] == 2 and fields.loc["a2", "n_stored"] == 0
    assert fields["n_field_flagged"].drop("a2").eq(0).all()
    assert (dropped.objects.loc[dropped.objects["field_id"] == "a2", "drop_reason"] == FIELD_FLAGGED).all()
    assert list(dropped.cells["cell_id"]) == [c for c in kept.cells["cell_id"] if not c.startswith("a2:")]
    assert list(dropped.cells["store_index"]) == list(range(len(dropped.cells)))
    same_cells = kept.cells.set_index("cell_id").loc[dropped.cells["cell_id"], "store_index"]
    assert np.array_equal(read_crops(tmp_path / "dropped.zarr"), read_crops(tmp_path / "kept.zarr")[same_cells])

    assert describe_flags(dropped.fields, ["blank"]) == [
        "2 fields flagged blank (a2, c1): 2 cells dropped (qc.drop_flagged)",
        "1 field flagged saturated (d1): cells kept (add it to qc.drop_flagged to drop them)",
        "1 field flagged empty (c1): cells kept (add it to qc.drop_flagged to drop them)",
    ]

    chunks = [[tmp_path / f"dropped{i}.{ext}" for i in range(2)] for ext in ("npy", "parquet")]
    with pytest.raises(
        InputError, match=r"no field quality measures .* which qc.drop_flagged needs; rerun the segment"
    ):
        gather(ChunkFiles(*chunks), cfg, sheet, tmp_path / "stale.zarr")  # chunks without their field tables
    assert not (tmp_path / "stale.zarr").exists()

    # an image whose every field is dropped says so, not "fewer than min_cells"
    saturated = _gather(
        tmp_path, sheet, DatasetConfig.from_dict("d", {**cfg.raw, "qc": {"drop_flagged": ["saturated"]}}), "sat"
    )
    reasons = saturated.dropped_images.set_index("image_id")["reason"]
    assert reasons["P4_w1"] == "every field flagged (qc.drop_flagged)" and reasons["P2_w1"].startswith("fewer than")

    cfg = DatasetConfig.from_dict("d", {**cfg.raw, "min_cells": 4})
    assert set(_gather(tmp_path, sheet, cfg, "fewer").cells["field_id"]) == {"d1"}  # a1's 3 cells < 4


def test_an_unknown_flag_is_a_config_error():
    config = load_config(TEST_CONFIG)
    name = next(iter(config["datasets"]))
    config["datasets"][name]["qc"] = {"drop_flagged": ["blurry"]}
    with pytest.raises(ConfigError, match=r"datasets\.\S+\.qc\.drop_flagged\.0: 'blurry' is not one of"):
        validate_config(config)


@pytest.mark.parametrize("name", ["sim_human", "sim_yeast"])
def test_the_demos_simulated_fields_are_not_flagged(tmp_path, name):
    """The demo's screens at their own settings: no field flagged by the default thresholds,
    so the default run keeps every cell even with every flag dropped."""
    config = load_config(REPO / "config.yaml")
    ds = config["datasets"][name]
    sim = copy.deepcopy(ds["simulate"]) | {"n_proteins": 2, "images_per_protein": 1, "fields_per_image": 1}
    cfg = DatasetConfig.from_config(config, name)
    paths = write_screen(sim, tmp_path, seed=1, channels=list(cfg.channels))
    result = process_chunk(read_samplesheet(paths["samplesheet"], cfg.channels), cfg, progress=False)
    flags = field_flags(result.fields, qc_settings(cfg))
    assert (flags["flags"] == "").all(), flags


def test_the_overlays_frame_and_name_a_flagged_field():
    from pcinpaint.figures.qc import segmentation_overlays

    labels = np.zeros((32, 32), np.int32)
    labels[8:16, 8:16] = 1
    objects = pd.DataFrame({"object_id": [1], "kept": [True]})
    panel = (np.random.default_rng(0).random((2, 32, 32)), labels, objects)
    notes = ["", flag_note("blank,empty", ["empty"])]
    assert notes[1] == "flagged: blank, empty (cells dropped)"
    fig = segmentation_overlays([("ok", *panel), ("bad", *panel)], ["structural", "protein"], notes)
    good, bad = fig.axes
    assert bad.get_title().endswith("flagged: blank, empty (cells dropped)") and bad.title.get_color() == "red"
    assert "flagged" not in good.get_title() and not any(s.get_visible() for s in good.spines.values())
    assert all(s.get_visible() and s.get_edgecolor()[:3] == (1, 0, 0) for s in bad.spines.values())
