"""Tests for pcinpaint.crops.cropping and crops.preprocess: object measurement, crop extraction, preprocessing."""

import numpy as np
import pandas as pd
import pytest

from pcinpaint.crops.cropping import BORDER_MODES, CropSettings, crop_cells, measure_objects
from pcinpaint.crops.preprocess import preprocess_crops
from pcinpaint.errors import ConfigError

OBJECT_COLUMNS = ["label", "centroid_y", "centroid_x", "area", "kept", "drop_reason", "padded"]


def pattern_field(n_channels=2, shape=(60, 70)):
    """Every pixel of every channel has a unique value, so a crop's position is checkable."""
    return (np.arange(n_channels * shape[0] * shape[1], dtype=np.float32) + 1).reshape(n_channels, *shape)


def square_labels(shape, squares):
    """Label image with filled squares: {label: (y0, x0, side)}."""
    labels = np.zeros(shape, dtype=np.int32)
    for lab, (y0, x0, side) in squares.items():
        labels[y0 : y0 + side, x0 : x0 + side] = lab
    return labels


# --- measure_objects ---------------------------------------------------------------


def test_measure_objects_rectangle():
    labels = np.zeros((50, 60), dtype=np.int32)
    labels[10:20, 30:36] = 5  # 10 x 6 rectangle: centre (14.5, 32.5), area 60
    labels[40:43, 1:4] = 2  # 3 x 3 square: centre (41, 2), area 9
    df = measure_objects(labels)
    assert list(df.columns) == ["label", "centroid_y", "centroid_x", "area"]
    assert df["label"].tolist() == [2, 5]  # label order
    row = df.set_index("label").loc[5]
    assert row["centroid_y"] == pytest.approx(14.5)
    assert row["centroid_x"] == pytest.approx(32.5)
    assert row["area"] == 60
    row = df.set_index("label").loc[2]
    assert (row["centroid_y"], row["centroid_x"], row["area"]) == (41.0, 2.0, 9)
    assert df["centroid_y"].dtype == np.float64 and df["area"].dtype == np.int64


# --- crop_cells: window content -----------------------------------------------------------


@pytest.mark.parametrize("crop_size", [9, 10])
def test_crop_equals_expected_slice(crop_size):
    field = pattern_field()
    labels = square_labels((60, 70), {1: (20, 30, 5), 2: (40, 10, 4)})
    crops, objects = crop_cells(
        field, labels, CropSettings(crop_size=crop_size, model_size=crop_size, area_fraction=(0.0, 1.0))
    )
    assert crops.dtype == np.float32 and crops.shape == (2, 2, crop_size, crop_size)
    assert objects["kept"].all()
    # object 1: centre of mass (22, 32) exactly
    y0, x0 = 22 - crop_size // 2, 32 - crop_size // 2
    np.testing.assert_array_equal(crops[0], field[:, y0 : y0 + crop_size, x0 : x0 + crop_size])
    # object 2: centre (41.5, 11.5) rounds half up to (42, 12)
    y0, x0 = 42 - crop_size // 2, 12 - crop_size // 2
    np.testing.assert_array_equal(crops[1], field[:, y0 : y0 + crop_size, x0 : x0 + crop_size])


def test_objects_frame_columns_and_order():
    field = pattern_field()
    labels = square_labels((60, 70), {9: (20, 30, 5), 4: (40, 10, 4)})
    crops, objects = crop_cells(field, labels, CropSettings(crop_size=10, model_size=10, area_fraction=(0.0, 1.0)))
    assert list(objects.columns) == OBJECT_COLUMNS
    assert objects["label"].tolist() == [4, 9]
    assert objects["kept"].dtype == bool
    assert objects["drop_reason"].tolist() == ["", ""]
    # crops follow the kept rows in label order: label 4 (centre 41.5, 11.5 -> 42, 12) first
    np.testing.assert_array_equal(crops[0], field[:, 37:47, 7:17])


# --- crop_cells: border -----------------------------------------------------------------------


