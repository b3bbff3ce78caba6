"""Segmenting one chunk of fields: the ``segment`` rule's driver.

Fields are split into chunks (whole images per chunk) so a cluster segments them in
parallel; each chunk writes its preprocessed uint8 crops, a table of *every* detected object
(kept or not, with the reason) and a table of its fields (non-finite pixels read as 0, the
image's cell diameter and crop size, the quality measures of ``crops.qc``, taken while the
fields are read). ``crops.gather`` then joins the chunks into the crop store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.cropping import CropSettings, crop_cells
from pcinpaint.crops.preprocess import preprocess_crops
from pcinpaint.crops.qc import MEASURES, protein_measures, structure_measures
from pcinpaint.crops.scale import cell_diameter, field_diameter, scaled_crop_size
from pcinpaint.crops.segment import (
    LENGTH_KEYS,
    LENGTHS,
    RelativeLengths,
    SegmentationSettings,
    block_mean,
    segment_field,
)
from pcinpaint.crops.store import to_uint8
from pcinpaint.errors import InputError
from pcinpaint.inputs.files import read_image
from pcinpaint.inputs.samplesheet import SHEET_OPTIONAL, SHEET_REQUIRED, read_field_counted, read_mask, row_name
from pcinpaint.io import atomic_path, read_table, write_table

#: sample-sheet columns copied to every cell (the optional ones only when some field has them)
OPTIONAL_META = tuple(c for c in SHEET_OPTIONAL if c != "mask")
SHEET_META = (*SHEET_REQUIRED, *OPTIONAL_META)
#: segmentation keys set in ``SegmentationSettings`` only when the config block has them (the lengths
#: in pixels are absent with ``scale: auto``; the others from blocks written before they existed)
OPTIONAL_SEGMENTATION = (*LENGTH_KEYS, "cellpose_model", "cellpose_diameter")
#: what a chunk records per field: non-finite pixels read as 0, the image's cell diameter and crop size
#: (crops.crop_diameters), the quality measures
FIELD_COLUMNS = ["field_id", "n_nonfinite", "cell_diameter", "crop_size", *MEASURES]
#: the per-field record of ``scale: auto``: the diameter measured (px at the segmentation's scale)
DIAMETER_COLUMN = "segmentation_diameter"


def chunk_rows(sheet: pd.DataFrame, n_chunks: int, chunk: int) -> pd.DataFrame:
    """Rows of chunk ``chunk`` (0-based): whole images, dealt round-robin in sorted order."""
    images = sorted(sheet["image_id"].unique())
    mine = set(images[chunk::n_chunks])
    return sheet[sheet["image_id"].isin(mine)]


def truth_mask_paths(truth_fields: str | Path) -> dict[str, str]:
    """field_id -> truth label mask path, from the simulator's truth_fields.tsv."""
    truth_fields = Path(truth_fields)
    table = read_table(truth_fields)
    return {f: str(truth_fields.parent / m) for f, m in zip(table["field_id"], table["mask"])}


def segment_and_crop(field: np.ndarray, cfg: DatasetConfig, mask: np.ndarray | None = None, crop_size=None):
    """One field (C, H, W) -> (labels, preprocessed float crops, objects table).

    The objects table names each object's value in ``labels`` ``object_id``. ``crop_size``
    (px at the segmentation's scale, fractional) overrides the config's: crops scaled to the
    cells, sampled at sub-pixel positions.
    """
    field, labels, _ = segment(field, cfg, mask)
    crops, objects = crop(field, labels, cfg, crop_size)
    return labels, crops, objects


def segmentation_settings(cfg: DatasetConfig) -> SegmentationSettings:
    """The dataset's ``segmentation`` block as ``segment_field`` takes it."""
    seg = cfg.segmentation
    return SegmentationSettings(
        seg["method"],
        clear_border=seg["clear_border"],
        min_contrast=seg["min_contrast"],
        # keys a block may lack: the settings' defaults apply
        **{key: seg[key] for key in OPTIONAL_SEGMENTATION if key in seg},
    )


def relative_lengths(cfg: DatasetConfig) -> RelativeLengths | None:
    """The dataset's lengths in object diameters with ``segmentation.scale: auto``, else None."""
    seg = cfg.segmentation
    return RelativeLengths(**seg["relative"]) if seg.get("scale") == "auto" else None


