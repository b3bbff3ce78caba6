"""The paper's crop preprocessing, and the normalisation of crops that arrive cropped.

``preprocess_crops`` is applied to every crop the workflow stores: per-crop, per-channel
min-max rescaling and the clipping of faint structural-marker signal (``markers="per_crop"``),
or the paper's human code (``markers="reference"``; see ``preprocess_crops``). Crops made elsewhere
(crop folders, labelled HDF5 sets) are first resized to the model's size and normalised per
crop as their source needs (``normalise_crops``):

* ``"per_crop"`` (default): each channel of each crop min-max scaled to [0, 1], as the
  reference loaders do (``skimage.exposure.rescale_intensity`` per cell and channel). Right
  for the yeast toy crops, whose float values have an arbitrary, cell-to-cell varying range.
* ``"none"``: values passed on as read. Since ``preprocess_crops`` itself min-max scales every
  crop, this stores the same crops as ``"per_crop"``; it exists so a config can say that the
  files are already scaled (the human toy crops are in [0, 1]).
* ``"percentile"``: each channel of each crop clipped to its ``percentiles`` (default 0.1 and
  99.9, DeepLoc's stretch of the Chong et al. crops) before scaling, so a few hot pixels do not
  squeeze the rest of the cell into the bottom grey levels.

A scaling over the whole set (one range per channel) would not survive: ``preprocess_crops``
rescales each crop, so only per-crop choices change what is stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from skimage import transform

from pcinpaint.errors import ConfigError

NORMALISE = ("none", "per_crop", "percentile")
MARKERS = ("per_crop", "reference")


def preprocess_crops(
    crops: np.ndarray,
    structural: Sequence[int],
    clip_below: float = 0.0,
    markers: str = "per_crop",
    reference_max: float = 255.0,
) -> np.ndarray:
    """Min-max rescale each crop's channels to [0, 1], then zero structural values below ``clip_below``.

    Per-crop rescaling removes brightness differences between cells and fields
    (the paper's preprocessing); a constant channel carries no information and
    becomes all 0 rather than NaN.  Clipping the structural channels (the
    paper's human preset: nuclei and microtubules below 0.05) removes faint
    background and neighbouring-cell signal from the marker the model is
    conditioned on.  Returns a new float32 array.

    ``markers="reference"`` is what the paper's human code does, and what its published human
    weights expect: only the protein channels are min-maxed per crop; a structural channel is
    read as ``x = intensity / reference_max`` and mapped by the fixed window
    ``(clip(x, clip_below, 1) - clip_below) / (1 - clip_below)``, so a dim nucleus stays dim
    (with 0.05: x = [0, 0.03, 0.5, 1] -> [0, 0, 0.4737, 1]).
    """
    if markers not in MARKERS:
        raise ConfigError(f"preprocess.markers: unknown '{markers}'; choose one of {list(MARKERS)}")
    crops = np.asarray(crops)
    if crops.ndim != 4:
        raise ValueError(f"crops must be (N, C, H, W), got shape {crops.shape}")
    n_channels = crops.shape[1]
    idx = np.asarray(list(structural), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n_channels):
        raise ValueError(f"structural channel indices {idx.tolist()} out of range for {n_channels} channels")

    x = crops.astype(np.float64)  # always a copy: the input is never modified
    lo = x.min(axis=(2, 3), keepdims=True) if x.size else np.zeros(x.shape[:2] + (1, 1))
    hi = x.max(axis=(2, 3), keepdims=True) if x.size else np.zeros(x.shape[:2] + (1, 1))
    span = hi - lo
    varies = span > 0
    x -= lo
    x /= np.where(varies, span, 1.0)
    x *= varies  # constant channels -> 0
    if idx.size and markers == "reference":
        window = np.clip(crops[:, idx].astype(np.float64) / reference_max, clip_below, 1.0)
        x[:, idx] = (window - clip_below) / (1.0 - clip_below) if clip_below < 1 else 0.0
    elif idx.size:
        sub = x[:, idx]
        sub[sub < clip_below] = 0.0
        x[:, idx] = sub
    return x.astype(np.float32)


def normalise_crops(
    crops: np.ndarray, mode: str = "per_crop", percentiles: tuple[float, float] = (0.1, 99.9)
) -> np.ndarray:
    """Scale crops (N, C, H, W) per crop and channel as ``mode`` says (module docstring)."""
    if mode not in NORMALISE:
        raise ConfigError(f"crops.normalise: unknown mode '{mode}'; choose one of {list(NORMALISE)}")
    crops = np.asarray(crops, np.float32)
    if mode == "none" or crops.size == 0:
        return crops
    if mode == "per_crop":
        return preprocess_crops(crops, structural=())
    lo_p, hi_p = percentiles
    if not 0 <= lo_p < hi_p <= 100:
        raise ConfigError(f"crops.percentiles: need 0 <= low < high <= 100, got {percentiles}")
    lo, hi = np.percentile(crops, [lo_p, hi_p], axis=(2, 3), keepdims=True)
    span = hi - lo
    varies = span > 0
    out = (np.clip(crops, lo, hi) - lo) / np.where(varies, span, 1.0)
    return (out * varies).astype(np.float32)


def resize_crops(crops: np.ndarray, model_size: int) -> np.ndarray:
    """(N, C, H, W) -> (N, C, model_size, model_size), bilinear, anti-aliased when shrinking."""
    n, c, h, w = crops.shape
    if (h, w) == (model_size, model_size) or n == 0:
        return crops.astype(np.float32, copy=False)
    out = transform.resize(
        crops,
        (n, c, model_size, model_size),
        order=1,
        mode="reflect",
        preserve_range=True,
        anti_aliasing=model_size < max(h, w),
    )
    return out.astype(np.float32, copy=False)