def test_border_drop_and_pad():
    field = pattern_field(n_channels=1, shape=(40, 40))
    labels = square_labels((40, 40), {1: (0, 0, 4), 2: (20, 20, 4)})  # 1 has centre (1.5, 1.5) -> (2, 2)
    crops, objects = crop_cells(
        field, labels, CropSettings(crop_size=10, model_size=10, area_fraction=(0.0, 1.0), border="drop")
    )
    assert objects["kept"].tolist() == [False, True]
    assert objects["drop_reason"].tolist() == ["leaves_field", ""]
    assert crops.shape == (1, 1, 10, 10)
    np.testing.assert_array_equal(crops[0], field[:, 17:27, 17:27])

    crops, objects = crop_cells(
        field, labels, CropSettings(crop_size=10, model_size=10, area_fraction=(0.0, 1.0), border="pad")
    )
    assert objects["kept"].tolist() == [True, True]
    assert objects["drop_reason"].tolist() == ["", ""]
    assert objects["padded"].tolist() == [True, False]
    assert crops.shape == (2, 1, 10, 10)
    # window of object 1 is rows/cols [-3, 7): 3 rows and 3 columns outside the field hold
    # the background level, the median of the pixels outside every object
    fill = np.median(field[0][labels == 0])
    assert np.all(crops[0, :, :3, :] == fill) and np.all(crops[0, :, :, :3] == fill)
    np.testing.assert_array_equal(crops[0, :, 3:, 3:], field[:, 0:7, 0:7])
    np.testing.assert_array_equal(crops[1], field[:, 17:27, 17:27])
    assert set(BORDER_MODES) == {"drop", "pad"}


def test_pad_at_far_edge():
    field = pattern_field(n_channels=1, shape=(30, 30))
    labels = square_labels((30, 30), {1: (27, 27, 3)})  # centre (28, 28): window [23, 33)
    crops, _ = crop_cells(
        field, labels, CropSettings(crop_size=10, model_size=10, area_fraction=(0.0, 1.0), border="pad")
    )
    np.testing.assert_array_equal(crops[0, :, :7, :7], field[:, 23:30, 23:30])
    fill = np.median(field[0][labels == 0])
    assert np.all(crops[0, :, 7:, :] == fill) and np.all(crops[0, :, :, 7:] == fill)


# --- crop_cells: area fraction -------------------------------------------------------------------


def test_area_fraction_low_and_high():
    field = np.ones((1, 80, 80), dtype=np.float32)
    # crop 20 x 20 = 400 px: 2x2 = 1% (low), 10x10 = 25% (kept), 20x20 = 100% (high)
    labels = square_labels((80, 80), {1: (10, 10, 2), 2: (40, 10, 10), 3: (40, 45, 20)})
    crops, objects = crop_cells(field, labels, CropSettings(crop_size=20, model_size=20, area_fraction=(0.05, 0.95)))
    assert objects["drop_reason"].tolist() == ["area_fraction_low", "", "area_fraction_high"]
    assert objects["kept"].tolist() == [False, True, False]
    assert crops.shape == (1, 1, 20, 20)


def test_area_fraction_reason_takes_precedence_over_border():
    field = np.ones((1, 40, 40), dtype=np.float32)
    labels = square_labels((40, 40), {1: (0, 0, 2)})  # tiny and at the corner
    _, objects = crop_cells(field, labels, CropSettings(crop_size=20, model_size=20, border="drop"))
    assert objects["drop_reason"].tolist() == ["area_fraction_low"]


# --- crop_cells: resize ----------------------------------------------------------------------------


@pytest.mark.parametrize("crop_size,model_size", [(40, 16), (10, 24)])
def test_resize_shape_and_constant_field_stays_constant(crop_size, model_size):
    field = np.stack([np.full((80, 80), 3.5, np.float32), np.full((80, 80), 250.0, np.float32)])
    labels = square_labels((80, 80), {1: (30, 30, 8), 2: (50, 55, 6)})
    crops, objects = crop_cells(
        field, labels, CropSettings(crop_size=crop_size, model_size=model_size, area_fraction=(0.0, 1.0))
    )
    assert crops.shape == (2, 2, model_size, model_size) and crops.dtype == np.float32
    np.testing.assert_allclose(crops[:, 0], 3.5, rtol=1e-6)
    np.testing.assert_allclose(crops[:, 1], 250.0, rtol=1e-6)


def test_resize_preserves_range_and_layout():
    # left half 0, right half 100: after 2x shrink the left columns stay ~0 and right ~100
    field = np.zeros((1, 64, 64), np.float32)
    field[:, :, 32:] = 100.0
    labels = square_labels((64, 64), {1: (28, 28, 8)})  # centre (31.5,31.5) -> 32: window [16, 48)
    crops, _ = crop_cells(field, labels, CropSettings(crop_size=32, model_size=16, area_fraction=(0.0, 1.0)))
    assert crops.min() >= 0 and crops.max() <= 100
    assert np.all(crops[0, 0, :, :6] < 1) and np.all(crops[0, 0, :, 10:] > 99)


# --- crop_cells: empty and errors --------------------------------------------------------------------


def test_empty_labels():
    field = pattern_field(n_channels=3, shape=(30, 30))
    crops, objects = crop_cells(field, np.zeros((30, 30), np.int32), CropSettings(crop_size=10, model_size=8))
    assert crops.shape == (0, 3, 8, 8) and crops.dtype == np.float32
    assert list(objects.columns) == OBJECT_COLUMNS and len(objects) == 0
    # same dtypes as a non-empty frame
    _, full = crop_cells(field, square_labels((30, 30), {1: (10, 10, 5)}), CropSettings(crop_size=10, model_size=8))
    pd.testing.assert_series_equal(objects.dtypes, full.dtypes)