def segment_channel(
    channel: np.ndarray,
    settings: SegmentationSettings,
    relative: RelativeLengths | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """(label image, the scale it was segmented at) of one segmentation channel. With
    ``relative`` lengths the field's object diameter is measured first (``field_diameter``) and
    its lengths are those diameters in pixels; the record is that diameter and those lengths
    (``segmentation_<setting>``, the ones the method reads). A field in which no object stands out
    (the ``min_contrast`` test) has no diameter and no objects. Without: ``settings`` as they are,
    and an empty record."""
    if relative is None:
        return segment_field(channel, settings, mask=mask), {}
    diameter = field_diameter(channel, settings.min_contrast)
    names = [f"segmentation_{key}" for key in LENGTHS[settings.method]]
    if not np.isfinite(diameter):
        return np.zeros(np.shape(channel), np.int32), {DIAMETER_COLUMN: diameter} | dict.fromkeys(names, np.nan)
    settings = relative.at(diameter, settings)
    lengths = {name: getattr(settings, key) for name, key in zip(names, LENGTHS[settings.method])}
    return segment_field(channel, settings, mask=mask), {DIAMETER_COLUMN: diameter, **lengths}


def scale_lines(fields: pd.DataFrame) -> list[str]:
    """The segmentation log's account of ``scale: auto`` (none with fixed): per field, the diameter
    measured and the lengths in pixels it gave, then the diameters' range and the fields without one."""
    if DIAMETER_COLUMN not in fields.columns:
        return []
    lengths = [c for c in fields.columns if c.startswith("segmentation_") and c != DIAMETER_COLUMN]
    lines = []
    for row in fields.itertuples(index=False):
        d = getattr(row, DIAMETER_COLUMN)
        if not np.isfinite(d):
            lines.append(f"field {row.field_id}: no object stands out (min_contrast): no diameter, no objects")
            continue
        said = ", ".join(f"{c.removeprefix('segmentation_')} {getattr(row, c):.4g}" for c in lengths)
        lines.append(f"field {row.field_id}: diameter {d:.1f} px, so {said}")
    measured = fields[DIAMETER_COLUMN].dropna()
    if len(measured):
        lines.append(
            f"scale auto: diameters {measured.min():.1f}-{measured.max():.1f} px (median {measured.median():.1f}) "
            f"over {len(measured)} of {len(fields)} fields"
        )
    return lines


def segment(field: np.ndarray, cfg: DatasetConfig, mask: np.ndarray | None = None):
    """(field at the segmentation's scale, label image, the scale record of ``segment_channel``):
    ``downsample`` applied to the field and the mask."""
    factor = int(cfg.segmentation.get("downsample", 1))
    if factor > 1:
        field = block_mean(field, factor).astype(np.float32)
        if mask is not None:
            mask = mask[::factor, ::factor]
    labels, scale = segment_channel(
        field[cfg.segmentation_channel], segmentation_settings(cfg), relative_lengths(cfg), mask
    )
    return field, labels, scale


def measure_and_segment(field: np.ndarray, cfg: DatasetConfig, mask: np.ndarray | None = None):
    """``segment``'s (field, labels), the field's quality measures (``crops.qc.MEASURES``: the
    protein channels' at full resolution, the segmented channel's at the segmentation's) and
    ``segment``'s scale record."""
    measures = protein_measures(field, cfg.protein)
    field, labels, scale = segment(field, cfg, mask)
    return field, labels, measures | structure_measures(field[cfg.segmentation_channel], labels), scale


def crop(field: np.ndarray, labels: np.ndarray, cfg: DatasetConfig, crop_size=None):
    """(preprocessed float crops, objects table) of a segmented field (``segment``'s scale)."""
    settings = CropSettings(
        crop_size=int(cfg.crops["crop_size"]) if crop_size is None else float(crop_size),
        model_size=cfg.crops["model_size"],
        area_fraction=tuple(cfg.crops["area_fraction"]),
        border=cfg.crops["border"],
        subpixel=crop_size is not None,
    )
    crops, objects = crop_cells(field, labels, settings)
    pre = cfg.preprocess
    crops = preprocess_crops(
        crops,
        cfg.structural,
        pre["clip_structural_below"],
        pre.get("markers", "per_crop"),
        pre.get("reference_max", 255),
    )
    objects = objects.rename(columns={"label": "object_id"})  # 'label' is the sheet's localization label
    factor = int(cfg.segmentation.get("downsample", 1))
    if factor > 1:  # report positions and areas in the user's full-resolution pixels
        objects["centroid_y"] *= factor
        objects["centroid_x"] *= factor
        objects["area"] *= factor * factor
    return crops, objects


@dataclass
class ChunkResult:
    crops: np.ndarray  # uint8 (n_kept, C, S, S)
    objects: pd.DataFrame  # every detected object, sheet metadata columns included
    fields: pd.DataFrame  # per field: FIELD_COLUMNS, then segment_channel's scale record (scale: auto)


def process_chunk(
    sheet: pd.DataFrame, cfg: DatasetConfig, truth_masks: dict[str, str] | None = None, progress: bool = True
) -> ChunkResult:
    """Segment and crop every field of a (chunk of a) sample sheet, image by image: with
    ``crops.crop_diameters`` an image's fields are all segmented before any is cropped, so their
    crop size follows the image's typical object diameter."""
    size = cfg.crops["model_size"]
    diameters = cfg.crops.get("crop_diameters")
    crops_out = [np.zeros((0, len(cfg.channels), size, size), np.uint8)]
    tables, per_field = [], []
    bar = tqdm(total=len(sheet), desc=f"{cfg.name}: segmenting", disable=not progress, mininterval=5)
    # scaled crops need an image's fields segmented together; otherwise fields go in sheet order
    groups = sheet.groupby("image_id", sort=False).groups.values() if diameters else [[i] for i in sheet.index]
    for rows in groups:
        segmented = []
        for index in rows:
            field, n_nonfinite = read_field_counted(sheet, index, cfg.channels, cfg.nonfinite)
            mask = read_mask(sheet, index) if cfg.segmentation["method"] == "provided" else None
            if mask is not None and mask.shape != field.shape[1:]:
                raise InputError(
                    f"{row_name(sheet, index)}: mask shape {mask.shape} differs from the channels' {field.shape[1:]}"
                )
            segmented.append((index, n_nonfinite, *measure_and_segment(field, cfg, mask)))
        diameter = (
            cell_diameter([s[2][cfg.segmentation_channel] for s in segmented], [s[3] for s in segmented])
            if diameters
            else float("nan")
        )
        crop_size = scaled_crop_size(diameter, diameters, cfg.crops["crop_size"]) if diameters else None
        for index, n_nonfinite, field, labels, measures, scale in segmented:
            crops, objects = crop(field, labels, cfg, crop_size)
            row = sheet.loc[index]
            for col in SHEET_META:
                objects[col] = row[col] if col in sheet.columns else pd.NA
            if truth_masks is not None:
                objects["truth_label"] = match_truth(objects, read_image(truth_masks[row["field_id"]]))
            tables.append(objects)
            crops_out.append(to_uint8(crops))
            side = crop_size or cfg.crops["crop_size"]
            recorded = dict(field_id=str(row["field_id"]), n_nonfinite=n_nonfinite, cell_diameter=diameter)
            per_field.append(recorded | dict(crop_size=side) | {m: measures[m] for m in MEASURES} | scale)
            bar.update(1)
    bar.close()
    objects = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    fields = pd.DataFrame(per_field) if per_field else pd.DataFrame(columns=FIELD_COLUMNS)
    return ChunkResult(
        np.concatenate(crops_out), objects, fields.astype({"n_nonfinite": "int64", "crop_size": "float64"})
    )


def match_truth(objects: pd.DataFrame, truth_labels: np.ndarray) -> np.ndarray:
    """The true cell each detection's centre falls in (0: background, a false detection)."""
    if objects.empty:
        return np.zeros(0, np.int64)
    y = np.clip(np.rint(objects["centroid_y"].to_numpy()).astype(int), 0, truth_labels.shape[0] - 1)
    x = np.clip(np.rint(objects["centroid_x"].to_numpy()).astype(int), 0, truth_labels.shape[1] - 1)
    return truth_labels[y, x].astype(np.int64)


def save_chunk(result: ChunkResult, crops_path: str | Path, objects_path: str | Path, fields_path: str | Path) -> None:
    """A chunk's three files, each written atomically (a failed job leaves none half written)."""
    with atomic_path(crops_path) as tmp:
        np.save(tmp, result.crops)
    write_table(result.objects, objects_path)
    write_table(result.fields, fields_path)
