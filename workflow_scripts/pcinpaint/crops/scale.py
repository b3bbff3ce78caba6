"""How big an image's cells are: before a field is segmented, so its segmentation's lengths follow
its magnification (``segmentation.scale: auto``, ``field_diameter``), and after, so crops can be
cut to hold the same part of a cell at every magnification (``crops.crop_diameters``).

Real atlases mix magnifications: in one set of HPA fields, U-2 OS nuclei had a median area of
6,128 full-resolution pixels against 21,840-46,752 in other cell lines, so a fixed 512 px crop
holds one cell in most images and dozens in those. The size must come out in proportion to the
magnification, which a thresholded outline does not (its extent depends on blur and on where the
threshold falls: on a field and its 0.5x copy, equivalent diameters came out 1.6x apart, not 2x).
The characteristic scale of each object's blob does: the sigma at which the scale-normalised
Laplacian of Gaussian peaks at the object's innermost point, r / sqrt(2) for a disk of radius r
(Lindeberg 1998). An image's diameter is the mode of its objects' (not the median: one setting
merges more touching nuclei at one magnification than at another, and merged pairs pull a median
up). It is evaluated at those points only, as dot products with LoG kernels, on at most
``MAX_OBJECTS`` objects per image, on blocks for large objects. On a real field and its 0.5x copy
segmented with one setting, the diameters come out 1.89-1.99x apart over six sampling seeds (the
median at the centroids of 64 objects: 1.76-2.02x), and crops of 4 diameters correlate at a
median Pearson 0.94 (fixed crops: 0.30; tests/crops/test_segment_chunk.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
from skimage import measure

from pcinpaint.crops.segment import block_mean, foreground

#: objects per image whose scale is measured (a seeded sample of at most this many)
MAX_OBJECTS = 256
#: width (octaves) of the kernel whose density's mode is the image's typical diameter
BANDWIDTH = 0.15
MIN_FOR_MODE = 16
#: sigmas searched: a lattice of STEPS per octave (2^(k/STEPS) px), so a field and its copy at
#: half the magnification are searched at exactly corresponding scales, within this range of
#: multiples of the sigma the outline's equivalent diameter suggests
STEPS = 16
SEARCH = (0.35, 2.5)
#: objects whose outline suggests more than this many px across are measured on blocks of
#: guess // COARSEST px, so the kernels stay small (the blocks' own blur is under 1% of the scale)
COARSEST = 16
#: ``field_diameter``'s first pass looks at blocks of this many px (a quarter of the pixels)
FIRST_PASS_BLOCK = 2
#: it flattens the field's background by a radius of this fraction of the field's short side, or of
#: ``FLAT_DIAMETERS`` estimated diameters where that is larger (large objects in a small field)
FLAT_FRACTION = 0.125
FLAT_DIAMETERS = 1.2
#: objects under this fraction of the typical area are specks, not what it measures; the typical area is
#: the median with each object weighted by its diameter: by count, specks (most objects on some fields)
#: would set it, by area a few huge objects would
SPECK_FRACTION = 1 / 8


@functools.lru_cache(maxsize=128)
def _log_kernel(sigma: float) -> np.ndarray:
    """-sigma^2 x scipy's discrete Laplacian of Gaussian, as a (2R+1)^2 kernel (R = ceil(4 sigma)):
    its dot product with a window is the filtered image's value at the window's centre. Kept
    between calls (read-only): the sigmas lie on one lattice, and every field of a segmentation
    job would otherwise filter the same deltas again, most of what measuring a small field costs."""
    from scipy import ndimage as ndi

    radius = int(np.ceil(4 * sigma))
    delta = np.zeros((2 * radius + 1, 2 * radius + 1))
    delta[radius, radius] = 1.0
    kernel = -(sigma**2) * ndi.gaussian_laplace(delta, sigma, mode="constant")
    kernel.flags.writeable = False
    return kernel


def blob_diameters(image: np.ndarray, centres: np.ndarray, guess: float) -> np.ndarray:
    """Per centre (y, x), 2 sqrt(2) x the sigma where the normalised LoG of ``image`` peaks,
    searched around ``guess`` (an expected diameter, px)."""
    factor = max(1, int(guess // COARSEST))
    if factor > 1:  # large objects are measured on blocks: a 200 px nucleus's kernels would be 1,100 px wide
        centres = (np.asarray(centres, np.float64) + 0.5) / factor - 0.5
        return factor * blob_diameters(block_mean(np.asarray(image, np.float64), factor), centres, guess / factor)
    image = np.asarray(image, np.float64)
    centre = max(guess, 1.0) / (2 * np.sqrt(2))
    lo, hi = (int(np.floor(STEPS * np.log2(centre * m))) for m in SEARCH)
    sigmas = 2.0 ** (np.arange(lo, hi + 2) / STEPS)
    pad = int(np.ceil(4 * sigmas[-1]))
    padded = np.pad(image, pad, mode="reflect")
    ys = np.clip(np.rint(centres[:, 0]).astype(int), 0, image.shape[0] - 1) + pad
    xs = np.clip(np.rint(centres[:, 1]).astype(int), 0, image.shape[1] - 1) + pad
    # each centre's window is cut once, at the largest kernel; smaller kernels read its middle
    windows = np.stack([padded[y - pad : y + pad + 1, x - pad : x + pad + 1] for y, x in zip(ys, xs)])
    responses = np.empty((len(sigmas), len(centres)))
    for k, sigma in enumerate(sigmas):
        kernel = _log_kernel(sigma)
        r = kernel.shape[0] // 2
        responses[k] = np.einsum("nij,ij->n", windows[:, pad - r : pad + r + 1, pad - r : pad + r + 1], kernel)
    # the peak refined between lattice points: a parabola through the best and its neighbours
    best = np.clip(np.argmax(responses, axis=0), 1, len(sigmas) - 2)
    left, mid, right = (responses[best + d, np.arange(len(best))] for d in (-1, 0, 1))
    curvature = left - 2 * mid + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1), 0.0)
    return 2 * np.sqrt(2) * 2.0 ** ((lo + best + np.clip(shift, -0.5, 0.5)) / STEPS)


def innermost_points(labels: np.ndarray) -> np.ndarray:
    """(y, x) of each object's innermost pixel (the maximum of its distance to the background), in
    label order: two touching nuclei segmented as one have their centroid in the dim neck between
    them, where the blob scale is the pair's, but their innermost point in one of the two."""
    from scipy import ndimage as ndi

    labels = np.asarray(labels)
    index = np.unique(labels[labels > 0])
    if not len(index):
        return np.zeros((0, 2))
    inside = ndi.distance_transform_edt(labels > 0)
    return np.asarray(ndi.maximum_position(inside, labels, index), np.float64).reshape(-1, 2)


