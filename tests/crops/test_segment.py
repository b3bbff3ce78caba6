"""Tests for pcinpaint.crops.segment on synthetic disks and on the real human / yeast fields."""

from pathlib import Path

import numpy as np
import pytest

from pcinpaint.crops.segment import (
    LENGTHS,
    METHODS,
    RelativeLengths,
    SegmentationSettings,
    background_level,
    segment_field,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def disks_image(centres_radii, shape=(128, 128), seed=0, background=10.0, level=200.0, noise=5.0):
    """Bright disks on a dark, noisy background (uint16, like a raw fluorescence field)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, background, dtype=np.float64)
    for (cy, cx), r in centres_radii:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = level
    img += np.random.default_rng(seed).normal(0, noise, shape)
    return np.clip(img, 0, None).astype(np.uint16)


def assert_sequential_int32(labels, shape):
    assert labels.dtype == np.int32
    assert labels.shape == shape
    ids = np.unique(labels)
    assert ids[0] == 0
    np.testing.assert_array_equal(ids[1:], np.arange(1, labels.max() + 1))


# --- nuclei_otsu -----------------------------------------------------------------


def test_nuclei_otsu_counts_disks_and_removes_small_objects():
    big = [((30, 30), 12), ((30, 90), 12), ((90, 30), 12), ((90, 90), 12)]
    small = [((60, 60), 4)]  # ~50 px, below min_area
    img = disks_image(big + small)
    labels = segment_field(img, SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=150))
    assert_sequential_int32(labels, img.shape)
    assert labels.max() == 4
    assert labels[60, 60] == 0  # the small disk is gone
    for (cy, cx), _ in big:
        assert labels[cy, cx] > 0
    # each big disk (area ~450) is recovered with roughly the right size
    areas = np.bincount(labels.ravel())[1:]
    assert np.all(np.abs(areas - np.pi * 12**2) < 0.15 * np.pi * 12**2)
    # with a small min_area the small disk is kept
    assert segment_field(img, SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=10)).max() == 5


def test_nuclei_otsu_accepts_any_dtype_and_is_deterministic():
    img = disks_image([((30, 30), 10), ((80, 80), 10)])
    ref = segment_field(img, SegmentationSettings("nuclei_otsu", min_area=50))
    for dtype in (np.float64, np.float32, np.int32, np.uint8):
        np.testing.assert_array_equal(
            segment_field(img.astype(dtype), SegmentationSettings("nuclei_otsu", min_area=50)), ref
        )
    np.testing.assert_array_equal(segment_field(img, SegmentationSettings("nuclei_otsu", min_area=50)), ref)


def test_clear_border_removes_border_touching_objects():
    img = disks_image([((2, 60), 10), ((60, 60), 10), ((100, 125), 10)])
    assert segment_field(img, SegmentationSettings("nuclei_otsu", min_area=50)).max() == 3
    cleared = segment_field(img, SegmentationSettings("nuclei_otsu", min_area=50, clear_border=True))
    assert_sequential_int32(cleared, img.shape)
    assert cleared.max() == 1
    assert cleared[60, 60] == 1


def test_constant_image_gives_no_objects():
    labels = segment_field(np.full((32, 32), 7, np.uint8), SegmentationSettings("nuclei_otsu", min_area=1))
    assert labels.dtype == np.int32 and labels.max() == 0


# --- cells_watershed -----------------------------------------------------------------


def test_cells_watershed_splits_touching_disks():
    # two r=14 disks whose centres are 24 px apart: they overlap by 4 px
    img = disks_image([((64, 52), 14), ((64, 76), 14)])
    otsu = segment_field(img, SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=100))
    ws = segment_field(
        img, SegmentationSettings("cells_watershed", smoothing_sigma=1.0, min_area=100, watershed_min_distance=5)
    )
    assert otsu.max() == 1
    assert_sequential_int32(ws, img.shape)
    assert ws.max() == 2
    assert ws[64, 52] != ws[64, 76] and ws[64, 52] > 0 and ws[64, 76] > 0
    # the split keeps every foreground pixel and gives two similar halves
    np.testing.assert_array_equal(ws > 0, otsu > 0)
    a, b = np.bincount(ws.ravel())[1:]
    assert abs(a - b) < 0.1 * (a + b)


def test_nuclei_watershed_finds_dim_nuclei_and_splits_touching_ones():
    """A touching pair of bright nuclei and a nucleus 15x dimmer: Otsu on raw intensity keeps
    the pair as one object and loses the dim one; on log intensity with the watershed, three."""
    yy, xx = np.mgrid[:128, :128]
    img = disks_image([((40, 30), 12), ((40, 53), 12)], level=3000.0).astype(np.float64)
    img[(yy - 95) ** 2 + (xx - 90) ** 2 <= 12**2] = 200.0  # background 10, noise 5
    plain = segment_field(img, SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=150))
    found = segment_field(
        img, SegmentationSettings("nuclei_watershed", smoothing_sigma=1.0, min_area=150, watershed_min_distance=8)
    )
    assert plain.max() == 1
    assert_sequential_int32(found, img.shape)
    assert found.max() == 3
    assert found[40, 30] != found[40, 53] and found[40, 30] and found[40, 53] and found[95, 90]


def test_cells_watershed_keeps_isolated_disks_whole():
    img = disks_image([((30, 30), 12), ((90, 90), 15)])
    ws = segment_field(img, SegmentationSettings("cells_watershed", smoothing_sigma=1.0, min_area=100))
    assert ws.max() == 2


# --- provided --------------------------------------------------------------------------


def test_provided_mask_relabelled_and_small_removed():
    mask = np.zeros((40, 40), dtype=np.uint16)
    mask[2:12, 2:12] = 7  # 100 px
    mask[20:30, 20:30] = 3  # 100 px
    mask[35:37, 35:37] = 12  # 4 px, below min_area
    labels = segment_field(np.zeros((40, 40)), SegmentationSettings("provided", min_area=10), mask=mask)
    assert_sequential_int32(labels, mask.shape)
    assert labels.max() == 2
    # relabel_sequential keeps the original order of labels: 3 -> 1, 7 -> 2
    assert labels[25, 25] == 1 and labels[5, 5] == 2
    assert labels[36, 36] == 0
    np.testing.assert_array_equal(labels > 0, (mask > 0) & (mask != 12))


def test_provided_mask_clear_border():
    mask = np.zeros((40, 40), dtype=np.int64)
    mask[0:10, 5:15] = 1
    mask[20:30, 20:30] = 2
    labels = segment_field(
        np.zeros((40, 40)), SegmentationSettings("provided", min_area=1, clear_border=True), mask=mask
    )
    assert labels.max() == 1 and labels[25, 25] == 1


def test_provided_mask_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"\(30, 40\).*\(40, 40\)"):
        segment_field(np.zeros((40, 40)), SegmentationSettings("provided"), mask=np.zeros((30, 40), np.int32))


def test_provided_requires_mask():
    with pytest.raises(ValueError, match="mask"):
        segment_field(np.zeros((40, 40)), SegmentationSettings("provided"))


# --- cellpose (a stand-in module: the weights cannot be downloaded here) --------------------


def test_cellpose_runs_when_installed_and_is_named_when_not(monkeypatch):
    import sys
    import types

    from pcinpaint.crops import segment
    from pcinpaint.errors import ConfigError

    known = np.zeros((64, 64), np.int32)
    known[10:20, 10:20], known[40:50, 40:50], known[60:62, 0:2] = 5, 9, 3  # the last below min_area
    calls = []

    class CellposeModel:
        def __init__(self, gpu, model_type):
            if model_type == "cyto9":
                raise FileNotFoundError("no model cyto9 in ~/.cellpose/models")
            calls.append(("load", model_type))

        def eval(self, x, diameter, channels):
            calls.append(("eval", x.shape, diameter, channels))
            return known, None, None

    monkeypatch.setitem(
        sys.modules, "cellpose", types.SimpleNamespace(models=types.SimpleNamespace(CellposeModel=CellposeModel))
    )
    segment._cellpose_model.cache_clear()
    field = np.random.default_rng(0).random((64, 64))
    for _ in range(2):  # the model is loaded once per job
        labels = segment_field(field, SegmentationSettings("cellpose", min_area=10, cellpose_diameter=17.0))
    assert_sequential_int32(labels, field.shape)
    assert labels.max() == 2 and labels[15, 15] == 1 and labels[45, 45] == 2 and labels[61, 1] == 0
    assert calls == [("load", "nuclei"), ("eval", (64, 64), 17.0, [0, 0]), ("eval", (64, 64), 17.0, [0, 0])]
    with pytest.raises(ConfigError, match="cannot load Cellpose model 'cyto9': no model cyto9"):
        segment_field(field, SegmentationSettings("cellpose", cellpose_model="cyto9"))
    monkeypatch.setitem(sys.modules, "cellpose", None)  # not installed
    segment._cellpose_model.cache_clear()
    with pytest.raises(ConfigError, match=r"needs the cellpose package: pip install 'cellpose>=3,<4'") as err:
        segment_field(field, SegmentationSettings("cellpose"))
    assert "\n" not in str(err.value)
    segment._cellpose_model.cache_clear()


def test_cellpose_4_is_refused_since_it_ignores_the_configured_model(monkeypatch):
    """Cellpose 4 always loads Cellpose-SAM whatever model_type says, so a configured model
    (nuclei, cyto3, a trained one) would be ignored silently: one line says which to install."""
    import sys
    import types

    from pcinpaint.crops import segment
    from pcinpaint.errors import ConfigError

    fake = types.ModuleType("cellpose")
    fake.models = types.SimpleNamespace(CellposeModel=lambda **kw: pytest.fail("loaded"))
    monkeypatch.setitem(sys.modules, "cellpose", fake)
    monkeypatch.setattr(segment, "_cellpose_version", lambda: "4.0.6")
    segment._cellpose_model.cache_clear()
    with pytest.raises(
        ConfigError, match=r"Cellpose 4.0.6 always loads Cellpose-SAM and ignores .*'cyto3'.*cellpose>=3,<4"
    ):
        segment_field(np.zeros((32, 32), np.float32), SegmentationSettings("cellpose", cellpose_model="cyto3"))
    segment._cellpose_model.cache_clear()


# --- argument errors --------------------------------------------------------------------


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="unknown segmentation method"):
        segment_field(np.zeros((20, 20)), SegmentationSettings("magic"))
    assert METHODS == ("nuclei_otsu", "nuclei_watershed", "cells_watershed", "cellpose", "provided")


def uneven_field(shape=(150, 205)):
    """Twelve nuclei (radius 8) on a background rising from 10 to 150 left to right, each 120 above
    its local background; the sides are not whole multiples of the background's block size."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    background = 10.0 + 140.0 * xx / shape[1]
    img = background.copy()
    centres = [(y, x) for y in (35, 75, 115) for x in (30, 80, 130, 175)]
    for cy, cx in centres:
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= 64
        img[disk] = background[disk] + 120.0
    return img + np.random.default_rng(0).normal(0, 3, shape), background, centres


def test_background_level_follows_uneven_light_under_the_nuclei():
    img, background, _ = uneven_field()
    floor = background_level(img, 40.0)
    assert floor.shape == img.shape and floor.dtype == np.float32
    assert np.median(np.abs(floor - background)) < 5  # the 120-high nuclei are not in it
    # no dark band along the ragged edges, nor at the edge the light brightens towards, where a
    # plain opening lags by up to radius x slope (40 x 0.68 = 27)
    for edge in (floor - background)[:10], (floor - background)[-10:], (floor - background)[:, -10:]:
        assert np.abs(edge).max() < 5


def test_nuclei_watershed_subtracts_the_background_of_an_unevenly_lit_field():
    img, _, centres = uneven_field()
    settings = dict(smoothing_sigma=1.0, min_area=80, watershed_min_distance=6, min_contrast=0.0)
    flat = segment_field(img, SegmentationSettings("nuclei_watershed", background_radius=0.0, **settings))
    found = segment_field(img, SegmentationSettings("nuclei_watershed", background_radius=40.0, **settings))
    assert flat.max() < len(centres)  # the bright side clears the threshold between its nuclei
    assert found.max() == len(centres)
    assert len({found[c] for c in centres} - {0}) == len(centres)
    with pytest.raises(ValueError, match="background_radius"):
        segment_field(img, SegmentationSettings("nuclei_watershed", background_radius=-1.0))


@pytest.mark.parametrize("noise", ["gaussian", "poisson"])
def test_nuclei_watershed_finds_nothing_in_an_empty_field(noise):
    """The background subtraction must leave the background's spread for the contrast check: a
    field of pure noise comes out empty at the defaults."""
    rng = np.random.default_rng(1)
    field = rng.normal(300, 20, (512, 512)) if noise == "gaussian" else rng.poisson(100, (512, 512))
    assert segment_field(field.astype(np.float32), SegmentationSettings("nuclei_watershed")).max() == 0


def test_relative_lengths_are_pixels_in_proportion_to_the_diameter():
    relative = RelativeLengths(
        smoothing_sigma=0.01, min_area=0.12, watershed_min_distance=0.3, distance_sigma=0.1, background_radius=1.2
    )
    base = SegmentationSettings("nuclei_watershed", clear_border=True, min_contrast=3.0)
    at_40, at_80 = relative.at(40.0, base), relative.at(80.0, base)
    assert (at_40.smoothing_sigma, at_40.watershed_min_distance, at_40.distance_sigma) == pytest.approx((0.4, 12, 4.0))
    assert at_40.min_area == round(0.12 * np.pi * 40**2 / 4) and at_40.background_radius == pytest.approx(48)
    assert at_80.min_area == pytest.approx(4 * at_40.min_area, abs=2) and at_80.watershed_min_distance == 24
    assert (at_40.method, at_40.clear_border, at_40.min_contrast) == ("nuclei_watershed", True, 3.0)
    assert relative.at(1.0, base).watershed_min_distance == 1  # never below one pixel
    assert set(LENGTHS) == {"nuclei_otsu", "nuclei_watershed", "cells_watershed"} <= set(METHODS)


def test_non_2d_channel_raises():
    with pytest.raises(ValueError, match="2D"):
        segment_field(np.zeros((2, 20, 20)), SegmentationSettings("nuclei_otsu"))


# --- real data -------------------------------------------------------------------------


def _read_tif(path):
    tifffile = pytest.importorskip("tifffile")
    return tifffile.imread(path)


def test_real_human_nuclei_count():
    files = sorted((DATA / "human_fields").glob("*d0.tif"))
    if not files:
        pytest.skip(f"real human field (*d0.tif) not found under {DATA / 'human_fields'}")
    dna = _read_tif(files[0])
    assert dna.shape == (512, 512)
    # Nuclei here are ~10 px across (median area ~90 px), so small smoothing and
    # min_area. sigma=1, min_area=20 -> 270 nuclei (README: ~280; sigma=2 merges
    # touching nuclei and gives ~245).
    labels = segment_field(dna, SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=20))
    assert_sequential_int32(labels, dna.shape)
    assert 240 <= labels.max() <= 340
    # the watershed method at this field's scale (nuclei ~10 px: small distances) counts as many
    split = segment_field(
        dna,
        SegmentationSettings(
            "nuclei_watershed", smoothing_sigma=1.0, min_area=20, watershed_min_distance=4, distance_sigma=1.0
        ),
    )
    assert_sequential_int32(split, dna.shape)
    assert 240 <= split.max() <= 340