def test_crop_cells_bad_arguments():
    field = pattern_field(n_channels=1, shape=(20, 20))
    labels = square_labels((20, 20), {1: (5, 5, 4)})
    with pytest.raises(ValueError, match="border"):
        crop_cells(field, labels, CropSettings(crop_size=8, border="wrap"))
    with pytest.raises(ValueError, match="shape"):
        crop_cells(field, labels[:10], CropSettings(crop_size=8))
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        crop_cells(field[0], labels, CropSettings(crop_size=8))
    with pytest.raises(ValueError, match="crop_size"):
        crop_cells(field, labels, CropSettings(crop_size=0))


# --- crop_cells: crops scaled to the cells (sub-pixel) ---------------------------------------


def test_subpixel_crop_of_whole_pixel_size_and_centre_is_the_papers_slice():
    field = pattern_field()
    labels = square_labels((60, 70), {1: (20, 30, 5)})  # centre (22, 32)
    paper, _ = crop_cells(field, labels, CropSettings(crop_size=9, model_size=9, area_fraction=(0.0, 1.0)))
    sampled, _ = crop_cells(
        field, labels, CropSettings(crop_size=9.0, model_size=9, area_fraction=(0.0, 1.0), subpixel=True)
    )
    np.testing.assert_allclose(sampled, paper, rtol=1e-6)


def test_subpixel_crop_follows_a_fractional_centre_and_size():
    """A linear ramp sampled at the exact centre: the crop's middle holds the centre's value and
    its corners the window's edges, at 2.5 px per model pixel (no whole-pixel rounding)."""
    ramp = np.broadcast_to(np.arange(100, dtype=np.float32)[None, :, None], (1, 100, 100)).copy()
    labels = square_labels((100, 100), {1: (40, 40, 4)})  # centre (41.5, 41.5)
    crops, objects = crop_cells(
        ramp, labels, CropSettings(crop_size=20.0, model_size=8, area_fraction=(0, 1), subpixel=True)
    )
    assert crops.shape == (1, 1, 8, 8) and objects["kept"].all()
    rows = crops[0, 0, :, 0]
    np.testing.assert_allclose(rows, 41.5 + (np.arange(8) - 3.5) * 2.5, atol=1e-4)  # blur keeps a ramp a ramp


def test_subpixel_crop_enlarged_at_the_field_edge_holds_the_edge_pixels():
    """The field's edge pixels reach half a pixel past their centres: a window ending there is
    inside the field, and its samples there are the edge pixels, not the fill."""
    field = np.full((1, 40, 40), 100.0, np.float32)
    labels = square_labels((40, 40), {1: (9, 18, 3)})  # centre (10, 19): window from y = -0.4
    crops, objects = crop_cells(
        field, labels, CropSettings(crop_size=20.8, model_size=64, area_fraction=(0, 1), subpixel=True)
    )
    assert objects["kept"].all()
    np.testing.assert_allclose(crops, 100.0)


def test_subpixel_border_drop_and_pad():
    field = pattern_field(n_channels=1, shape=(40, 40)) * 0 + 5.0
    labels = square_labels((40, 40), {1: (1, 1, 3), 2: (18, 18, 4)})  # centres (2, 2) and (19.5, 19.5)
    _, dropped = crop_cells(
        field, labels, CropSettings(crop_size=10.5, model_size=8, area_fraction=(0, 1), subpixel=True)
    )
    assert dropped["drop_reason"].tolist() == ["leaves_field", ""]
    crops, padded = crop_cells(
        field, labels, CropSettings(crop_size=10.5, model_size=8, area_fraction=(0, 1), border="pad", subpixel=True)
    )
    assert padded["padded"].tolist() == [True, False]
    np.testing.assert_allclose(crops, 5.0)  # filled with the background level, not 0
    with pytest.raises(ValueError, match="positive number"):
        crop_cells(field, labels, CropSettings(crop_size=-2.0, subpixel=True))
    with pytest.raises(ValueError, match="positive integer"):
        crop_cells(field, labels, CropSettings(crop_size=10.5))


# --- preprocess_crops -----------------------------------------------------------------------------------