def typical_diameter(diameters: np.ndarray) -> float:
    """The mode of the diameters' log-density (Gaussian kernel of BANDWIDTH octaves): the size of
    the image's single objects, not pulled up by merged pairs or down by fragments the way a median
    is when a setting merges more of them at one magnification than at another. Under
    ``MIN_FOR_MODE`` objects a density has no mode worth the name, and the median is used."""
    if len(diameters) < MIN_FOR_MODE:
        return float(np.median(diameters))
    x = np.log2(np.asarray(diameters, np.float64))
    grid = np.arange(x.min() - BANDWIDTH, x.max() + BANDWIDTH, BANDWIDTH / 16)
    density = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / BANDWIDTH) ** 2).sum(axis=1)
    return float(2.0 ** grid[np.argmax(density)])


def cell_diameter(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], seed: int = 0) -> float:
    """The typical blob diameter (px) of the objects of an image's fields (their segmentation
    channel and label images), NaN when there are none."""
    points, areas, source = [], [], []
    for i, lab in enumerate(labels):
        lab = np.asarray(lab)
        points.append(innermost_points(lab))
        counts = np.bincount(lab.ravel())
        areas.append(counts[1:][counts[1:] > 0].astype(np.float64))
        source.append(np.full(len(points[-1]), i))
    if not sum(len(a) for a in areas):
        return float("nan")
    points, areas, source = np.concatenate(points), np.concatenate(areas), np.concatenate(source)
    pick = np.random.default_rng(seed).permutation(len(areas))[:MAX_OBJECTS]
    guess = float(np.median(2 * np.sqrt(areas / np.pi)))
    diameters = np.concatenate(
        [blob_diameters(images[i], points[pick[source[pick] == i]], guess) for i in np.unique(source[pick])]
    )
    return typical_diameter(diameters)


