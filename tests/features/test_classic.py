"""The classic feature baseline: Haralick texture, intensity, correlation, centre-cell shape."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.draw import disk, ellipse
from skimage.feature import graycomatrix, graycoprops

from pcinpaint.features.classic import (
    ANGLES,
    DISTANCES,
    HARALICK_PROPS,
    ClassicSettings,
    centre_cell_mask,
    classic_features,
    correlation_features,
    haralick,
    haralick_names,
    intensity_features,
    quantise,
    shape_features,
    shape_names,
)


def feature(values, names, name):
    return values[names.index(name)]


# --------------------------------------------------------------------------------------------
# Quantisation and Haralick texture
# --------------------------------------------------------------------------------------------


def test_quantise_equal_width_bins():
    image = np.array([[0, 7, 8, 15], [16, 127, 128, 255]], np.uint8)
    q = quantise(image, 32)
    assert q.dtype == np.uint8
    assert q.tolist() == [[0, 0, 1, 1], [2, 15, 16, 31]]
    assert np.array_equal(quantise(image, 256), image)
    with pytest.raises(ValueError):
        quantise(image.astype(np.float32), 32)


def test_haralick_names_and_length():
    names = haralick_names()
    assert len(names) == len(DISTANCES) * len(HARALICK_PROPS) == len(set(names))
    assert names[0] == f"haralick_{HARALICK_PROPS[0]}_d1"
    assert names[len(HARALICK_PROPS)] == f"haralick_{HARALICK_PROPS[0]}_d2"  # distance-major
    assert haralick(np.zeros((64, 64), np.uint8)).shape == (len(names),)


def test_constant_image_has_no_texture():
    values = haralick(np.full((64, 64), 200, np.uint8))
    names = haralick_names()
    for d in DISTANCES:
        assert feature(values, names, f"haralick_contrast_d{d}") == 0
        assert feature(values, names, f"haralick_dissimilarity_d{d}") == 0
        assert feature(values, names, f"haralick_ASM_d{d}") == pytest.approx(1.0)
        assert feature(values, names, f"haralick_energy_d{d}") == pytest.approx(1.0)
        assert feature(values, names, f"haralick_entropy_d{d}") == pytest.approx(0.0)


def test_checkerboard_contrast_by_hand():
    rows, cols = np.indices((64, 64))
    board = np.where((rows + cols) % 2 == 0, 0, 255).astype(np.uint8)  # quantised: 0 and 31
    values = haralick(board, levels=32)
    names = haralick_names()
    # distance 1: 0 and 90 degrees pair unlike pixels (difference 31), 45 and 135 degrees pair
    # diagonal neighbours, which are alike: mean over the directions = (2 * 31**2 + 0 + 0) / 4
    assert feature(values, names, "haralick_contrast_d1") == pytest.approx(480.5)
    assert feature(values, names, "haralick_dissimilarity_d1") == pytest.approx(15.5)
    assert feature(values, names, "haralick_homogeneity_d1") == pytest.approx((2 / (1 + 31**2) + 2) / 4)
    # distance 2 (and every longer one here: the offsets have even row + column sums) pairs
    # pixels of the same colour in every direction
    for d in (2, 4, 8, 16):
        assert feature(values, names, f"haralick_contrast_d{d}") == pytest.approx(0.0)
    # the two grey levels are equally frequent: every GLCM has half its mass on each level
    assert feature(values, names, "haralick_variance_d1") == pytest.approx(15.5**2)


def test_haralick_equals_skimage_on_random_image():
    image = np.random.default_rng(3).integers(0, 256, (64, 64)).astype(np.uint8)
    for levels, distances in ((32, DISTANCES), (8, (1, 3))):
        glcm = graycomatrix(
            quantise(image, levels), list(distances), list(ANGLES), levels=levels, symmetric=True, normed=True
        )
        expected = np.stack([graycoprops(glcm, prop).mean(axis=1) for prop in HARALICK_PROPS], axis=1).ravel()
        np.testing.assert_allclose(haralick(image, levels, distances), expected, rtol=1e-12, atol=1e-15)
        assert len(haralick_names(distances)) == expected.size


def test_haralick_is_rotation_invariant():
    image = np.random.default_rng(4).integers(0, 256, (64, 64)).astype(np.uint8)
    image = ndimage.uniform_filter(image, (1, 5))  # strongly directional texture
    np.testing.assert_allclose(haralick(image), haralick(np.rot90(image).copy()), rtol=1e-9)


# --------------------------------------------------------------------------------------------
# Intensity and correlation
# --------------------------------------------------------------------------------------------


def test_intensity_features_match_numpy():
    image = np.zeros((64, 64))
    image[:, :32] = 1.0  # half the pixels on: sum 2048, mean 0.5, std 0.5
    np.testing.assert_allclose(intensity_features(image), [2048, 0.5, 0.5])
    other = np.random.default_rng(5).integers(0, 256, (64, 64)) / 255.0
    np.testing.assert_allclose(intensity_features(other), [other.sum(), other.mean(), other.std()])


def test_correlation_features_known_correlations():
    rng = np.random.default_rng(6)
    structural = rng.normal(size=(64, 64))
    noise = rng.normal(size=(64, 64))
    r = 0.6
    protein = r * structural + np.sqrt(1 - r**2) * noise
    channels = np.stack([structural, -structural + 0.01 * noise, rng.normal(size=(64, 64)), np.full((64, 64), 0.3)])
    values = correlation_features(protein, channels)
    assert values.shape == (4,)
    assert values[0] == pytest.approx(r, abs=0.05)
    assert values[1] == pytest.approx(-r, abs=0.05)
    assert abs(values[2]) < 0.05
    assert values[3] == 0.0
    assert correlation_features(-structural, structural[None])[0] == pytest.approx(-1.0)
    assert correlation_features(np.zeros((64, 64)), channels)[0] == 0.0  # constant protein: 0, not NaN


# --------------------------------------------------------------------------------------------
# Centre cell segmentation, shape and radial distribution
# --------------------------------------------------------------------------------------------


def disc(center, radius, shape=(64, 64)):
    mask = np.zeros(shape, bool)
    mask[disk(center, radius, shape=shape)] = True
    return mask


def test_centre_cell_mask_splits_touching_cells():
    centre, neighbour = disc((32, 32), 12), disc((32, 53), 10)
    image = np.where(centre | neighbour, 0.8, 0.1) + np.random.default_rng(7).normal(0, 0.02, (64, 64))
    assert ndimage.label(ndimage.gaussian_filter(image, 1) > 0.45)[1] == 1  # the cells touch
    mask = centre_cell_mask(image)
    assert mask.dtype == bool
    assert (mask & centre).sum() / (mask | centre).sum() > 0.8
    assert (mask & neighbour & ~centre).sum() < 0.05 * (neighbour & ~centre).sum()


def test_centre_cell_mask_keeps_a_single_elongated_cell_whole():
    cell = np.zeros((64, 64), bool)
    cell[ellipse(32, 32, 8, 24, shape=cell.shape)] = True
    mask = centre_cell_mask(cell.astype(float))
    assert (mask & cell).sum() / (mask | cell).sum() > 0.9


def test_centre_cell_mask_nearest_object_and_blank():
    near, far = disc((22, 22), 6), disc((54, 54), 6)
    image = np.where(near | far, 1.0, 0.0)
    mask = centre_cell_mask(image)
    assert (mask & near).sum() / (mask | near).sum() > 0.8
    assert not (mask & far).any()
    assert not centre_cell_mask(np.zeros((64, 64))).any()
    assert not centre_cell_mask(np.full((64, 64), 0.4)).any()


def test_centre_cell_mask_fills_holes():
    ring = disc((32, 32), 14) & ~disc((32, 32), 5)
    assert centre_cell_mask(ring.astype(float), smoothing_sigma=0)[32, 32]


def test_shape_features_of_an_ellipse():
    a, b = 20, 10
    mask = np.zeros((64, 64), bool)
    mask[ellipse(32, 32, b, a, shape=mask.shape)] = True
    names = shape_names()
    values = shape_features(mask, np.ones((64, 64)))
    assert len(values) == len(names) == len(set(names))
    assert feature(values, names, "cell_area") == pytest.approx(np.pi * a * b, rel=0.05)
    assert feature(values, names, "cell_eccentricity") == pytest.approx(np.sqrt(1 - (b / a) ** 2), abs=0.02)
    assert feature(values, names, "cell_solidity") > 0.95
    assert feature(values, names, "cell_major_axis_length") == pytest.approx(2 * a, rel=0.05)
    assert feature(values, names, "cell_minor_axis_length") == pytest.approx(2 * b, rel=0.05)
    assert feature(values, names, "cell_protein_mean") == pytest.approx(1.0)
    assert feature(values, names, "cell_protein_integrated") == pytest.approx(mask.sum())


def radial(values, names, kind, bins=4):
    return np.array([feature(values, names, f"cell_radial_{kind}_{i}of{bins}") for i in range(1, bins + 1)])


def test_radial_distribution():
    mask = disc((32, 32), 20)
    names = shape_names()
    rows, cols = np.indices((64, 64))
    # uniform protein: each ring holds its share of the pixels, MeanFrac 1 everywhere
    uniform = shape_features(mask, np.ones((64, 64)))
    assert radial(uniform, names, "fracatd").sum() == pytest.approx(1.0)
    np.testing.assert_allclose(radial(uniform, names, "meanfrac"), 1.0)
    # protein at the rim: most intensity in the outermost ring
    rim = (ndimage.distance_transform_edt(mask) <= 3).astype(float)
    frac = radial(shape_features(mask, rim), names, "fracatd")
    assert frac.sum() == pytest.approx(1.0)
    assert frac.argmax() == 3 and frac[3] > 0.5
    # a central blob: most intensity in the innermost ring
    blob = np.exp(-((rows - 32) ** 2 + (cols - 32) ** 2) / (2 * 3.0**2))
    values = shape_features(mask, blob)
    frac = radial(values, names, "fracatd")
    assert frac.sum() == pytest.approx(1.0)
    assert frac.argmax() == 0 and frac[0] > 0.5
    assert radial(values, names, "meanfrac")[0] > 1 > radial(values, names, "meanfrac")[3]


def test_shape_features_empty_mask_are_zero():
    values = shape_features(np.zeros((64, 64), bool), np.ones((64, 64)), radial_bins=3)
    assert values.shape == (len(shape_names(3)),)
    assert not values.any()


# --------------------------------------------------------------------------------------------
# All cells of a store
# --------------------------------------------------------------------------------------------


def synthetic_crops(n=5, seed=8):
    """(n, 3, 64, 64) uint8: a nucleus-like structural channel with a cell at the centre (and a
    neighbour), a noise structural channel, a protein channel."""
    rng = np.random.default_rng(seed)
    crops = np.zeros((n, 3, 64, 64), np.uint8)
    for i in range(n):
        cells = disc((32 + rng.integers(-3, 4), 32), 10 + rng.integers(0, 4))
        cells |= disc((rng.integers(5, 60), 58), 8)
        cells = ndimage.gaussian_filter(cells.astype(float), 1.5) * 200 + rng.normal(20, 8, (64, 64))
        crops[i, 0] = np.clip(cells, 0, 255)
        crops[i, 1] = rng.integers(0, 256, (64, 64))
        crops[i, 2] = np.clip(cells * rng.random((64, 64)), 0, 255)
    crops[-1, 2] = 0  # a blank protein channel
    return crops


class FakeStore:
    """The parts of CropStore that classic_features uses, recording the reads."""

    def __init__(self, crops):
        self.crops, self.reads = crops, []

    def __len__(self):
        return len(self.crops)

    @property
    def shape(self):
        return self.crops.shape

    def raw(self, indices):
        self.reads.append(indices)
        return self.crops[indices]


@pytest.mark.parametrize("cell_shape", [False, True])
def test_classic_features_matrix(cell_shape):
    crops = synthetic_crops()
    values, names = classic_features(crops, ClassicSettings([0, 1], [2], cell_shape=cell_shape))
    n_base = 3 + 2 + len(DISTANCES) * len(HARALICK_PROPS)
    assert len(names) == (n_base + len(shape_names()) if cell_shape else n_base)
    assert values.shape == (len(crops), len(names))
    assert values.dtype == np.float32
    assert len(set(names)) == len(names)
    assert np.isfinite(values).all()
    # batches and worker processes change nothing, bit for bit, in store order
    for batch_size, n_jobs in ((1, 1), (2, 1), (64, 1), (2, 2)):
        again, names_again = classic_features(
            crops, ClassicSettings([0, 1], [2], cell_shape=cell_shape), batch_size=batch_size, n_jobs=n_jobs
        )
        assert names_again == names
        assert np.array_equal(again, values)
    # columns are the per-crop functions' values
    row = values[1]
    np.testing.assert_allclose(row[[names.index(n) for n in haralick_names()]], haralick(crops[1, 2]), rtol=1e-6)
    np.testing.assert_allclose(row[:3], intensity_features(crops[1, 2] / 255.0), rtol=1e-6)
    np.testing.assert_allclose(
        row[3:5], correlation_features(crops[1, 2] / 255.0, crops[1, :2] / 255.0), rtol=1e-5, atol=1e-6
    )
    if cell_shape:
        assert row[names.index("cell_area")] > 200  # the centre cell was found
        shape_cols = [names.index(n) for n in shape_names()]
        expected = shape_features(centre_cell_mask(crops[1, 0] / 255.0), crops[1, 2] / 255.0)
        np.testing.assert_allclose(row[shape_cols], expected, rtol=1e-5)


def test_classic_features_two_channel_with_shape_and_store_batches():
    crops = synthetic_crops()[:, [0, 2]]
    store = FakeStore(crops)
    values, names = classic_features(store, ClassicSettings([0], [1], cell_shape=True), batch_size=2)
    assert values.shape == (5, 3 + 1 + len(DISTANCES) * len(HARALICK_PROPS) + len(shape_names()))
    assert store.reads == [slice(0, 2), slice(2, 4), slice(4, 6)]
    assert np.array_equal(values, classic_features(crops, ClassicSettings([0], [1], cell_shape=True))[0])


def test_classic_features_several_protein_channels_are_prefixed():
    crops = synthetic_crops()
    values, names = classic_features(
        crops, ClassicSettings([0], [1, 2], distances=(1, 2), cell_shape=True, radial_bins=2)
    )
    assert len(set(names)) == len(names) == values.shape[1]
    assert "ch1_intensity_mean" in names and "ch2_haralick_contrast_d2" in names
    assert "ch2_cell_radial_fracatd_1of2" in names and "cell_area" in names  # geometry once
    single, single_names = classic_features(crops, ClassicSettings([0], [2], distances=(1, 2)))
    np.testing.assert_array_equal(
        values[:, names.index("ch2_intensity_std")], single[:, single_names.index("intensity_std")]
    )
    with pytest.raises(ValueError):
        classic_features(crops, ClassicSettings([0], [3]))
