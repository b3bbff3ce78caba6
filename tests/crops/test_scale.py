"""Tests for pcinpaint.crops.scale: how big an image's cells are."""

import numpy as np
import pytest

from pcinpaint.crops.scale import blob_diameters, cell_diameter, innermost_points, typical_diameter


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