def scaled_crop_size(diameter: float, diameters: float, fallback: int) -> float:
    """``diameters`` x an image's typical object ``diameter`` (px, not rounded: scaled crops are
    sampled at sub-pixel positions), at least 8 px (``fallback`` for an image without objects)."""
    return max(8.0, float(diameters * diameter)) if np.isfinite(diameter) else float(fallback)


def field_diameter(channel: np.ndarray, min_contrast: float = 5.0, seed: int = 0) -> float:
    """The typical diameter (px) of the objects of one field's segmentation channel, measured
    before it is segmented (``segmentation.scale: auto``); NaN when the field has none.

    A coarse segmentation finds the objects, then their blob scale measures them
    (``blob_diameters``), as ``cell_diameter`` measures segmented ones: on blocks of
    ``FIRST_PASS_BLOCK`` px, the background is flattened (``segment.background_level``) and
    log intensities are split by Otsu, which finds dim and bright objects alike at any size. A
    field whose split fails the ``min_contrast`` test (``segment.foreground``) has no objects.
    Objects under ``SPECK_FRACTION`` of the typical area (debris, specks) are left out; the few
    huge objects left pull the diameter's mode no more than the small ones, and merged clumps are
    measured at their innermost point, inside one of their objects. The flattening radius must
    exceed the objects, so a field whose first estimate is over 1 / ``FLAT_DIAMETERS`` of it is
    measured again with a radius of ``FLAT_DIAMETERS`` diameters. On hand-labelled nuclei
    (tests/perf/bench_nuclei.py --scales) the estimate is 0.92 of the median true equivalent
    diameter (0.85-1.04 per field), the same at 0.5x, 1x and 2x."""
    image = np.asarray(channel, np.float32)
    small = block_mean(image, FIRST_PASS_BLOCK).astype(np.float32, copy=False)
    radius = FLAT_FRACTION * min(small.shape) * FIRST_PASS_BLOCK
    diameter = _first_pass(image, small, radius, min_contrast, seed)
    if np.isfinite(diameter) and radius < FLAT_DIAMETERS * diameter:
        again = _first_pass(image, small, FLAT_DIAMETERS * diameter, min_contrast, seed)
        diameter = again if np.isfinite(again) else diameter
    return diameter


def _first_pass(image: np.ndarray, small: np.ndarray, radius: float, min_contrast: float, seed: int) -> float:
    """``field_diameter`` with the background flattened by ``radius`` (full-resolution px)."""
    fg = foreground(small, 0.0, 0, min_contrast, log_scale=True, background_radius=radius / FIRST_PASS_BLOCK)
    labels = measure.label(fg)
    areas = np.bincount(labels.ravel())[1:].astype(np.float64)
    if not areas.any():
        return float("nan")
    ordered = np.sort(areas[areas > 0])  # the median area, each object weighted by its diameter
    typical_area = ordered[np.searchsorted(np.cumsum(np.sqrt(ordered)), np.sqrt(ordered).sum() / 2)]
    kept = np.flatnonzero(areas >= SPECK_FRACTION * typical_area) + 1
    points = innermost_points(np.where(np.isin(labels, kept), labels, 0))
    points = (points + 0.5) * FIRST_PASS_BLOCK - 0.5  # block centres in full-resolution px
    points = points[np.random.default_rng(seed).permutation(len(points))[:MAX_OBJECTS]]
    guess = FIRST_PASS_BLOCK * float(np.median(2 * np.sqrt(areas[kept - 1] / np.pi)))
    return typical_diameter(blob_diameters(image, points, guess))
