"""Quality flags of whole fields: blank or saturated protein channel, out of focus, empty.

Per-crop scaling hides a bad field: a blank protein channel and one saturated over the cells
both become flat crops, which the features then cluster together as if they were a
localization. The segmentation jobs measure each field (``protein_measures``, ``structure_measures``: in
``qc/fields.tsv``); ``field_flags`` turns the numbers into flags with the dataset's ``qc``
thresholds, so a changed threshold needs no new segmentation; ``flag_fields`` does it for the
gather and marks the fields whose cells ``qc.drop_flagged`` leaves out.

Focus is the blur of the objects' edges in the segmented (structural) channel as a fraction
of the objects' diameter, from how much a further blur of an eighth of a diameter takes off the
gradient at the outlines (``edge_width``). Both scale with magnification, so their ratio does
not: on a real nuclei field (CellProfiler's ExampleHuman, nuclei about 11 px across) it read
0.060, 0.074, 0.087 and 0.095 sharp and blurred by 1, 2 and 3 px, and 0.044, 0.069, 0.087 and
0.097 for the same field magnified 4x and blurred by 4, 8 and 12 px. Sharp real fields of
three kinds (that one, Coelho 2009 U2OS and NIH3T3 nuclei, yeast cytosol) read 0.014-0.060 and
the simulated screens 0.016-0.033; a blur of a tenth to a fifth of a diameter reads 0.07-0.14.
Objects under about 6 px across read as blurred whatever the focus (at half that field's size:
0.095): their edges are a large part of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from pcinpaint.config import CONFIG_SCHEMA, DatasetConfig, load_schema, validate_instance
from pcinpaint.crops.segment import block_mean
from pcinpaint.errors import InputError

FLAGS = ("blank", "saturated", "out_of_focus", "empty")
#: the numbers the segmentation jobs record per field (columns of qc/fields.tsv)
MEASURES = ("protein_contrast", "saturated_fraction", "edge_width", "foreground_fraction")
#: Laplacian-like kernel whose response to flat or sloped regions is 0 and to white noise of
#: sigma s has standard deviation 6 s (Immerkaer 1996); its median absolute value gives the noise
_NOISE_KERNEL = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
#: objects more than twice this many px across are measured on blocks that leave them 32-64 px
#: across: 4-36x less work on a large field, and sharp fields read at most 0.015 higher
#: (0.012-0.036 at full size on Coelho 2009 nuclei about 90 px across; blurred ones alike)
MEASURED_DIAMETER = 32


def qc_settings(cfg: DatasetConfig) -> dict:
    """The dataset's ``qc`` block with the schema's defaults (a config without one gets them all)."""
    schema = load_schema(CONFIG_SCHEMA)["$defs"]["qc"]
    return validate_instance(dict(cfg.raw.get("qc") or {}), schema, f"datasets.{cfg.name}.qc")


def noise_sigma(plane: np.ndarray) -> float:
    """Standard deviation of the pixel noise, robust to the image's structure."""
    response = ndi.convolve(plane.astype(np.float32, copy=False), _NOISE_KERNEL, mode="reflect")
    return float(np.median(np.abs(response)) / 0.6745 / 6.0)


def protein_contrast(plane: np.ndarray) -> float:
    """The channel's range (0.1 to 99.9th percentile) in units of its noise: about 6 for noise
    alone, 0 for a constant channel, hundreds for a stained one."""
    low, high = np.percentile(plane, [0.1, 99.9])
    spread = float(high - low)
    if spread <= 0:
        return 0.0
    noise = noise_sigma(plane)
    return spread / noise if noise > 0 else float("inf")


def saturated_fraction(plane: np.ndarray) -> float:
    """Share of pixels at the channel's maximum: a clipped camera leaves a plateau there, an
    unclipped one a few pixels. A constant channel counts as blank, not saturated (0)."""
    top = plane.max()
    if top <= plane.min():
        return 0.0
    return float(np.count_nonzero(plane == top) / plane.size)


def _gradient2(plane: np.ndarray) -> np.ndarray:
    return (ndi.sobel(plane, 0) / 8) ** 2 + (ndi.sobel(plane, 1) / 8) ** 2


