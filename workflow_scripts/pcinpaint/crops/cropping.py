"""Single-cell crops cut out of segmented fields.

Paired cell inpainting (Lu et al. 2019) trains on fixed-size crops centred on
each segmented cell.  ``crop_cells`` cuts those crops out of a multi-channel
field and records why any cell was not used, so the filtering is auditable;
``preprocess.preprocess_crops`` then applies the paper's rescaling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from skimage import measure, transform

BORDER_MODES = ("drop", "pad")

_OBJECT_COLUMNS = ("label", "centroid_y", "centroid_x", "area")


def measure_objects(labels: np.ndarray) -> pd.DataFrame:
    """One row per object: label, centroid_y, centroid_x (centre of mass, field pixels, float), area (px).

    Rows are in increasing label order; the centre of mass is of the object's
    pixels (unweighted), which is where its crop is centred.
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2D label image, got shape {labels.shape}")
    if not (np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool):
        raise ValueError(f"labels must have an integer dtype, got {labels.dtype}")
    props = measure.regionprops_table(labels.astype(np.int64, copy=False), properties=("label", "centroid", "area"))
    return pd.DataFrame(
        {
            "label": np.asarray(props["label"], dtype=np.int64),
            "centroid_y": np.asarray(props["centroid-0"], dtype=np.float64),
            "centroid_x": np.asarray(props["centroid-1"], dtype=np.float64),
            "area": np.asarray(props["area"], dtype=np.int64),
        }
    )


def _round_half_up(values: np.ndarray) -> np.ndarray:
    """Nearest pixel, .5 rounded up (np.rint rounds half to even, which is less predictable)."""
    return np.floor(values + 0.5).astype(np.int64)


@dataclass(frozen=True)
class CropSettings:
    """How ``crop_cells`` cuts crops: the window's side (px of the field), the side crops are
    resized to, the area-fraction filter, what happens at the field's edge, and whether windows
    are sampled at sub-pixel positions (crops scaled to the cells)."""

    crop_size: float
    model_size: int = 64
    area_fraction: tuple[float, float] = (0.05, 0.95)
    border: str = "drop"
    subpixel: bool = False


def crop_cells(field: np.ndarray, labels: np.ndarray, settings: CropSettings) -> tuple[np.ndarray, pd.DataFrame]:
    """Cut one ``crop_size`` square per object around its centre of mass and resize it to ``model_size``.

    Returns ``(crops, objects)``: ``objects`` is ``measure_objects(labels)`` plus
    ``kept`` (bool) and ``drop_reason`` ("" when kept, else "area_fraction_low",
    "area_fraction_high" or "leaves_field") and ``padded`` (kept, window partly
    outside the field); ``crops`` is float32
    (n_kept, C, model_size, model_size), one per kept row, in the same order.

    The area-fraction test (the paper drops yeast cells filling <5% or >95% of
    the crop: debris or clumps) is applied first, so an object failing both
    tests is reported with its area-fraction reason.  With ``border="pad"`` a
    window leaving the field is kept and filled outside with the field's
    background level (per channel, the median of pixels outside every object):
    padding with 0 would sit below the camera offset and show as a dark frame
    after the per-crop rescaling.

    The paper's crops (``subpixel=False``) are whole-pixel windows around the rounded centre, of
    an integer ``crop_size``. Crops scaled to the cells (``subpixel=True``) are sampled on the
    model's grid at the exact centre and a fractional ``crop_size``: a field and its copy at half
    the magnification then give the same crop, where whole pixels would shift and size them by
    up to half a pixel of the smaller image.
    """
    crop_size, model_size, area_fraction = settings.crop_size, settings.model_size, settings.area_fraction
    border, subpixel = settings.border, settings.subpixel
    field = np.asarray(field)
    labels = np.asarray(labels)
    if field.ndim != 3:
        raise ValueError(f"field must be a (C, H, W) array, got shape {field.shape}")
    if labels.shape != field.shape[1:]:
        raise ValueError(f"labels shape {labels.shape} does not match field spatial shape {field.shape[1:]}")
    whole = isinstance(crop_size, (int, np.integer)) and not isinstance(crop_size, bool)
    if not (whole or (subpixel and isinstance(crop_size, (float, np.floating)))) or crop_size < 1:
        kind = "a positive number" if subpixel else "a positive integer"
        raise ValueError(f"crop_size must be {kind}, got {crop_size!r}")
    if isinstance(model_size, bool) or not isinstance(model_size, (int, np.integer)) or model_size < 1:
        raise ValueError(f"model_size must be a positive integer, got {model_size!r}")
    if border not in BORDER_MODES:
        raise ValueError(f"unknown border mode {border!r}; expected one of {BORDER_MODES}")
    lo, hi = area_fraction
    if not 0 <= lo <= hi:
        raise ValueError(f"area_fraction must be (lo, hi) with 0 <= lo <= hi, got {area_fraction!r}")
    model_size = int(model_size)
    field = field.astype(np.float32, copy=False)
    height, width = field.shape[1:]

    objects = measure_objects(labels)
    fraction = objects["area"].to_numpy() / float(crop_size * crop_size)
    cy, cx = objects["centroid_y"].to_numpy(), objects["centroid_x"].to_numpy()
    if subpixel:  # the window's edges, in pixel-centre coordinates
        y0, x0 = cy - crop_size / 2 + 0.5, cx - crop_size / 2 + 0.5
    else:
        crop_size = int(crop_size)
        y0 = _round_half_up(cy) - crop_size // 2
        x0 = _round_half_up(cx) - crop_size // 2
    leaves = (y0 < 0) | (x0 < 0) | (y0 + crop_size > height) | (x0 + crop_size > width)

    reason = np.full(len(objects), "", dtype=object)
    if border == "drop":
        reason[leaves] = "leaves_field"
    reason[fraction > hi] = "area_fraction_high"
    reason[fraction < lo] = "area_fraction_low"
    kept = reason == ""
    objects["kept"] = kept.astype(bool)
    objects["drop_reason"] = pd.Series(reason.tolist(), dtype=str, index=objects.index)
    objects["padded"] = (kept & leaves).astype(bool)  # kept with part of the window outside the field

    background = labels == 0
    padding = border == "pad" and leaves[kept].any()
    fill = (
        np.median(field[:, background], axis=1) if padding and background.any() else np.zeros(field.shape[0])
    ).astype(np.float32)
    if subpixel:
        return _sample_crops(field, cy[kept], cx[kept], float(crop_size), model_size, fill), objects
    return _cut_and_resize(field, y0[kept], x0[kept], crop_size, model_size, fill if padding else None), objects