def test_real_yeast_cells_watershed_counts():
    path = DATA / "yeast_fields" / "handfield_example_gfp_rfp.tif"
    if not path.exists():
        pytest.skip(f"real yeast field not found at {path}")
    stack = _read_tif(path)
    assert stack.shape == (8, 243, 242)
    # RFP (cytosolic marker) pages are indices 1, 3, 5, 7. Counted by eye on an
    # overlay: 7, 9, 11, 22 cells (incl. buds and edge cells). Cells are ~900 px,
    # buds ~150 px. sigma=1, min_area=100, min_distance=5 -> 7, 9, 11, 22;
    # plain Otsu components (same sigma/min_area) merge touching
    # cells: 3, 8, 9, 12.
    expected = {1: 7, 3: 9, 5: 11, 7: 22}
    for page, n_eye in expected.items():
        labels = segment_field(
            stack[page],
            SegmentationSettings("cells_watershed", smoothing_sigma=1.0, min_area=100, watershed_min_distance=5),
        )
        assert_sequential_int32(labels, stack[page].shape)
        n = int(labels.max())
        assert abs(n - n_eye) <= max(2, round(0.2 * n_eye)), (page, n)
        n_otsu = segment_field(
            stack[page], SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=100)
        ).max()
        assert n >= n_otsu
    # watershed on a real field actually splits something
    page7 = segment_field(stack[7], SegmentationSettings("cells_watershed", smoothing_sigma=1.0, min_area=100))
    assert (
        page7.max()
        > segment_field(stack[7], SegmentationSettings("nuclei_otsu", smoothing_sigma=1.0, min_area=100)).max()
    )