def test_preprocess_rescales_each_crop_and_channel():
    rng = np.random.default_rng(1)
    crops = (
        rng.normal(size=(5, 3, 12, 12)) * rng.uniform(1, 500, size=(5, 3, 1, 1))
        + rng.uniform(-100, 100, size=(5, 3, 1, 1))
    ).astype(np.float32)
    before = crops.copy()
    out = preprocess_crops(crops, structural=[])
    assert out.dtype == np.float32 and out.shape == crops.shape
    np.testing.assert_array_equal(out.min(axis=(2, 3)), 0.0)
    np.testing.assert_array_equal(out.max(axis=(2, 3)), 1.0)
    np.testing.assert_array_equal(crops, before)  # input unchanged
    # min-max rescaling is affine, so it matches a direct computation
    ref = (crops[2, 1] - crops[2, 1].min()) / (crops[2, 1].max() - crops[2, 1].min())
    np.testing.assert_allclose(out[2, 1], ref, rtol=1e-5, atol=1e-6)


def test_preprocess_constant_channel_is_zero():
    crops = np.random.default_rng(2).uniform(size=(2, 2, 8, 8)).astype(np.float32)
    crops[0, 1] = 42.0
    out = preprocess_crops(crops, structural=[0, 1], clip_below=0.05)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[0, 1], 0.0)
    assert out[1, 1].max() == 1.0


def test_preprocess_clips_only_structural_channels():
    ramp = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    crops = np.stack([np.stack([ramp * 7 + 3] * 3)] * 2)  # (2, 3, 10, 10)
    out = preprocess_crops(crops, structural=[0, 2], clip_below=0.05)
    small = (ramp > 0) & (ramp < 0.05)
    assert small.any()
    for c in (0, 2):
        assert np.all(out[:, c][:, small] == 0)
        np.testing.assert_allclose(out[:, c][:, ~small], ramp[~small][None].repeat(2, 0), atol=1e-6)
    np.testing.assert_allclose(out[:, 1], ramp[None].repeat(2, 0), atol=1e-6)  # protein channel untouched


def test_reference_markers_follow_the_papers_human_code():
    """Structural channels by the fixed window, no per-crop min-max: the worked example
    x = [0, 0.03, 0.5, 1] -> [0, 0, 0.4737, 1]; the protein channel min-maxed per crop."""
    x = np.array([0, 0.03, 0.5, 1.0])
    crops = np.zeros((2, 3, 2, 2), np.float32)
    crops[:, 0] = (x * 255).reshape(2, 2)  # an 8-bit nucleus channel at full range
    crops[:, 1] = (x * 0.4 * 255).reshape(2, 2)  # a dim microtubule channel stays dim
    crops[:, 2] = np.array([[10, 20], [30, 50]])  # the protein: min-max per crop
    out = preprocess_crops(crops, structural=[0, 1], clip_below=0.05, markers="reference")
    np.testing.assert_allclose(out[0, 0].ravel(), [0, 0, 0.4737, 1], atol=1e-4)
    np.testing.assert_allclose(out[0, 1].ravel(), (np.clip(x * 0.4, 0.05, 1) - 0.05) / 0.95, atol=1e-5)
    np.testing.assert_allclose(out[0, 2].ravel(), [0, 0.25, 0.5, 1], atol=1e-6)
    # per crop (the default) stretches the dim channel to 1 instead
    assert preprocess_crops(crops, structural=[0, 1], clip_below=0.05)[0, 1].max() == 1.0
    sixteen = preprocess_crops(crops * 257, [0, 1], 0.05, "reference", reference_max=65535)
    np.testing.assert_allclose(sixteen, out, atol=1e-5)
    with pytest.raises(ConfigError, match="preprocess.markers: unknown 'percentile'"):
        preprocess_crops(crops, [0], markers="percentile")


def test_reference_markers_are_the_default_for_published_human_weights():
    from pcinpaint.config import marker_scaling

    human = [{"name": n, "role": r} for n, r in (("dapi", "structural"), ("tub", "structural"), ("gfp", "protein"))]
    yeast = [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}]

    def ds(channels, model_from, source="samplesheet", markers="auto"):
        return {
            "channels": channels,
            "source": source,
            "model": {"model_from": model_from},
            "preprocess": {"markers": markers},
        }

    assert marker_scaling(ds(human, "published_human")) == "reference"
    assert marker_scaling(ds(human, None)) == "per_crop"  # trained here: the project's default
    assert marker_scaling(ds(yeast, "published_yeast")) == "per_crop"
    assert marker_scaling(ds(human, "published_human", source="crop_folders")) == "per_crop"
    assert marker_scaling(ds(human, None, markers="reference")) == "reference"


def test_preprocess_empty_batch_and_errors():
    out = preprocess_crops(np.zeros((0, 3, 8, 8), np.float32), structural=[0])
    assert out.shape == (0, 3, 8, 8) and out.dtype == np.float32
    with pytest.raises(ValueError, match="out of range"):
        preprocess_crops(np.zeros((1, 2, 4, 4)), structural=[2])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        preprocess_crops(np.zeros((2, 4, 4)), structural=[0])
