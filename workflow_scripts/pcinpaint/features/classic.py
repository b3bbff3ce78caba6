"""The paper's "classic" hand-designed feature baseline (Lu et al. 2019, Methods).

Every learned feature set is compared against these. Per crop and per protein channel:

* intensity: sum, mean and standard deviation of the protein channel (stored uint8 / 255,
  so values in [0, 1]);
* correlation: the Pearson correlation of the protein channel with each structural channel
  (0 where either image is constant);
* Haralick texture at 5 scales (distances 1, 2, 4, 8, 16 px). The stored uint8 value is
  quantised to ``levels`` equal-width grey levels (``value * levels // 256``, 32 levels by
  default); one grey-level co-occurrence matrix (GLCM) per distance and direction is built,
  symmetric (each pair counted both ways) and normalised to sum to 1; each property of
  ``HARALICK_PROPS`` (``skimage.feature.graycoprops``) is averaged over the 4 directions 0, 45,
  90 and 135 degrees, which makes it rotation-invariant, as mahotas' and CellProfiler's
  Haralick features do.

Intensity, correlation and texture are computed over the whole crop, as the paper did. For
whole-cell data (yeast) ``cell_shape`` adds CellProfiler-style measurements of the centre cell,
segmented inside each crop from a structural channel (Gaussian smoothing, Otsu threshold,
distance-transform watershed to split touching cells): area, perimeter, eccentricity,
solidity, major/minor axis length, the protein's mean / std / integrated intensity inside the
cell, and its radial distribution (CellProfiler's MeasureObjectIntensityDistribution FracAtD
and MeanFrac). Shape and radial features are computed over that cell only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace

import numpy as np
from joblib import Parallel, delayed
from scipy import ndimage
from skimage.feature import graycomatrix, graycoprops, peak_local_max
from skimage.filters import threshold_otsu
from skimage.measure import regionprops
from skimage.morphology import h_maxima
from skimage.segmentation import watershed
from tqdm import tqdm

HARALICK_PROPS = ("contrast", "dissimilarity", "homogeneity", "ASM", "energy", "correlation", "entropy", "variance")
DISTANCES = (1, 2, 4, 8, 16)
ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
INTENSITY_NAMES = ("intensity_sum", "intensity_mean", "intensity_std")
GEOMETRY_NAMES = (
    "cell_area",
    "cell_perimeter",
    "cell_eccentricity",
    "cell_solidity",
    "cell_major_axis_length",
    "cell_minor_axis_length",
)
CELL_INTENSITY_NAMES = ("cell_protein_mean", "cell_protein_std", "cell_protein_integrated")


# --------------------------------------------------------------------------------------------
# Whole-crop features
# --------------------------------------------------------------------------------------------


def quantise(image_uint8: np.ndarray, levels: int) -> np.ndarray:
    """uint8 values -> ``levels`` equal-width grey levels (``value * levels // 256``), uint8."""
    image = np.asarray(image_uint8)
    if image.dtype != np.uint8:
        raise ValueError(f"quantise needs a uint8 image, got {image.dtype}")
    if not 1 <= levels <= 256:
        raise ValueError(f"levels must be in 1..256, got {levels}")
    return (image.astype(np.uint16) * levels // 256).astype(np.uint8)


def haralick_names(distances: Sequence[int] = DISTANCES) -> list[str]:
    """Names of ``haralick``'s output, distance-major: ``haralick_<prop>_d<distance>``."""
    return [f"haralick_{prop}_d{d}" for d in distances for prop in HARALICK_PROPS]


def haralick(image_uint8: np.ndarray, levels: int = 32, distances: Sequence[int] = DISTANCES) -> np.ndarray:
    """Haralick features of one 2-D uint8 image: per distance, each of ``HARALICK_PROPS`` averaged
    over the 4 directions of a symmetric, normalised GLCM of the quantised image (distance-major)."""
    image = np.asarray(image_uint8)
    if image.ndim != 2:
        raise ValueError(f"haralick needs a 2-D image, got shape {image.shape}")
    glcm = graycomatrix(
        quantise(image, levels), list(distances), list(ANGLES), levels=levels, symmetric=True, normed=True
    )
    values = np.stack([graycoprops(glcm, prop).mean(axis=1) for prop in HARALICK_PROPS], axis=1)
    return values.ravel()  # (distance, prop) -> distance-major


def intensity_features(protein: np.ndarray) -> np.ndarray:
    """Sum, mean and standard deviation of a float image (stored uint8 / 255)."""
    protein = np.asarray(protein, dtype=np.float64)
    return np.array([protein.sum(), protein.mean(), protein.std()])


def correlation_features(protein: np.ndarray, structural: np.ndarray) -> np.ndarray:
    """Pearson correlation of ``protein`` (H, W) with each structural channel (S, H, W); 0 where
    either image is constant."""
    p = np.asarray(protein, dtype=np.float64).ravel()
    s = np.asarray(structural, dtype=np.float64)
    s = s.reshape(len(s) if s.ndim == 3 else 1, p.size)
    out = np.zeros(len(s))
    if p.size == 0 or p.max() == p.min():
        return out
    ok = np.ptp(s, axis=1) > 0
    p = p - p.mean()
    s = s - s.mean(axis=1, keepdims=True)
    denom = np.sqrt((p * p).sum() * (s * s).sum(axis=1))
    cov = s @ p
    ok &= denom > 0
    out[ok] = np.clip(cov[ok] / denom[ok], -1.0, 1.0)
    return out


# --------------------------------------------------------------------------------------------
# Centre cell: segmentation, shape, radial distribution
# --------------------------------------------------------------------------------------------


def centre_cell_mask(structural: np.ndarray, smoothing_sigma: float = 1.0, split_depth: float = 2.0) -> np.ndarray:
    """Boolean mask of the cell at the crop centre, segmented from one structural channel.

    Gaussian smoothing, Otsu threshold, holes filled; touching cells are split by a watershed on
    the distance transform seeded with one ``peak_local_max`` peak per maximum that rises at least
    ``split_depth`` px above its surroundings (plain local maxima split elongated cells along
    their flat ridge). The object covering the centre pixel is kept, else the one nearest the
    centre. Empty for a blank or constant channel.
    """
    image = np.asarray(structural, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"centre_cell_mask needs a 2-D image, got shape {image.shape}")
    empty = np.zeros(image.shape, bool)
    if not np.isfinite(image).all() or image.max() == image.min():
        return empty
    smooth = ndimage.gaussian_filter(image, smoothing_sigma) if smoothing_sigma > 0 else image
    if smooth.max() - smooth.min() <= 1e-9 * max(1.0, np.abs(smooth).max()):
        return empty
    foreground = ndimage.binary_fill_holes(smooth > threshold_otsu(smooth))
    components, n = ndimage.label(foreground)
    if n == 0:
        return empty
    distance = ndimage.distance_transform_edt(foreground)
    domes, _ = ndimage.label(h_maxima(distance, split_depth))
    peaks = peak_local_max(distance, labels=domes, num_peaks_per_label=1, exclude_border=False)
    labels = components
    if (np.bincount(components[tuple(peaks.T)], minlength=n + 1) > 1).any():  # touching cells: split
        markers = np.zeros(image.shape, np.int32)
        markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
        split = watershed(-distance, markers, mask=foreground)
        # a component no seed reached keeps its own label
        labels = np.where(split > 0, split, np.where(foreground, components + len(peaks), 0))
    h, w = image.shape
    chosen = labels[h // 2, w // 2]
    if chosen == 0:
        rows, cols = np.nonzero(labels)
        nearest = np.argmin((rows - (h - 1) / 2) ** 2 + (cols - (w - 1) / 2) ** 2)
        chosen = labels[rows[nearest], cols[nearest]]
    return ndimage.binary_fill_holes(labels == chosen)


def shape_names(radial_bins: int = 4) -> list[str]:
    """Names of ``shape_features``' output."""
    radial = [f"cell_radial_fracatd_{i + 1}of{radial_bins}" for i in range(radial_bins)]
    radial += [f"cell_radial_meanfrac_{i + 1}of{radial_bins}" for i in range(radial_bins)]
    return list(GEOMETRY_NAMES) + list(CELL_INTENSITY_NAMES) + radial


def _geometry(mask: np.ndarray) -> np.ndarray:
    """Area, perimeter, eccentricity, solidity, major and minor axis length of a mask."""
    if not mask.any():
        return np.zeros(len(GEOMETRY_NAMES))
    region = regionprops(mask.astype(np.uint8))[0]
    return np.array(
        [
            region.area,
            region.perimeter,
            region.eccentricity,
            region.solidity,
            region.axis_major_length,
            region.axis_minor_length,
        ],
        dtype=np.float64,
    )


def _cell_intensity(mask: np.ndarray, protein: np.ndarray, radial_bins: int) -> np.ndarray:
    """Protein mean / std / integrated intensity inside the cell, then FracAtD and MeanFrac per ring."""
    out = np.zeros(len(CELL_INTENSITY_NAMES) + 2 * radial_bins)
    if not mask.any():
        return out
    values = protein[mask]
    total = values.sum()
    out[:3] = values.mean(), values.std(), total
    d_edge = ndimage.distance_transform_edt(mask)[mask]
    rows, cols = np.nonzero(mask)
    d_centre = np.hypot(rows - rows.mean(), cols - cols.mean())
    radius = d_centre / (d_centre + d_edge)  # d_edge >= 1 inside the mask
    ring = np.minimum((radius * radial_bins).astype(np.intp), radial_bins - 1)
    ring_intensity = np.bincount(ring, weights=values, minlength=radial_bins)
    ring_share = np.bincount(ring, minlength=radial_bins) / len(values)
    frac = ring_intensity / total if total > 0 else np.zeros(radial_bins)
    mean_frac = np.divide(frac, ring_share, out=np.zeros(radial_bins), where=ring_share > 0)
    out[3 : 3 + radial_bins] = frac
    out[3 + radial_bins :] = mean_frac
    return out


def shape_features(mask: np.ndarray, protein: np.ndarray, radial_bins: int = 4) -> np.ndarray:
    """Shape of the cell (regionprops), protein intensity inside it and its radial distribution
    (CellProfiler's FracAtD and MeanFrac over ``radial_bins`` rings of equal normalised radius).
    All zeros for an empty mask; names from ``shape_names``."""
    mask = np.asarray(mask, dtype=bool)
    protein = np.asarray(protein, dtype=np.float64)
    if mask.shape != protein.shape:
        raise ValueError(f"mask {mask.shape} and protein {protein.shape} differ in shape")
    return np.concatenate([_geometry(mask), _cell_intensity(mask, protein, radial_bins)])


# --------------------------------------------------------------------------------------------
# All cells of a store
# --------------------------------------------------------------------------------------------


def classic_feature_names(
    structural: Sequence[int],
    protein: Sequence[int],
    distances: Sequence[int] = DISTANCES,
    cell_shape: bool = False,
    radial_bins: int = 4,
) -> list[str]:
    """Column names of ``classic_features`` for this channel layout."""
    names = []
    for p in protein:
        prefix = f"ch{p}_" if len(protein) > 1 else ""
        block = list(INTENSITY_NAMES) + [f"correlation_ch{s}" for s in structural] + haralick_names(distances)
        names += [prefix + name for name in block]
    if cell_shape:
        names += list(GEOMETRY_NAMES)
        cell = shape_names(radial_bins)[len(GEOMETRY_NAMES) :]
        for p in protein:
            prefix = f"ch{p}_" if len(protein) > 1 else ""
            names += [prefix + name for name in cell]
    return names


@dataclass(frozen=True)
class ClassicSettings:
    """Which classic features each cell gets: the channel layout (``structural`` and ``protein``
    channel indices), the Haralick grey ``levels`` and ``distances``, and with ``cell_shape`` the
    centre cell's geometry, segmented from ``shape_channel`` (default the first structural
    channel), and the protein's distribution over ``radial_bins`` rings inside it."""

    structural: Sequence[int]
    protein: Sequence[int]
    levels: int = 32
    distances: Sequence[int] = DISTANCES
    cell_shape: bool = False
    shape_channel: int | None = None
    radial_bins: int = 4


def classic_feature_batches(
    store, settings: ClassicSettings, batch_size: int = 1024, progress: bool = False, n_jobs: int = 1
) -> tuple[list[str], Iterator[np.ndarray]]:
    """The classic features' column names, and their rows for every cell of a CropStore (or a
    uint8 array (n, C, H, W)) one batch at a time, in store order (float32).

    Per protein channel (names prefixed ``ch<index>_`` only when there are several): intensity,
    correlation with each structural channel, Haralick. Then, with ``cell_shape``, the geometry of
    the centre cell segmented from ``shape_channel`` (default the first structural channel) and
    each protein channel's intensity and radial distribution inside it. ``n_jobs`` worker
    processes share the batches (the rows do not depend on it).
    """
    settings = _resolved(settings, store.shape[1])
    s = settings
    names = classic_feature_names(s.structural, s.protein, s.distances, s.cell_shape, s.radial_bins)
    read = store.__getitem__ if isinstance(store, np.ndarray) else store.raw
    return names, _rows(_uint8_batches(read, len(store), batch_size), settings, len(store), progress, n_jobs)


def _resolved(settings: ClassicSettings, n_channels: int) -> ClassicSettings:
    """The settings checked against crops of ``n_channels`` channels, as the workers take them:
    channels as lists of ints, distances a tuple, ``shape_channel`` chosen (None without
    ``cell_shape``)."""
    structural, protein = [int(c) for c in settings.structural], [int(c) for c in settings.protein]
    for c in structural + protein:
        if not 0 <= c < n_channels:
            raise ValueError(f"channel {c} out of range for crops with {n_channels} channels")
    if not protein:
        raise ValueError("classic features need at least one protein channel")
    shape_channel = settings.shape_channel
    if settings.cell_shape:
        if shape_channel is None:
            if not structural:
                raise ValueError("cell_shape needs a structural channel to segment the cell from")
            shape_channel = structural[0]
        if not 0 <= shape_channel < n_channels:
            raise ValueError(f"shape_channel {shape_channel} out of range for crops with {n_channels} channels")
    return replace(
        settings,
        structural=structural,
        protein=protein,
        distances=tuple(settings.distances),
        shape_channel=shape_channel if settings.cell_shape else None,
    )


def _uint8_batches(read, n: int, batch_size: int) -> Iterator[np.ndarray]:
    """The stored crops, ``batch_size`` at a time, in store order (uint8 only)."""
    for at in range(0, n, batch_size):
        raw = np.asarray(read(slice(at, at + batch_size)))
        if raw.dtype != np.uint8:
            raise ValueError(f"classic features need uint8 crops, got {raw.dtype}")
        yield raw


def _rows(
    batches: Iterator[np.ndarray], settings: ClassicSettings, n: int, progress: bool, n_jobs: int
) -> Iterator[np.ndarray]:
    """The feature rows of each batch, as float32: batches go to ``n_jobs`` worker processes in
    order, and the parent reads ahead only a few batches."""
    blocks = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_batch_rows)(raw, settings) for raw in batches)
    with tqdm(total=n, desc="classic features", disable=not progress, mininterval=10) as bar:
        for block in blocks:
            bar.update(len(block))
            yield block.astype(np.float32)


def classic_features(store, settings: ClassicSettings, **options):
    """Every cell's classic features in memory, a float32 matrix (n, F), and their names (see
    ``classic_feature_batches``, which takes ``options``; the rule streams them to its table instead)."""
    names, rows = classic_feature_batches(store, settings, **options)
    blocks = list(rows)
    return (np.concatenate(blocks) if blocks else np.zeros((0, len(names)), np.float32)), names


def _batch_rows(raw: np.ndarray, settings: ClassicSettings) -> np.ndarray:
    """The feature rows of one batch of uint8 crops."""
    scaled = raw.astype(np.float64) / 255.0
    return np.stack([_cell_row(raw[i], scaled[i], settings) for i in range(len(raw))])


def _cell_row(raw: np.ndarray, scaled: np.ndarray, settings: ClassicSettings) -> np.ndarray:
    """One crop's feature vector, in ``classic_feature_names`` order (``settings`` resolved)."""
    parts = []
    for p in settings.protein:
        parts.append(intensity_features(scaled[p]))
        parts.append(correlation_features(scaled[p], scaled[settings.structural]))
        parts.append(haralick(raw[p], settings.levels, settings.distances))
    if settings.shape_channel is not None:
        mask = centre_cell_mask(scaled[settings.shape_channel])
        parts.append(_geometry(mask))
        parts += [_cell_intensity(mask, scaled[p], settings.radial_bins) for p in settings.protein]
    return np.concatenate(parts)
