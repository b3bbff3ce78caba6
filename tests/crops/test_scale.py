"""Tests for pcinpaint.crops.scale: how big an image's cells are."""

from pathlib import Path

import numpy as np
import pytest
from skimage import draw, transform

from pcinpaint.crops.scale import blob_diameters, cell_diameter, field_diameter, innermost_points, typical_diameter

NUCLEI_GT = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "nuclei_gt"


def disk_field(radius, centres, shape):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image, labels = np.zeros(shape), np.zeros(shape, np.int32)
    for i, (cy, cx) in enumerate(centres, start=1):
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2
        image[inside], labels[inside] = 100.0, i
    return image, labels


@pytest.mark.parametrize("radius", [6, 15, 60])
def test_blob_diameter_of_a_disk_is_its_diameter(radius):
    """Small disks on the full grid, large ones (guess over 16 px) on blocks: both come out 2r."""
    size = 8 * radius
    image, _ = disk_field(radius, [(size // 2, size // 2)], (size, size))
    (diameter,) = blob_diameters(image, np.array([[size // 2, size // 2]]), guess=2.0 * radius)
    assert diameter == pytest.approx(2 * radius, rel=0.06)


def test_typical_diameter_is_the_single_objects_not_the_merged_pairs():
    rng = np.random.default_rng(0)
    singles = 10 * 2 ** rng.normal(0, 0.05, 60)
    pairs = 16 * 2 ** rng.normal(0, 0.05, 45)  # merged touching nuclei
    diameters = np.concatenate([singles, pairs])
    assert typical_diameter(diameters) == pytest.approx(10, rel=0.05)
    assert np.median(diameters) > 1.04 * typical_diameter(diameters)  # a median follows the merges
    assert typical_diameter(np.array([10.0, 20.0, 12.0])) == 12.0  # too few for a mode: the median


def test_innermost_point_of_two_merged_disks_is_in_one_of_them():
    image, labels = disk_field(10, [(30, 30), (30, 47)], (60, 80))
    merged = (labels > 0).astype(np.int32)
    (point,) = innermost_points(merged)
    assert min(np.hypot(*(point - c)) for c in ((30, 30), (30, 47))) < 3
    assert innermost_points(np.zeros((5, 5), np.int32)).shape == (0, 2)


def test_cell_diameter_of_an_image_and_of_none():
    image, labels = disk_field(9, [(20 + 40 * i, 20 + 40 * j) for i in range(4) for j in range(5)], (160, 200))
    assert cell_diameter([image], [labels]) == pytest.approx(18, rel=0.06)
    assert np.isnan(cell_diameter([image], [np.zeros_like(labels)]))


def nuclei_field(diameter, n=24, shape=(400, 520), seed=0, extra=()):
    """Blurred nuclei of one ``diameter`` (+-10%) on a noisy background with a gradient of light,
    none touching; ``extra``: further (centre, radius) disks at the nuclei's brightness."""
    rng = np.random.default_rng(seed)
    image = 20 + np.linspace(0, 15, shape[1])[None, :] + rng.normal(0, 3, shape)
    placed = []
    while len(placed) < n:
        c = rng.uniform(diameter, np.array(shape) - diameter)
        if all(np.hypot(*(c - p)) > 1.3 * diameter for p in placed):
            placed.append(c)
    mask = np.zeros(shape)
    for c in placed:
        mask[draw.disk(c, diameter / 2 * rng.uniform(0.9, 1.1), shape=shape)] = 1
    for c, r in extra:
        mask[draw.disk(c, r, shape=shape)] = 1
    from scipy import ndimage as ndi

    return (image + 150 * ndi.gaussian_filter(mask, 1.0)).astype(np.float32)


@pytest.mark.parametrize("diameter", [12, 30, 70])
def test_field_diameter_is_the_nuclei_diameter_at_any_size(diameter):
    """Small nuclei on the full grid, large ones past the flattening radius (measured again)."""
    shape = (400, 520) if diameter < 50 else (900, 1100)
    assert field_diameter(nuclei_field(diameter, shape=shape)) == pytest.approx(diameter, rel=0.12)


def test_field_diameter_follows_the_magnification():
    image = nuclei_field(30)
    half = transform.rescale(image, 0.5, order=1, anti_aliasing=True, preserve_range=True)
    double = transform.rescale(image, 2.0, order=1, preserve_range=True)
    d, d_half, d_double = (field_diameter(x) for x in (image, half, double))
    assert 1.85 < d / d_half < 2.15 and 1.85 < d_double / d < 2.15


def test_field_diameter_of_an_empty_field_is_nan():
    rng = np.random.default_rng(0)
    noise = rng.normal(20, 3, (300, 300)).astype(np.float32)
    lit = noise + np.linspace(10, 60, 300)[None, :].astype(np.float32)  # uneven light, nothing in it
    for image in (noise, lit, np.zeros((300, 300), np.float32)):
        assert np.isnan(field_diameter(image))


def test_field_diameter_of_one_or_two_nuclei():
    for n in (1, 2):
        assert field_diameter(nuclei_field(40, n=n, seed=n)) == pytest.approx(40, rel=0.12)


def test_field_diameter_is_held_by_specks_huge_blobs_and_small_nuclei():
    """Debris (200 specks of 2-4 px: most objects by count), two blobs of 8 diameters and a few
    nuclei a third the size leave the estimate at the nuclei's."""
    rng = np.random.default_rng(1)
    specks = [(rng.uniform(0, 900, 2), rng.uniform(1, 2)) for _ in range(200)]
    huge = [((200, 250), 120), ((650, 800), 120)]
    small = [(rng.uniform(50, 850, 2), 5) for _ in range(6)]
    for extra in (specks, huge, small):
        image = nuclei_field(30, n=40, shape=(900, 1100), extra=extra)
        assert field_diameter(image) == pytest.approx(30, rel=0.12)


def test_field_diameter_of_clumps_is_one_nucleus():
    """Touching pairs and triples, which the coarse pass sees as one object each, are measured
    inside one of their nuclei."""
    rng = np.random.default_rng(2)
    image = rng.normal(20, 3, (700, 900))
    for i in range(24):
        y, x = 80 + (i // 6) * 160, 80 + (i % 6) * 140
        for dy, dx in ((0, 0), (0, 55), (50, 25))[: 2 + i % 2]:
            image[draw.disk((y + dy, x + dx), 30, shape=image.shape)] = 120 + rng.normal(0, 5)
    assert field_diameter(image.astype(np.float32)) == pytest.approx(60, rel=0.12)


@pytest.mark.parametrize("scale", [0.5, 1.0, 2.0])
def test_field_diameter_of_hand_labelled_nuclei(scale):
    """Real fields of U2OS and NIH3T3 nuclei, and their rescaled copies: the estimate is close to
    the median equivalent diameter of the nuclei drawn by hand (measured: 0.85-1.04 of it)."""
    import imageio.v3 as iio

    names = ["gnf_dna-1", "ic100_dna-31"]
    if not all((NUCLEI_GT / f"{n}_image.png").exists() for n in names):
        pytest.skip(f"hand-labelled nuclei not found under {NUCLEI_GT}")
    for name in names:
        image = iio.imread(NUCLEI_GT / f"{name}_image.png").astype(np.float32)
        labels = iio.imread(NUCLEI_GT / f"{name}_labels.png")
        areas = np.bincount(labels.ravel())[1:]
        truth = scale * np.median(2 * np.sqrt(areas[areas > 0] / np.pi))
        if scale != 1.0:
            image = transform.rescale(image, scale, order=1, anti_aliasing=scale < 1, preserve_range=True)
        assert 0.8 < field_diameter(image) / truth < 1.05, name