def _cut_and_resize(
    field: np.ndarray, y0: np.ndarray, x0: np.ndarray, crop_size: int, model_size: int, fill: np.ndarray | None
) -> np.ndarray:
    """The paper's crops: whole-pixel windows from (y0, x0), resized to ``model_size``; ``fill``
    (per channel) outside the field, None when no window leaves it."""
    n_channels = field.shape[0]
    # Pad once by a full crop on every side so any window (including ones
    # hanging off the field in "pad" mode) is a plain slice of `padded`.
    pad = crop_size if fill is not None else 0
    if pad:
        padded = np.empty((n_channels, field.shape[1] + 2 * pad, field.shape[2] + 2 * pad), field.dtype)
        padded[:] = fill[:, None, None]
        padded[:, pad : pad + field.shape[1], pad : pad + field.shape[2]] = field
    else:
        padded = field
    raw = np.empty((len(y0), n_channels, crop_size, crop_size), dtype=np.float32)
    for i, (y, x) in enumerate(zip(y0 + pad, x0 + pad)):
        raw[i] = padded[:, y : y + crop_size, x : x + crop_size]

    if crop_size == model_size:
        return raw
    out_shape = (raw.shape[0], n_channels, model_size, model_size)
    if raw.shape[0] == 0:
        return np.empty(out_shape, dtype=np.float32)
    # One call for the whole batch: the batch and channel axes have scale 1, so
    # they get no interpolation and no anti-aliasing blur.
    crops = transform.resize(
        raw, out_shape, order=1, mode="reflect", preserve_range=True, anti_aliasing=model_size < crop_size
    )
    return crops.astype(np.float32, copy=False)


def _sample_crops(
    field: np.ndarray, cy: np.ndarray, cx: np.ndarray, crop_size: float, model_size: int, fill: np.ndarray
) -> np.ndarray:
    """Crops scaled to the cells: the field sampled (bilinear) on a ``model_size`` grid spanning
    ``crop_size`` px around each exact centre, after the anti-aliasing blur ``transform.resize``
    applies when shrinking (sigma (step - 1) / 2); ``fill`` (per channel) outside the field."""
    from scipy import ndimage as ndi

    step = crop_size / model_size
    offsets = (np.arange(model_size) - (model_size - 1) / 2) * step
    out = np.empty((len(cy), field.shape[0], model_size, model_size), np.float32)
    if not len(cy):
        return out
    ys = (cy[:, None] + offsets[None, :])[:, :, None] + np.zeros(model_size)  # (n, S, S)
    xs = (cx[:, None] + offsets[None, :])[:, None, :] + np.zeros((model_size, 1))
    # the field's pixels reach half a pixel past their centres: only samples beyond that are fill
    outside = (ys < -0.5) | (ys > field.shape[1] - 0.5) | (xs < -0.5) | (xs > field.shape[2] - 0.5)
    for c, channel in enumerate(field):
        if step > 1:
            channel = ndi.gaussian_filter(channel, (step - 1) / 2, mode="reflect")
        out[:, c] = np.where(outside, fill[c], ndi.map_coordinates(channel, [ys, xs], order=1, mode="nearest"))
    return out
