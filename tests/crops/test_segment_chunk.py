"""Segmenting a chunk of fields: whole images per chunk, provided masks, non-finite pixels and
crops scaled to the cells."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import tifffile
from synthetic_fields import FIELDS, _dataset

from pcinpaint.config import DatasetConfig, validate_config
from pcinpaint.crops.gather import ChunkFiles, gather
from pcinpaint.crops.segment import RelativeLengths, SegmentationSettings, segment_field
from pcinpaint.crops.segment_chunk import (
    DIAMETER_COLUMN,
    FIELD_COLUMNS,
    chunk_rows,
    process_chunk,
    save_chunk,
    scale_lines,
    segment_channel,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: scale auto's lengths at the schema's defaults
RELATIVE = dict(
    smoothing_sigma=0.01, min_area=0.12, watershed_min_distance=0.3, distance_sigma=0.1, background_radius=1.2
)
PIXEL_LENGTHS = ("smoothing_sigma", "min_area", "watershed_min_distance", "distance_sigma", "background_radius")


def _auto(cfg):
    """``cfg`` with scale auto: its pixel lengths replaced by the default relative ones."""
    seg = {k: v for k, v in cfg.segmentation.items() if k not in PIXEL_LENGTHS}
    return dataclasses.replace(cfg, segmentation=seg | {"scale": "auto", "relative": RELATIVE})


def test_chunks_hold_whole_images_and_cover_every_field(tmp_path):
    sheet, _ = _dataset(tmp_path, FIELDS)
    parts = [chunk_rows(sheet, 3, i) for i in range(3)]
    assert sorted(sum((list(p["field_id"]) for p in parts), [])) == sorted(FIELDS)
    for p in parts:
        for image in p["image_id"].unique():
            assert set(p.loc[p["image_id"] == image, "field_id"]) == set(
                sheet.loc[sheet["image_id"] == image, "field_id"]
            )


def test_provided_mask_of_wrong_shape_errors(tmp_path):
    sheet, cfg = _dataset(tmp_path, {"a1": ("P1_w1", [(30, 30)])}, method="provided")
    tifffile.imwrite(sheet.loc[0, "mask"], np.zeros((10, 10), np.uint16))
    with pytest.raises(ValueError, match=r"sheet.tsv: row 2 \(field_id=a1\): mask shape \(10, 10\) differs"):
        process_chunk(sheet, cfg, progress=False)


@pytest.mark.parametrize("channel", ["rfp", "gfp"])
def test_nonfinite_pixels_stop_the_job_or_become_zero_and_are_counted(tmp_path, channel):
    """NaN/Inf in a float TIFF: by default one line naming the sheet row, channel, file and
    count; with nonfinite: zero the crops hold no NaN and the fields QC counts the pixels."""
    sheet, cfg = _dataset(tmp_path, {"a1": ("P1_w1", [(30, 30), (90, 90), (30, 90)])}, min_cells=1)
    path = sheet.loc[0, channel]
    plane = tifffile.imread(path).astype(np.float32)
    plane[40:45, 40:45] = np.nan
    plane[0, 0] = np.inf
    tifffile.imwrite(path, plane)
    with pytest.raises(ValueError) as err:
        process_chunk(sheet, cfg, progress=False)
    message = str(err.value)
    assert "\n" not in message and "sheet.tsv: row 2 (field_id=a1)" in message
    assert f"channel '{channel}'" in message and "a1_" in message and "26 non-finite pixels" in message
    cfg = dataclasses.replace(cfg, nonfinite="zero")
    result = process_chunk(sheet, cfg, progress=False)
    assert result.fields[["field_id", "n_nonfinite"]].to_dict("records") == [{"field_id": "a1", "n_nonfinite": 26}]
    assert len(result.crops) == 3 and result.crops[:, 1].max() > 0  # segmented, the protein channel not zeroed
    paths = [tmp_path / "c.npy", tmp_path / "c.parquet", tmp_path / "c.tsv"]
    save_chunk(result, *paths)
    out = gather(ChunkFiles(paths[:1], paths[1:2], paths[2:]), cfg, sheet, tmp_path / "crops.zarr")
    assert out.fields.set_index("field_id").loc["a1", "n_nonfinite"] == 26


def test_scaled_crops_hold_the_same_cells_at_half_the_magnification():
    """A real field (nuclei, PH3, cell body) and its 0.5x copy, segmented with one setting: crops
    cut at 4 typical nucleus diameters match their counterparts far better than fixed 40 px crops,
    which hold twice the field at half the magnification (measured: median Pearson 0.94 against
    0.30; crop sides 41.7 and 21.2 px)."""
    from scipy.spatial import cKDTree
    from skimage.transform import downscale_local_mean

    from pcinpaint.crops.scale import cell_diameter, scaled_crop_size
    from pcinpaint.crops.segment_chunk import crop, segment

    files = sorted((Path(__file__).resolve().parents[2].parent / "shared/data/human_fields").glob("*d[012].tif"))
    if len(files) != 3:
        pytest.skip("real human field (d0, d1, d2) not found under ../shared/data/human_fields")
    field = np.stack([tifffile.imread(f).astype(np.float32) for f in files])
    half = downscale_local_mean(field, (1, 2, 2)).astype(np.float32)
    config = validate_config(
        {
            "datasets": {
                "d": {
                    "source": "samplesheet",
                    "samplesheet": "sheet.tsv",
                    "channels": [
                        {"name": "dna", "role": "structural"},
                        {"name": "ph3", "role": "protein"},
                        {"name": "body", "role": "structural"},
                    ],
                    "segmentation": {
                        "channel": "dna",
                        "method": "nuclei_watershed",
                        "smoothing_sigma": 1.0,
                        "min_area": 5,
                        "watershed_min_distance": 3,
                        "distance_sigma": 1.0,
                    },
                    "crops": {"model_size": 32, "area_fraction": [0.0, 1.0], "border": "pad"},
                }
            }
        }
    )
    cfg = DatasetConfig.from_config(config, "d")
    (full_field, full_labels, _), (half_field, half_labels, _) = segment(field, cfg), segment(half, cfg)
    sizes = [
        scaled_crop_size(cell_diameter([f[0]], [lab]), 4.0, 64)
        for f, lab in ((full_field, full_labels), (half_field, half_labels))
    ]
    median_r = {}
    for name, (a, b) in {"scaled": sizes, "fixed": (40, 40)}.items():
        full_crops, full_objects = crop(full_field, full_labels, cfg, a)
        half_crops, half_objects = crop(half_field, half_labels, cfg, b)
        tree = cKDTree(half_objects[["centroid_y", "centroid_x"]].to_numpy() * 2)
        dist, match = tree.query(full_objects[["centroid_y", "centroid_x"]].to_numpy())
        pairs = [(i, j) for i, (d, j) in enumerate(zip(dist, match)) if d < 3]
        assert len(pairs) > 150
        median_r[name] = np.median([np.corrcoef(full_crops[i].ravel(), half_crops[j].ravel())[0, 1] for i, j in pairs])
    assert 1.85 < sizes[0] / sizes[1] < 2.15  # the crop follows the magnification
    assert median_r["scaled"] >= 0.9 and median_r["fixed"] <= median_r["scaled"] - 0.3, median_r


def test_crop_diameters_set_each_images_crop_and_qc_reports_it(tmp_path):
    sheet, cfg = _dataset(
        tmp_path, {"a1": ("P1_w1", [(30, 30), (30, 90), (90, 30)]), "a2": ("P1_w1", [(90, 90)])}, min_cells=1
    )
    cfg = dataclasses.replace(cfg, crops={**cfg.crops, "crop_diameters": 3.0})
    result = process_chunk(sheet, cfg, progress=False)
    qc = result.fields.set_index("field_id")
    assert qc.loc["a1", "crop_size"] == qc.loc["a2", "crop_size"]  # one scale per image
    assert 15 < qc.loc["a1", "cell_diameter"] < 21  # disks of radius 9
    assert qc.loc["a1", "crop_size"] == pytest.approx(3 * qc.loc["a1", "cell_diameter"])
    assert result.crops.shape == (4, 2, 64, 64)
    paths = [tmp_path / "c.npy", tmp_path / "c.parquet", tmp_path / "c.tsv"]
    save_chunk(result, *paths)
    out = gather(ChunkFiles(paths[:1], paths[1:2], paths[2:]), cfg, sheet, tmp_path / "crops.zarr")
    assert {"cell_diameter", "crop_size"} <= set(out.fields.columns)


def test_segment_channel_fixed_is_segment_field_and_auto_records_its_scale():
    from synthetic_fields import _field

    image, _ = _field([(30, 30), (30, 90), (90, 30), (90, 90)])
    channel = image[0].astype(np.float32)
    settings = SegmentationSettings("cells_watershed", smoothing_sigma=1.0, min_area=30)
    labels, record = segment_channel(channel, settings)
    assert record == {} and np.array_equal(labels, segment_field(channel, settings))
    labels, record = segment_channel(channel, settings, RelativeLengths(**RELATIVE))
    assert labels.max() == 4 and 16 < record[DIAMETER_COLUMN] < 20  # disks of radius 9
    assert list(record) == [DIAMETER_COLUMN, *(f"segmentation_{k}" for k in PIXEL_LENGTHS[:3])]
    assert record["segmentation_min_area"] == round(0.12 * np.pi * record[DIAMETER_COLUMN] ** 2 / 4)
    empty = np.random.default_rng(0).normal(100, 5, (128, 128)).astype(np.float32)
    labels, record = segment_channel(empty, settings, RelativeLengths(**RELATIVE))
    assert labels.max() == 0 and labels.dtype == np.int32 and all(np.isnan(v) for v in record.values())


def test_scale_auto_records_each_fields_diameter_and_lengths(tmp_path):
    sheet, cfg = _dataset(tmp_path, FIELDS, method="nuclei_watershed")
    fixed = process_chunk(sheet, cfg, progress=False)
    assert list(fixed.fields.columns) == FIELD_COLUMNS and scale_lines(fixed.fields) == []
    auto = process_chunk(sheet, _auto(cfg), progress=False)
    qc = auto.fields.set_index("field_id")
    assert list(auto.fields.columns) == FIELD_COLUMNS + [DIAMETER_COLUMN, *(f"segmentation_{k}" for k in PIXEL_LENGTHS)]
    assert qc[DIAMETER_COLUMN].drop("c1").between(16, 20).all() and np.isnan(qc.loc["c1", DIAMETER_COLUMN])
    assert (qc["segmentation_background_radius"] == 1.2 * qc[DIAMETER_COLUMN]).drop("c1").all()
    assert auto.objects.groupby("field_id").size().to_dict() == fixed.objects.groupby("field_id").size().to_dict()
    lines = scale_lines(auto.fields)
    assert lines[0].startswith("field a1: diameter 1") and "watershed_min_distance" in lines[0]
    assert "field c1: no object stands out" in lines[3] and lines[-1].endswith("over 4 of 5 fields")
    paths = [tmp_path / "c.npy", tmp_path / "c.parquet", tmp_path / "c.tsv"]
    save_chunk(auto, *paths)
    out = gather(ChunkFiles(paths[:1], paths[1:2], paths[2:]), cfg, sheet, tmp_path / "crops.zarr")
    gathered = out.fields.set_index("field_id")
    assert gathered.loc["a1", DIAMETER_COLUMN] == qc.loc["a1", DIAMETER_COLUMN]
    assert gathered.loc["a1", "segmentation_min_area"] == qc.loc["a1", "segmentation_min_area"]


def _rescaled(image, scale):
    from skimage.transform import rescale

    return rescale(image.astype(np.float32), scale, order=1, anti_aliasing=scale < 1, preserve_range=True)


def test_scale_auto_counts_real_yeast_cells_alike_at_every_magnification():
    """The real yeast field's cytosolic marker (counted by eye: 7, 9, 11, 22 cells per page) and
    copies at 0.5x and 2x, one setting (the defaults): the same counts at every magnification
    (measured: 7, 8, 11, 22), the diameter in proportion (about 20, 40, 80 px)."""
    path = DATA / "yeast_fields" / "handfield_example_gfp_rfp.tif"
    if not path.exists():
        pytest.skip(f"real yeast field not found at {path}")
    stack = tifffile.imread(path)
    settings, relative = SegmentationSettings("cells_watershed"), RelativeLengths(**RELATIVE)
    for page, by_eye in {1: 7, 3: 9, 5: 11, 7: 22}.items():
        counts, diameters = [], []
        for scale in (0.5, 1.0, 2.0):
            labels, record = segment_channel(_rescaled(stack[page], scale), settings, relative)
            counts.append(labels.max())
            diameters.append(record[DIAMETER_COLUMN])
        assert max(counts) - min(counts) <= 1 and abs(counts[1] - by_eye) <= 1, (page, counts)
        assert 1.85 < diameters[1] / diameters[0] < 2.15 and 1.85 < diameters[2] / diameters[1] < 2.15


def test_scale_auto_counts_real_human_nuclei_alike_at_twice_the_magnification():
    """The real human field (about 280 nuclei of some 10 px) at 1x and 2x with one setting; the
    fixed defaults, right for nuclei ten times larger, find a fraction of them."""
    files = sorted((DATA / "human_fields").glob("*d0.tif"))
    if not files:
        pytest.skip(f"real human field (*d0.tif) not found under {DATA / 'human_fields'}")
    dna = tifffile.imread(files[0])
    settings, relative = SegmentationSettings("nuclei_watershed"), RelativeLengths(**RELATIVE)
    at_1x = segment_channel(_rescaled(dna, 1.0), settings, relative)[0].max()
    at_2x = segment_channel(_rescaled(dna, 2.0), settings, relative)[0].max()
    assert 240 <= at_1x <= 340 and abs(at_2x - at_1x) <= 0.1 * at_1x, (at_1x, at_2x)
    assert segment_field(dna, settings).max() < 0.5 * at_1x


@pytest.mark.parametrize(
    "preset, line, cells, size, settings",
    [
        ("yeast", "BY4741", 40, 384, dict(method="cells_watershed", smoothing_sigma=1.0, watershed_min_distance=7)),
        ("human", "A-431", 24, 448, dict(method="nuclei_otsu", smoothing_sigma=2.0)),
    ],
)
def test_scale_auto_finds_the_simulated_cells_as_the_demos_pixels_do(preset, line, cells, size, settings):
    """Fields of the demo's two screens, segmented with the demo config's pixel settings and with
    scale auto at its defaults: detection precision and recall each within 0.01 (the demo itself,
    measured: yeast 0.988 / 0.977 fixed, 0.996 / 0.972 auto; human 1.0 / 1.0 both)."""
    import pandas as pd
    from skimage import measure

    from pcinpaint.crops.segment_chunk import match_truth
    from pcinpaint.crops.segmentation_qc import detection_qc
    from pcinpaint.inputs import simulate

    rng = np.random.default_rng(0)
    spec = simulate.ProteinSpec("P", (simulate.CLASSES[preset][0],), "single", 1.0)
    layout = simulate.FieldSettings(preset, simulate.CELL_LINES[preset][line], cells, size)
    fields = [simulate.render_field(layout, spec, 1.0, rng) for _ in range(6)]
    truth = pd.concat([f.truth.assign(field_id=str(i)) for i, f in enumerate(fields)], ignore_index=True)
    fixed = SegmentationSettings(min_area=150, clear_border=True, **settings)
    scores = {}
    for name, relative in (("fixed", None), ("auto", RelativeLengths(**RELATIVE))):
        found = []
        for i, f in enumerate(fields):
            labels, _ = segment_channel(f.channels[0].astype(np.float32), fixed, relative)
            centres = pd.DataFrame(measure.regionprops_table(labels, properties=("centroid",)))
            objects = centres.rename(columns={"centroid-0": "centroid_y", "centroid-1": "centroid_x"})
            found.append(pd.DataFrame({"field_id": str(i), "truth_label": match_truth(objects, f.cells)}))
        qc = detection_qc(pd.concat(found, ignore_index=True), truth).set_index("field_id")
        scores[name] = qc.loc["all", ["precision", "recall"]].to_numpy(float)
    assert (scores["auto"] >= scores["fixed"] - 0.01).all() and (scores["auto"] > 0.95).all(), scores
