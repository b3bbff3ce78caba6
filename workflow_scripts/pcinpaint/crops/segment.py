"""Single-cell segmentation of microscopy fields.

Paired cell inpainting (Lu et al. 2019) needs one crop per cell, so every field is
first turned into a label image.  These strategies cover the paper's data and real screens:

* ``nuclei_otsu``     -- the paper's: nuclei as well separated blobs in the DNA
  channel, Otsu + connected components.
* ``nuclei_watershed`` -- nuclei as real fields show them: the uneven background
  subtracted (``background_level``), Otsu on log intensity so dim nuclei clear the threshold,
  then a smoothed distance-transform watershed that splits touching nuclei. On held-out
  hand-labelled fields (tests/perf/bench_nuclei.py) F1 0.885 at its defaults and 0.918 with
  settings chosen on the other half, against 0.650 for the paper's settings of nuclei_otsu.
* ``cells_watershed`` -- yeast: a cytosolic marker fills touching cells, which a
  distance-transform watershed splits apart.
* ``cellpose``        -- Cellpose (Stringer et al. 2021), when the user has it installed
  with its weights; imported only when asked for.
* ``provided``        -- the user already has masks (e.g. from CellProfiler);
  they are only cleaned and relabelled so downstream code sees the same
  conventions for every method.

All methods return an int32 label image with 0 = background and objects
numbered 1..n without gaps, and are deterministic.

The thresholding methods' lengths (smoothing, ``min_area``, watershed distances, background
radius) are pixels, right for one magnification. ``RelativeLengths`` gives them in units of a
field's typical object diameter instead (``segmentation.scale: auto``; the diameter is measured by
``crops.scale.field_diameter``), so one setting holds at every magnification.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
from scipy import ndimage as ndi
from skimage import feature, filters, measure, morphology, segmentation, transform

METHODS = ("nuclei_otsu", "nuclei_watershed", "cells_watershed", "cellpose", "provided")
#: the Cellpose releases whose API ``cellpose`` calls (``CellposeModel(...).eval``)
CELLPOSE_SUPPORTED = ">=3,<4"

# Sigma (px) of the Gaussian applied to the distance map before peak detection.
# Without it, the EDT of an irregular (noisy-edged) cell has several ridge
# maxima and one cell is split into many; 1 px merges those spurious maxima
# while keeping the two clear maxima of two touching round cells.
_DISTANCE_SMOOTHING_SIGMA = 1.0


def _check_args(
    channel: np.ndarray,
    method: str,
    smoothing_sigma: float,
    min_area: int,
    watershed_min_distance: int,
    background_radius: float,
) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown segmentation method {method!r}; expected one of {METHODS}")
    if np.ndim(channel) != 2:
        raise ValueError(f"channel must be a 2D image, got shape {np.shape(channel)}")
    if smoothing_sigma < 0:
        raise ValueError(f"smoothing_sigma must be >= 0, got {smoothing_sigma}")
    if min_area < 0:
        raise ValueError(f"min_area must be >= 0, got {min_area}")
    if watershed_min_distance < 1:
        raise ValueError(f"watershed_min_distance must be >= 1, got {watershed_min_distance}")
    if not 0 <= background_radius < np.inf:
        raise ValueError(f"background_radius must be >= 0 and finite, got {background_radius}")


def background_level(image: np.ndarray, radius: float) -> np.ndarray:
    """The slowly varying background under an image's objects: a grey opening by a disk of
    ``radius`` px (larger than any object, so objects are removed and the floor between them is
    kept), smoothed. Computed on blocks of ceil(radius / 8) px (a disk of at most 8 blocks), so
    its cost stays a fraction of the segmentation's at any radius.

    Near an edge an opening only sees one side, and where the light brightens towards the edge
    it lags behind the floor by up to radius x slope: a band of false nuclei. The eroded image
    (already free of objects) is therefore continued past the edges by point reflection, which
    carries a gradient on, before the dilation, and so is the opened floor before smoothing."""
    factor = max(1, int(np.ceil(radius / 8)))
    height, width = image.shape
    small = block_mean(image, factor)
    r = max(1, int(round(radius / factor)))
    disk = morphology.disk(r)
    eroded = ndi.grey_erosion(small, footprint=disk, mode="nearest")
    opened = ndi.grey_dilation(_continued(eroded, r), footprint=disk)[r:-r, r:-r]
    floor = filters.gaussian(_continued(opened, 2 * r), sigma=r / 2, preserve_range=True)[
        2 * r : -2 * r, 2 * r : -2 * r
    ]
    if factor > 1:  # continued by one block, so the outer half-blocks are interpolated too, not held
        floor = transform.resize(
            _continued(floor, 1),
            ((small.shape[0] + 2) * factor, (small.shape[1] + 2) * factor),
            order=1,
            mode="edge",
            preserve_range=True,
        )[factor:, factor:]
    return floor[:height, :width].astype(np.float32, copy=False)


def block_mean(image: np.ndarray, factor: int) -> np.ndarray:
    """The mean of ``factor`` x ``factor`` blocks over the last two axes. The image is first
    edge-padded to whole blocks: ``downscale_local_mean`` alone pads with zeros, which darkens
    the last row and column of blocks (a false edge for the threshold, a dark floor for
    ``background_level``)."""
    if factor <= 1:
        return image
    height, width = image.shape[-2:]
    pad = [(0, 0)] * (image.ndim - 2) + [(0, -height % factor), (0, -width % factor)]
    return transform.downscale_local_mean(np.pad(image, pad, mode="edge"), (1,) * (image.ndim - 2) + (factor, factor))


def _continued(image: np.ndarray, pad: int) -> np.ndarray:
    """``image`` continued ``pad`` px past its edges by point reflection (a gradient carries on)."""
    return np.pad(image, pad, mode="reflect", reflect_type="odd")


def foreground(
    channel: np.ndarray,
    smoothing_sigma: float,
    min_area: int,
    min_contrast: float = 0.0,
    log_scale: bool = False,
    background_radius: float = 0.0,
) -> np.ndarray:
    """Smoothed Otsu foreground with holes filled and specks removed.

    Holes are filled because nucleoli / vacuoles are dark inside a bright object
    but still belong to it. Otsu always splits an image in two, even an empty
    well of pure noise; ``min_contrast`` rejects such splits: the foreground's
    median must exceed the background's by ``min_contrast`` robust standard
    deviations (1.4826 MAD) of the background, else the field has no objects.

    ``log_scale`` thresholds log intensities, so a nucleus ten times dimmer than its
    neighbours still clears the threshold; ``background_radius`` (px, 0: off) first subtracts the
    background (``background_level``), so the bright side of an unevenly lit field does not
    clear it between nuclei and its dark side keeps its nuclei.
    """
    img = channel.astype(np.float32, copy=False)
    if smoothing_sigma > 0:
        img = filters.gaussian(img, sigma=smoothing_sigma, preserve_range=True)
    if background_radius > 0:  # not clipped at 0: the contrast check needs the background's spread
        img = img - background_level(img, background_radius)
    if float(img.min()) == float(img.max()):
        # Otsu is undefined on a constant image: there is nothing to segment.
        return np.zeros(img.shape, dtype=bool)
    level = np.log1p(img - float(img.min())) if log_scale else img
    fg = level > filters.threshold_otsu(level)
    if min_contrast > 0:  # judged on intensities, whatever the threshold was found on
        background = img[~fg]
        spread = 1.4826 * float(np.median(np.abs(background - np.median(background))))
        if float(np.median(img[fg])) - float(np.median(background)) < min_contrast * max(spread, 1e-12):
            return np.zeros(img.shape, dtype=bool)
    fg = ndi.binary_fill_holes(fg)
    return _remove_small(fg, min_area)


def _remove_small(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop objects with fewer than ``min_area`` pixels (bool mask or label image)."""
    if min_area <= 1:
        return mask
    # max_size = min_area - 1: objects with area <= max_size (i.e. < min_area) go.
    # connectivity=2 matches measure.label's default, so "object" means the same
    # thing here and in the final labelling.
    with warnings.catch_warnings():
        # skimage warns when a label image holds a single object ("did you mean
        # a boolean array?"); for us that is a normal case, not a mistake.
        warnings.filterwarnings("ignore", message="Only one label was provided", category=UserWarning)
        return morphology.remove_small_objects(mask, max_size=min_area - 1, connectivity=mask.ndim)