def _noise_gain(sigma: float) -> float:
    """Mean squared gradient of unit white noise after a Gaussian blur of ``sigma``."""
    size = 2 * int(4 * sigma + 3) + 1
    delta = np.zeros((size, size), np.float32)
    delta[size // 2, size // 2] = 1
    return float(_gradient2(ndi.gaussian_filter(delta, sigma) if sigma else delta).sum())


def edge_width(plane: np.ndarray, labels: np.ndarray) -> float:
    """The blur (Gaussian sigma) of the objects' edges over their median diameter d.

    Across an edge blurred by sigma the squared gradient integrates to step^2 / (2 sigma
    sqrt(pi)); blurred again by s it falls by sigma / sqrt(sigma^2 + s^2), whatever the step.
    The ratio of the two, summed over a band of d/3 either side of the outlines (less the
    noise's share), gives sigma wherever in the edge the threshold put the outline; s = d/8.
    NaN without objects."""
    areas = np.bincount(labels.ravel())[1:]
    areas = areas[areas > 0]
    if not len(areas):
        return float("nan")
    diameter = float(np.median(2 * np.sqrt(areas / np.pi)))
    factor = int(diameter // MEASURED_DIAMETER)
    if factor > 1:
        labels = labels[factor // 2 :: factor, factor // 2 :: factor]
        plane = block_mean(plane, factor)[: labels.shape[0], : labels.shape[1]]
        diameter /= factor
    s = diameter / 8
    plane = plane.astype(np.float32, copy=False)
    fg = labels > 0
    # pixels with both object and background within d/3 (a box: a distance transform costs 8x)
    share = ndi.uniform_filter(fg.astype(np.float32), size=2 * int(diameter / 3) + 1)
    band = (share > 1e-3) & (share < 1 - 1e-3)
    noise2 = noise_sigma(plane) ** 2
    sharp = _gradient2(plane)[band].sum() - noise2 * _noise_gain(0) * band.sum()
    blurred = _gradient2(ndi.gaussian_filter(plane, s))[band].sum() - noise2 * _noise_gain(s) * band.sum()
    if sharp <= 0 or blurred <= 0:
        return float("nan")
    ratio = min(blurred / sharp, 0.999)
    return float(s * ratio / np.sqrt(1 - ratio**2) / diameter)


def protein_measures(field: np.ndarray, protein: Sequence[int]) -> dict:
    """Contrast (the worst protein channel's) and saturation (the worst's) of a raw field."""
    return {
        "protein_contrast": min(protein_contrast(field[c]) for c in protein),
        "saturated_fraction": max(saturated_fraction(field[c]) for c in protein),
    }


def structure_measures(channel: np.ndarray, labels: np.ndarray) -> dict:
    """Edge width and foreground of the segmented channel, at the segmentation's scale."""
    return {"edge_width": edge_width(channel, labels), "foreground_fraction": float(np.mean(labels > 0))}


def field_flags(fields: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """``fields`` with a boolean ``flag_<name>`` column per flag and ``flags`` (the names, comma
    separated; empty when none). Needs the ``MEASURES`` columns; a field not measured (NaN)
    gets no flag from that measure."""
    out = fields.copy()
    out["flag_blank"] = out["protein_contrast"] < settings["blank_contrast"]
    out["flag_saturated"] = out["saturated_fraction"] > settings["saturated_fraction"]
    out["flag_out_of_focus"] = out["edge_width"] > settings["focus_threshold"]
    out["flag_empty"] = out["foreground_fraction"] <= settings["min_foreground"]
    marks = out[[f"flag_{f}" for f in FLAGS]].to_numpy(bool)
    out["flags"] = [",".join(f for f, on in zip(FLAGS, row) if on) for row in marks]
    return out


def flag_fields(per_field: pd.DataFrame | None, settings: dict, source: str = "") -> pd.DataFrame | None:
    """field_id, the flag columns and ``drop`` (a flag ``qc.drop_flagged`` names), from the
    chunks' measures (``source``: their table, for messages); None when the chunks recorded none
    (and nothing is to be dropped)."""
    drop = settings["drop_flagged"]
    if per_field is None or not set(MEASURES) <= set(per_field.columns):
        if drop:
            raise InputError(
                f"{source}: no field quality measures (written before they were recorded), which "
                "qc.drop_flagged needs; rerun the segment jobs: snakemake -R segment"
            )
        return None
    measures = per_field[list(MEASURES)].apply(pd.to_numeric, errors="coerce")  # chunk tables are read as text
    flags = field_flags(measures.assign(field_id=per_field["field_id"].astype(str)), settings)
    flags["drop"] = flags[[f"flag_{f}" for f in drop]].any(axis=1) if drop else False
    return flags


def flag_note(flags: str, drop: Sequence[str]) -> str:
    """What a figure says of a field's flags ("" when none): the flags, and whether its cells
    were left out."""
    if not flags:
        return ""
    names = flags.split(",")
    dropped = " (cells dropped)" if set(names) & set(drop) else ""
    return f"flagged: {', '.join(names)}{dropped}"


def describe_flags(fields: pd.DataFrame, drop: Sequence[str]) -> list[str]:
    """One line per flag raised: how many fields, and whether their cells were dropped."""
    lines = []
    for flag in FLAGS:
        flagged = fields[fields[f"flag_{flag}"]]
        if flagged.empty:
            continue
        action = (
            f"{int(flagged['n_field_flagged'].sum()):,} cells dropped (qc.drop_flagged)"
            if flag in drop
            else "cells kept (add it to qc.drop_flagged to drop them)"
        )
        examples = ", ".join(map(str, flagged["field_id"].head(3))) + (", ..." if len(flagged) > 3 else "")
        noun = "field" if len(flagged) == 1 else "fields"
        lines.append(f"{len(flagged):,} {noun} flagged {flag} ({examples}): {action}")
    return lines
