"""The paper's crop preprocessing (``pcinpaint.crops.preprocess``): per-crop, per-channel min-max
scaling, the clipping of faint marker signal, the reference human windowing, the normalisation of
crops made elsewhere, and resizing to the model's size."""

import numpy as np
import pytest

from pcinpaint.crops.preprocess import normalise_crops, preprocess_crops, resize_crops
from pcinpaint.errors import ConfigError


def _crops():
    rng = np.random.default_rng(0)
    crops = rng.uniform(10, 200, size=(3, 2, 5, 5)).astype(np.float32)
    crops[1, 1] = 7.0  # a constant channel
    return crops


def test_each_crop_and_channel_is_scaled_to_unit_range_and_constant_channels_are_zero():
    crops = _crops()
    before = crops.copy()
    out = preprocess_crops(crops, structural=())
    assert out.dtype == np.float32 and out.shape == crops.shape
    np.testing.assert_array_equal(crops, before)  # the input is never modified
    varying = [(0, 0), (0, 1), (1, 0), (2, 0), (2, 1)]
    for n, c in varying:
        assert out[n, c].min() == 0.0 and out[n, c].max() == pytest.approx(1.0)
    assert not out[1, 1].any() and np.isfinite(out).all()
    x = crops[2, 0].astype(np.float64)
    np.testing.assert_allclose(out[2, 0], (x - x.min()) / (x.max() - x.min()), rtol=1e-6)


def test_faint_structural_signal_is_clipped_and_the_protein_kept():
    crops = np.zeros((1, 2, 1, 5), np.float32)
    crops[0, :, 0] = [0, 2, 4, 50, 100]  # scaled: 0, 0.02, 0.04, 0.5, 1
    out = preprocess_crops(crops, structural=[1], clip_below=0.05)
    np.testing.assert_allclose(out[0, 1, 0], [0, 0, 0, 0.5, 1])
    np.testing.assert_allclose(out[0, 0, 0], [0, 0.02, 0.04, 0.5, 1], rtol=1e-6)


def test_the_reference_markers_window_keeps_a_dim_nucleus_dim():
    crops = np.zeros((1, 2, 1, 4), np.float32)
    crops[0, 0, 0] = [0, 0.03, 0.5, 1.0]  # structural, as intensity / reference_max
    crops[0, 1, 0] = [0, 1, 2, 4]
    out = preprocess_crops(crops, structural=[0], clip_below=0.05, markers="reference", reference_max=1.0)
    np.testing.assert_allclose(out[0, 0, 0], [0, 0, 0.4737, 1], atol=1e-4)  # the docstring's example
    np.testing.assert_allclose(out[0, 1, 0], [0, 0.25, 0.5, 1])  # the protein still min-maxed
    dim = crops.copy()
    dim[0, 0, 0] /= 4
    assert preprocess_crops(dim, [0], 0.05, "reference", 1.0)[0, 0, 0].max() < 0.25


def test_bad_arguments_are_named():
    with pytest.raises(ConfigError, match=r"preprocess\.markers: unknown 'global'"):
        preprocess_crops(_crops(), [0], markers="global")
    with pytest.raises(ValueError, match=r"crops must be \(N, C, H, W\), got shape \(2, 5, 5\)"):
        preprocess_crops(_crops()[0], [0])
    with pytest.raises(ValueError, match=r"structural channel indices \[2\] out of range for 2 channels"):
        preprocess_crops(_crops(), [2])


def test_normalise_none_passes_values_and_per_crop_min_maxes():
    crops = _crops()
    np.testing.assert_array_equal(normalise_crops(crops, "none"), crops)
    np.testing.assert_array_equal(normalise_crops(crops), preprocess_crops(crops, ()))
    assert normalise_crops(np.zeros((0, 2, 5, 5)), "percentile").shape == (0, 2, 5, 5)


def test_a_percentile_stretch_is_not_squeezed_by_a_hot_pixel():
    crops = np.tile(np.linspace(0, 10, 100, dtype=np.float32).reshape(10, 10), (1, 1, 1, 1))
    crops[0, 0, 0, 0] = 1e6
    per_crop = normalise_crops(crops, "per_crop")
    stretched = normalise_crops(crops, "percentile", (0.0, 98.0))
    assert np.median(per_crop) < 1e-4
    assert 0.45 < np.median(stretched) < 0.55 and stretched.max() == 1.0 and stretched.min() == 0.0
    with pytest.raises(ConfigError, match=r"crops\.percentiles: need 0 <= low < high <= 100, got \(50, 50\)"):
        normalise_crops(crops, "percentile", (50, 50))
    with pytest.raises(ConfigError, match=r"crops\.normalise: unknown mode 'zscore'"):
        normalise_crops(crops, "zscore")


def test_resize_gives_the_models_size():
    crops = _crops()
    out = resize_crops(crops, 8)
    assert out.shape == (3, 2, 8, 8) and out.dtype == np.float32
    assert out.min() >= crops.min() - 1e-3 and out.max() <= crops.max() + 1e-3  # bilinear, range kept
    np.testing.assert_allclose(out[1, 1], 7.0, rtol=1e-6)
    assert resize_crops(crops, 5) is crops  # already that size: no copy
    assert resize_crops(np.zeros((0, 2, 9, 9)), 5).shape == (0, 2, 9, 9)
