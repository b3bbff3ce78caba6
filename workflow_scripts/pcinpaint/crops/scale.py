"""How big an image's cells are, so crops can be cut to hold the same part of a cell at every
magnification (``crops.crop_diameters``).

Real atlases mix magnifications: in one set of HPA fields, U-2 OS nuclei had a median area of
6,128 full-resolution pixels against 21,840-46,752 in other cell lines, so a fixed 512 px crop
holds one cell in most images and dozens in those. The size must come out in proportion to the
magnification, which a thresholded outline does not (its extent depends on blur and on where the
threshold falls: on a field and its 0.5x copy, equivalent diameters came out 1.6x apart, not 2x).
The characteristic scale of each object's blob does: the sigma at which the scale-normalised
Laplacian of Gaussian peaks at the object's centre, r / sqrt(2) for a disk of radius r
(Lindeberg 1998). It is evaluated at the centres only, as dot products with LoG kernels, on at
most ``MAX_OBJECTS`` objects per image, so its cost does not grow with the field's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: objects per image whose scale is measured (a seeded sample; the median is what is used)
MAX_OBJECTS = 64
#: sigmas searched: a lattice of STEPS per octave (2^(k/STEPS) px), so a field and its copy at
#: half the magnification are searched at exactly corresponding scales, within this range of
#: multiples of the sigma the outline's equivalent diameter suggests
STEPS = 16
SEARCH = (0.35, 2.5)


def _log_kernel(sigma: float) -> np.ndarray:
    """-sigma^2 x scipy's discrete Laplacian of Gaussian, as a (2R+1)^2 kernel (R = ceil(4 sigma)):
    its dot product with a window is the filtered image's value at the window's centre."""
    from scipy import ndimage as ndi

    radius = int(np.ceil(4 * sigma))
    delta = np.zeros((2 * radius + 1, 2 * radius + 1))
    delta[radius, radius] = 1.0
    return -(sigma**2) * ndi.gaussian_laplace(delta, sigma, mode="constant")


def blob_diameters(image: np.ndarray, centres: np.ndarray, guess: float) -> np.ndarray:
    """Per centre (y, x), 2 sqrt(2) x the sigma where the normalised LoG of ``image`` peaks,
    searched around ``guess`` (an expected diameter, px)."""
    image = np.asarray(image, np.float64)
    centre = max(guess, 1.0) / (2 * np.sqrt(2))
    lo, hi = (int(np.floor(STEPS * np.log2(centre * m))) for m in SEARCH)
    sigmas = 2.0 ** (np.arange(lo, hi + 2) / STEPS)
    pad = int(np.ceil(4 * sigmas[-1]))
    padded = np.pad(image, pad, mode="reflect")
    ys = np.clip(np.rint(centres[:, 0]).astype(int), 0, image.shape[0] - 1) + pad
    xs = np.clip(np.rint(centres[:, 1]).astype(int), 0, image.shape[1] - 1) + pad
    responses = np.empty((len(sigmas), len(centres)))
    for k, sigma in enumerate(sigmas):
        kernel = _log_kernel(sigma)
        r = kernel.shape[0] // 2
        windows = np.stack([padded[y - r : y + r + 1, x - r : x + r + 1] for y, x in zip(ys, xs)])
        responses[k] = np.einsum("nij,ij->n", windows, kernel)
    # the peak refined between lattice points: a parabola through the best and its neighbours
    best = np.clip(np.argmax(responses, axis=0), 1, len(sigmas) - 2)
    left, mid, right = (responses[best + d, np.arange(len(best))] for d in (-1, 0, 1))
    curvature = left - 2 * mid + right
    shift = np.where(curvature < 0, 0.5 * (left - right) / np.where(curvature < 0, curvature, -1), 0.0)
    return 2 * np.sqrt(2) * 2.0 ** ((lo + best + np.clip(shift, -0.5, 0.5)) / STEPS)


def median_diameter(images: Sequence[np.ndarray], labels: Sequence[np.ndarray], seed: int = 0) -> float:
    """The median blob diameter (px) of the objects of an image's fields (their segmentation
    channel and label images), NaN when there are none."""
    from skimage import measure

    centres, areas, source = [], [], []
    for i, lab in enumerate(labels):
        props = measure.regionprops_table(np.asarray(lab), properties=("centroid", "area"))
        centres.append(np.column_stack([props["centroid-0"], props["centroid-1"]]))
        areas.append(np.asarray(props["area"], np.float64))
        source.append(np.full(len(areas[-1]), i))
    if not sum(len(a) for a in areas):
        return float("nan")
    centres, areas, source = np.concatenate(centres), np.concatenate(areas), np.concatenate(source)
    pick = np.random.default_rng(seed).permutation(len(areas))[:MAX_OBJECTS]
    guess = float(np.median(2 * np.sqrt(areas / np.pi)))
    diameters = np.concatenate(
        [blob_diameters(images[i], centres[pick[source[pick] == i]], guess) for i in np.unique(source[pick])]
    )
    return float(np.median(diameters))


def scaled_crop_size(diameter: float, diameters: float, fallback: int) -> int:
    """``diameters`` x an image's median object ``diameter``, at least 8 px (``fallback`` for an
    image without objects)."""
    return max(8, int(round(diameters * diameter))) if np.isfinite(diameter) else int(fallback)