def _finish(labels: np.ndarray, min_area: int, clear_border: bool) -> np.ndarray:
    """Shared tail of all methods: size filter, border filter, sequential int32 labels."""
    labels = _remove_small(labels, min_area)
    if clear_border:
        labels = segmentation.clear_border(labels)
    labels, _, _ = segmentation.relabel_sequential(labels)
    return labels.astype(np.int32, copy=False)


def _split_touching(fg: np.ndarray, min_distance: int, distance_sigma: float = _DISTANCE_SMOOTHING_SIGMA) -> np.ndarray:
    """Distance-transform watershed: one marker per local maximum of the EDT (smoothed by
    ``distance_sigma`` px, so an irregular outline does not make several maxima)."""
    dist = ndi.distance_transform_edt(fg)
    if distance_sigma > 0:
        dist = filters.gaussian(dist, sigma=distance_sigma, preserve_range=True)
        dist[~fg] = 0
    components = measure.label(fg)
    peaks = feature.peak_local_max(dist, min_distance=min_distance, labels=components, exclude_border=False)
    markers = np.zeros(fg.shape, dtype=np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    # A component without any peak (flat plateau) still gets one marker so it is
    # not silently lost by the watershed.
    unmarked = np.setdiff1d(np.unique(components[fg]), np.unique(components[markers > 0]))
    for i, comp in enumerate(unmarked, start=len(peaks) + 1):
        ys, xs = np.nonzero(components == comp)
        markers[ys[0], xs[0]] = i
    return segmentation.watershed(-dist, markers, mask=fg)


@dataclass(frozen=True)
class SegmentationSettings:
    """How ``segment_field`` segments a field: the method and its settings (the config's
    ``segmentation`` block, less its channel and downsampling), with the defaults a block may omit.

    ``min_area`` (px) removes debris and fragments; ``clear_border`` removes cells cut by the
    field edge, whose crops would be incomplete. ``min_contrast`` (Otsu methods; 0 disables)
    makes an empty field come out empty rather than as thresholded noise. ``background_radius``
    (``nuclei_watershed``; px, above the largest nucleus's radius; 0: off) evens out uneven
    illumination before thresholding. ``cellpose_model`` and ``cellpose_diameter``: see
    ``cellpose_labels``.
    """

    method: str
    smoothing_sigma: float = 2.0
    min_area: int = 400
    clear_border: bool = False
    watershed_min_distance: int = 5
    min_contrast: float = 5.0
    distance_sigma: float = 3.0
    background_radius: float = 100.0
    cellpose_model: str = "nuclei"
    cellpose_diameter: float | None = None


@dataclass(frozen=True)
class RelativeLengths:
    """The length settings of ``scale: auto`` in units of a field's typical object diameter D
    (``crops.scale.field_diameter``): ``min_area`` as a fraction of that object's area, pi D^2 / 4,
    the others in diameters. Pixel settings fit one magnification; these fit every one, since
    an image at half the magnification has half the D and so half of every length."""

    smoothing_sigma: float
    min_area: float
    watershed_min_distance: float
    distance_sigma: float
    background_radius: float

    def at(self, diameter: float, settings: SegmentationSettings) -> SegmentationSettings:
        """``settings`` with its lengths in the pixels of a field whose objects are ``diameter`` px across."""
        d = float(diameter)
        return replace(
            settings,
            smoothing_sigma=self.smoothing_sigma * d,
            min_area=max(0, int(round(self.min_area * np.pi * d * d / 4))),
            watershed_min_distance=max(1, int(round(self.watershed_min_distance * d))),
            distance_sigma=self.distance_sigma * d,
            background_radius=self.background_radius * d,
        )


#: the length settings, in pixels with ``scale: fixed``; each thresholding method reads those below,
#: which with ``scale: auto`` are set per field from its objects' diameter
LENGTH_KEYS = tuple(f.name for f in fields(RelativeLengths))
LENGTHS = {
    "nuclei_otsu": ("smoothing_sigma", "min_area"),
    "nuclei_watershed": LENGTH_KEYS,
    "cells_watershed": ("smoothing_sigma", "min_area", "watershed_min_distance"),
}


def segment_field(channel: np.ndarray, settings: SegmentationSettings, mask: np.ndarray | None = None) -> np.ndarray:
    """Return an int32 label image (0 = background, objects 1..n, sequential) of the same shape as `channel`.

    ``mask`` is required for (and only used by) ``method="provided"``.
    """
    s = settings
    _check_args(channel, s.method, s.smoothing_sigma, s.min_area, s.watershed_min_distance, s.background_radius)
    channel = np.asarray(channel)
    if s.method == "provided":
        return _finish(_provided_labels(channel, mask), s.min_area, s.clear_border)
    if s.method == "cellpose":
        return _finish(cellpose_labels(channel, s.cellpose_model, s.cellpose_diameter), s.min_area, s.clear_border)
    if s.method == "nuclei_watershed":
        fg = foreground(channel, s.smoothing_sigma, s.min_area, s.min_contrast, True, s.background_radius)
        return _finish(_split_touching(fg, s.watershed_min_distance, s.distance_sigma), s.min_area, s.clear_border)
    fg = foreground(channel, s.smoothing_sigma, s.min_area, s.min_contrast)
    if s.method == "nuclei_otsu":
        labels = measure.label(fg)
    else:  # cells_watershed
        labels = _split_touching(fg, s.watershed_min_distance)
    return _finish(labels, s.min_area, s.clear_border)


def _provided_labels(channel: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The user's mask, checked against the channel, as int64 labels (``provided`` only cleans them)."""
    if mask is None:
        raise ValueError("method 'provided' requires a mask argument")
    mask = np.asarray(mask)
    if mask.shape != channel.shape:
        raise ValueError(f"mask shape {mask.shape} does not match channel shape {channel.shape}")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        raise ValueError(f"mask must have an integer dtype, got {mask.dtype}")
    labels = mask.astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError("mask must not contain negative labels")
    return labels


def cellpose_labels(channel: np.ndarray, model: str, diameter: float | None) -> np.ndarray:
    """Cellpose's label image of one field (its ``model``: ``nuclei``, ``cyto3``, a path to a
    trained model; ``diameter`` in pixels, None: Cellpose estimates it). A missing package or
    model stops with one line naming it."""
    from pcinpaint.errors import ConfigError, one_line

    net = _cellpose_model(model)
    try:
        masks = net.eval(np.asarray(channel, np.float32), diameter=diameter, channels=[0, 0])[0]
    except Exception as exc:
        raise ConfigError(f"segmentation.method cellpose: model '{model}' failed on a field: {one_line(exc)}") from None
    return np.asarray(masks).astype(np.int64)


def _cellpose_version() -> str | None:
    """The installed Cellpose release (None where the package has no metadata)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cellpose")
    except PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=4)
def _cellpose_model(model: str):
    """The Cellpose network, loaded once per job (a chunk segments many fields)."""
    from pcinpaint.errors import ConfigError, one_line

    try:
        from cellpose import models
    except ImportError:
        raise ConfigError(
            f"segmentation.method cellpose needs the cellpose package: pip install 'cellpose{CELLPOSE_SUPPORTED}' "
            "(and its model weights), or choose nuclei_watershed"
        ) from None
    installed = _cellpose_version()
    if installed and int(installed.split(".")[0]) >= 4:
        raise ConfigError(
            f"segmentation.method cellpose: Cellpose {installed} always loads Cellpose-SAM and ignores "
            f"segmentation.cellpose_model ('{model}'); install 'cellpose{CELLPOSE_SUPPORTED}'"
        )
    try:  # gpu=True: Cellpose uses a GPU when torch sees one, else the CPU
        return models.CellposeModel(gpu=True, model_type=model)
    except Exception as exc:
        raise ConfigError(
            f"segmentation.cellpose_model: cannot load Cellpose model '{model}': {one_line(exc)}"
        ) from None
