"""From fields of view to the crop store: the segmentation stage, chunked, then gathered.

Fields are split into chunks (whole images per chunk) so a cluster segments them in
parallel; each chunk writes its preprocessed uint8 crops and a table of *every* detected
object (kept or not, with the reason). Gathering applies the per-image ``min_cells`` filter,
numbers the stored cells, attaches simulated ground truth where there is some, and writes
``crops.zarr`` and ``cells.parquet`` plus QC tables, so no cell is lost without a record.
Fields are measured for quality (``crops.qc``) while they are read; the gather flags them and
leaves out the cells of fields whose flags ``qc.drop_flagged`` names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.cropping import crop_cells
from pcinpaint.crops.preprocess import preprocess_crops
from pcinpaint.crops.qc import FLAGS, MEASURES, field_flags, protein_measures, qc_settings, structure_measures
from pcinpaint.crops.scale import cell_diameter, scaled_crop_size
from pcinpaint.crops.segment import block_mean, segment_field
from pcinpaint.crops.store import to_uint8, write_crop_store
from pcinpaint.errors import InputError
from pcinpaint.inputs.files import read_image
from pcinpaint.inputs.samplesheet import SHEET_OPTIONAL, SHEET_REQUIRED, read_field_counted, read_mask, row_name
from pcinpaint.io import atomic_path, read_table, write_table

#: drop reason given at gather time to cells of images below min_cells
BELOW_MIN_CELLS = "image_below_min_cells"
#: drop reason given at gather time to cells of fields with a flag in qc.drop_flagged
FIELD_FLAGGED = "field_flagged"
DROP_REASONS = ("area_fraction_low", "area_fraction_high", "leaves_field", BELOW_MIN_CELLS, FIELD_FLAGGED)
#: drop reasons given at gather time: those cells were cropped, and their crops are skipped
GATHER_REASONS = (BELOW_MIN_CELLS, FIELD_FLAGGED)
#: sample-sheet columns copied to every cell (the optional ones only when some field has them)
OPTIONAL_META = tuple(c for c in SHEET_OPTIONAL if c != "mask")
SHEET_META = (*SHEET_REQUIRED, *OPTIONAL_META)
TRUTH_COLUMNS = ("true_class", "mixing_fraction", "subpopulation", "touching")
#: segmentation keys passed to ``segment_field`` only when the config block has them
OPTIONAL_SEGMENTATION = ("distance_sigma", "background_radius", "cellpose_model", "cellpose_diameter")


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
    field, labels = segment(field, cfg, mask)
    crops, objects = crop(field, labels, cfg, crop_size)
    return labels, crops, objects


def segment(field: np.ndarray, cfg: DatasetConfig, mask: np.ndarray | None = None):
    """(field at the segmentation's scale, label image): ``downsample`` applied to both."""
    seg = cfg.segmentation
    factor = int(seg.get("downsample", 1))
    if factor > 1:
        field = block_mean(field, factor).astype(np.float32)
        if mask is not None:
            mask = mask[::factor, ::factor]
    labels = segment_field(
        field[cfg.segmentation_channel],
        seg["method"],
        smoothing_sigma=seg["smoothing_sigma"],
        min_area=seg["min_area"],
        clear_border=seg["clear_border"],
        watershed_min_distance=seg["watershed_min_distance"],
        mask=mask,
        min_contrast=seg["min_contrast"],
        # keys a block may lack (written before they existed): segment_field's defaults apply
        **{key: seg[key] for key in OPTIONAL_SEGMENTATION if key in seg},
    )
    return field, labels


def measure_and_segment(field: np.ndarray, cfg: DatasetConfig, mask: np.ndarray | None = None):
    """``segment``'s (field, labels) and the field's quality measures (``crops.qc.MEASURES``):
    the protein channels' at full resolution, the segmented channel's at the segmentation's."""
    measures = protein_measures(field, cfg.protein)
    field, labels = segment(field, cfg, mask)
    return field, labels, measures | structure_measures(field[cfg.segmentation_channel], labels)


def crop(field: np.ndarray, labels: np.ndarray, cfg: DatasetConfig, crop_size=None):
    """(preprocessed float crops, objects table) of a segmented field (``segment``'s scale)."""
    crops, objects = crop_cells(
        field,
        labels,
        crop_size=int(cfg.crops["crop_size"]) if crop_size is None else float(crop_size),
        model_size=cfg.crops["model_size"],
        area_fraction=tuple(cfg.crops["area_fraction"]),
        border=cfg.crops["border"],
        subpixel=crop_size is not None,
    )
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
    fields: pd.DataFrame  # per field: field_id, n_nonfinite (pixels read as 0), cell_diameter, crop_size, MEASURES


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
        for index, n_nonfinite, field, labels, measures in segmented:
            crops, objects = crop(field, labels, cfg, crop_size)
            row = sheet.loc[index]
            for col in SHEET_META:
                objects[col] = row[col] if col in sheet.columns else pd.NA
            if truth_masks is not None:
                objects["truth_label"] = match_truth(objects, read_image(truth_masks[row["field_id"]]))
            tables.append(objects)
            crops_out.append(to_uint8(crops))
            side = crop_size or cfg.crops["crop_size"]
            per_field.append((str(row["field_id"]), n_nonfinite, diameter, side, *(measures[m] for m in MEASURES)))
            bar.update(1)
    bar.close()
    objects = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    fields = pd.DataFrame(per_field, columns=["field_id", "n_nonfinite", "cell_diameter", "crop_size", *MEASURES])
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
    with atomic_path(crops_path) as tmp:
        np.save(tmp, result.crops)
    write_table(result.objects, objects_path)
    write_table(result.fields, fields_path)


#: crops copied from the chunk files into the store per step (one shard of the store)
GATHER_BATCH = 1024


class NpyRows:
    """Rows of a C-ordered ``.npy`` file read with plain file reads.

    A memory map of the chunk files would do, but every page it touches stays resident (and counts
    in the job's memory) until the map is closed: a gather of a million crops would hold the crops
    of a whole chunk. Reads into a buffer of the batch keep the job's memory at one batch.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh = open(self.path, "rb")
        try:
            version = np.lib.format.read_magic(self._fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(self._fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(self._fh)
            else:
                raise ValueError(f"{self.path}: .npy format {version} is not one np.save writes for crops")
            if fortran or dtype.hasobject:
                raise ValueError(f"{self.path}: expected a C-ordered array of numbers")
        except BaseException:
            self._fh.close()
            raise
        self.shape, self.dtype, self.offset = tuple(shape), dtype, self._fh.tell()
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0] if self.shape else 0

    def __enter__(self) -> NpyRows:
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()

    def read(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (increasing), read run by run of consecutive rows."""
        rows = np.asarray(rows, np.int64)
        out = np.empty((len(rows), *self.shape[1:]), self.dtype)
        if not len(rows):
            return out
        if rows[0] < 0 or rows[-1] >= len(self) or np.any(rows[1:] <= rows[:-1]):
            raise IndexError(f"{self.path}: rows must increase within 0..{len(self) - 1}")
        view = memoryview(out.reshape(-1).view(np.uint8))
        starts = np.flatnonzero(np.diff(rows, prepend=-2) != 1)
        for a, b in zip(starts, np.append(starts[1:], len(rows))):
            self._fh.seek(self.offset + int(rows[a]) * self.row_bytes)
            want = (b - a) * self.row_bytes
            got = self._fh.readinto(view[a * self.row_bytes : b * self.row_bytes])
            if got != want:
                raise ValueError(f"{self.path}: file ends before row {int(rows[b - 1])} (truncated chunk file)")
        return out


@dataclass
class GatherResult:
    cells: pd.DataFrame
    objects: pd.DataFrame
    fields: pd.DataFrame
    dropped_images: pd.DataFrame


def gather(
    crop_paths: Sequence[str | Path],
    object_paths: Sequence[str | Path],
    cfg: DatasetConfig,
    sheet: pd.DataFrame,
    store_path: str | Path,
    truth_cells: pd.DataFrame | None = None,
    field_paths: Sequence[str | Path] = (),
) -> GatherResult:
    """Combine chunk outputs into the crop store and the cell table; flag fields, leave out the
    cells of fields whose flags ``qc.drop_flagged`` names, then apply ``min_cells`` (so an image
    that loses fields may fall below it).

    A screen where no cell survives stops here (``InputError`` with the drop-reason counts)
    rather than storing an empty crop store that every later stage would trip over."""
    objects_per_chunk = [read_table(p) for p in object_paths]
    chunk_sizes = [len(o) for o in objects_per_chunk]
    objects = (
        pd.concat([o for o in objects_per_chunk if len(o)], ignore_index=True) if any(chunk_sizes) else _empty_objects()
    )
    del objects_per_chunk  # the object tables are held once, not twice
    objects["kept"] = objects["kept"].astype(bool)
    objects["padded"] = objects["padded"].astype(bool)
    objects["drop_reason"] = objects["drop_reason"].fillna("").astype(str)
    per_field = pd.concat([read_table(p) for p in field_paths], ignore_index=True) if field_paths else None
    settings = qc_settings(cfg)
    flags = flag_fields(
        per_field, settings, str(field_paths[0]) if len(field_paths) else "the segment jobs' field tables"
    )
    if flags is not None and settings["drop_flagged"]:
        dropped_fields = flags.loc[flags["drop"], "field_id"]
        flagged = objects["kept"] & objects["field_id"].astype(str).isin(dropped_fields)
        objects.loc[flagged, "kept"] = False
        objects.loc[flagged, "drop_reason"] = FIELD_FLAGGED
    kept = objects.loc[objects["kept"], ["image_id"]]
    per_image = kept.groupby("image_id").size().reindex(sorted(sheet["image_id"].unique()), fill_value=0)
    del kept
    small = per_image[per_image < cfg.min_cells]
    below = objects["kept"] & objects["image_id"].isin(small.index)
    objects.loc[below, "kept"] = False
    objects.loc[below, "drop_reason"] = BELOW_MIN_CELLS
    objects["cell_id"] = objects["field_id"].astype(str) + ":" + objects["object_id"].astype(str)

    # cells in the store, in chunk order; crops of each chunk are its kept-at-crop-time rows
    store_rows, selections = [], []
    offset = 0
    for n in chunk_sizes:
        part = objects.iloc[offset : offset + n]
        offset += n
        cropped = part[part["drop_reason"].isin(["", *GATHER_REASONS])]  # rows that own a crop
        selections.append(cropped["kept"].to_numpy())
        store_rows.append(cropped[cropped["kept"]])
    cells = pd.concat(store_rows, ignore_index=True) if store_rows else objects.iloc[:0]
    del store_rows
    cells = cells.assign(store_index=np.arange(len(cells)))
    if cells.empty:
        raise InputError(no_cells_message(objects, sheet, cfg.min_cells))

    def batches():
        # each chunk file is read a batch of rows at a time: the store is filled a thousand crops
        # at a time, and no chunk file is loaded or mapped whole
        for path, sel in zip(crop_paths, selections):
            with NpyRows(path) as crops:
                if len(crops) != len(sel):
                    raise ValueError(f"{path}: {len(crops)} crops but its object table has {len(sel)} cropped cells")
                rows = np.flatnonzero(sel)
                for at in range(0, len(rows), GATHER_BATCH):
                    yield crops.read(rows[at : at + GATHER_BATCH])

    write_crop_store(
        store_path,
        batches(),
        len(cells),
        len(cfg.channels),
        cfg.crops["model_size"],
        attrs={"channels": list(cfg.channels), "roles": list(cfg.roles), "dataset": cfg.name},
    )

    if truth_cells is not None and "truth_label" in cells.columns:
        truth = truth_cells[["field_id", "truth_label", *TRUTH_COLUMNS]]
        cells = cells.merge(truth, on=["field_id", "truth_label"], how="left", validate="many_to_one")
    columns = ["cell_id", *SHEET_META, "centroid_y", "centroid_x", "area", "store_index"]
    columns = [c for c in columns if c in cells.columns and not (c in OPTIONAL_META and cells[c].isna().all())]
    extra = [c for c in (*TRUTH_COLUMNS, "truth_label") if c in cells.columns]
    cells = cells[columns + extra].reset_index(drop=True)

    fields = field_qc(objects, sheet, per_field)
    if flags is not None:
        by_field = flags.set_index("field_id")
        for col in (*(f"flag_{f}" for f in FLAGS), "flags"):
            fields[col] = fields["field_id"].astype(str).map(by_field[col])
    reason = pd.Series(f"fewer than min_cells={cfg.min_cells} cells", index=small.index)
    flagged = objects.loc[objects["drop_reason"] == FIELD_FLAGGED, "image_id"].unique()
    reason[(small == 0) & small.index.isin(flagged)] = "every field flagged (qc.drop_flagged)"
    dropped = pd.DataFrame({"image_id": small.index, "n_cells": small.to_numpy(), "reason": reason.to_numpy()})
    dropped = dropped.merge(sheet.drop_duplicates("image_id")[["image_id", "protein"]], on="image_id", how="left")
    return GatherResult(cells, objects, fields, dropped)


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


def _empty_objects() -> pd.DataFrame:
    return pd.DataFrame(
        {
            c: pd.Series(dtype=t)
            for c, t in [
                ("object_id", "int64"),
                ("centroid_y", "float64"),
                ("centroid_x", "float64"),
                ("area", "int64"),
                ("kept", "bool"),
                ("padded", "bool"),
                ("drop_reason", "str"),
                ("image_id", "str"),
                ("field_id", "str"),
                ("protein", "str"),
            ]
        }
    )


def no_cells_message(objects: pd.DataFrame, sheet: pd.DataFrame, min_cells: int) -> str:
    """One line for a screen where no cell was kept: what was detected and why it was dropped."""
    reasons = objects.loc[objects["drop_reason"] != "", "drop_reason"].value_counts()
    dropped = ", ".join(f"{r} {n:,}" for r, n in reasons.items()) or "none"
    where = sheet["source_sheet"].iloc[0] if "source_sheet" in sheet.columns else sheet.attrs.get("path", "the sheet")
    return (
        f"{where}: no cell kept from {len(sheet):,} fields in {sheet['image_id'].nunique():,} images: "
        f"{len(objects):,} objects detected; dropped: {dropped} (min_cells={min_cells}); "
        "check the segmentation channel and settings (qc_overlays shows what was found)"
    )


def field_qc(objects: pd.DataFrame, sheet: pd.DataFrame, per_field: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per field: detected objects, stored cells, the count of every drop reason and what the
    segmentation jobs recorded per field (``ChunkResult.fields``: non-finite pixels read as 0,
    the image's cell diameter and crop size, the quality measures)."""
    base = sheet[["field_id", "image_id", "protein"]].copy()
    stored_padded = objects.assign(stored_padded=objects["padded"] & objects["kept"])
    counts = stored_padded.groupby("field_id").agg(
        n_detected=("object_id", "size"), n_stored=("kept", "sum"), n_padded=("stored_padded", "sum")
    )
    reasons = pd.crosstab(objects["field_id"], objects["drop_reason"]) if len(objects) else pd.DataFrame()
    table = base.merge(counts, left_on="field_id", right_index=True, how="left")
    for reason in DROP_REASONS:
        col = reasons[reason] if reason in reasons.columns else pd.Series(dtype="int64")
        table = table.merge(col.rename(f"n_{reason}"), left_on="field_id", right_index=True, how="left")
    if per_field is not None and len(per_field):
        recorded = per_field.astype({"field_id": str}).set_index("field_id")
        for col in ("n_nonfinite", "cell_diameter", "crop_size", *MEASURES):
            if col in recorded.columns:
                table[col] = table["field_id"].astype(str).map(pd.to_numeric(recorded[col]))
    num = [c for c in table.columns if c.startswith("n_")]
    table[num] = table[num].fillna(0).astype(int)
    return table


def detection_qc(objects: pd.DataFrame, truth_cells: pd.DataFrame) -> pd.DataFrame:
    """Detection precision and recall against the simulator's cells, by centroid matching.

    A detection is a true positive when its centre falls inside a true cell not already
    claimed by another detection; extra detections in one cell (over-segmentation) and those
    on background are false positives; true cells no detection falls in are misses. True
    cells cut by the field's edge are left out on both sides (``clear_border`` removes them
    on purpose). Rows: per field, then 'all' and 'touching' (cells touching another cell).
    """
    truth = truth_cells
    det = objects[["field_id", "truth_label"]].copy()
    if "at_border" in truth.columns:
        edge = truth[truth["at_border"].astype(bool)][["field_id", "truth_label"]]
        det = det.merge(edge.assign(_edge=True), on=["field_id", "truth_label"], how="left")
        det = det[det["_edge"].isna()].drop(columns="_edge")
        truth = truth[~truth["at_border"].astype(bool)]
    hits = det[det["truth_label"] > 0].drop_duplicates()
    n_true = truth.groupby("field_id").size()
    n_det = det.groupby("field_id").size()
    tp = hits.groupby("field_id").size()
    fields = sorted(set(truth_cells["field_id"]))
    table = pd.DataFrame(
        {
            "field_id": fields,
            "n_true": n_true.reindex(fields, fill_value=0).to_numpy(),
            "n_detected": n_det.reindex(fields, fill_value=0).to_numpy(),
            "true_positives": tp.reindex(fields, fill_value=0).to_numpy(),
        }
    )
    summary = [dict(field_id="all", n_true=len(truth), n_detected=len(det), true_positives=len(hits))]
    if "touching" in truth.columns:
        touching = truth[truth["touching"].astype(bool)]
        found = touching.merge(hits, on=["field_id", "truth_label"], how="inner")
        summary.append(dict(field_id="touching", n_true=len(touching), n_detected=np.nan, true_positives=len(found)))
    table = pd.concat([table, pd.DataFrame(summary)], ignore_index=True)
    table["precision"] = table["true_positives"] / table["n_detected"].replace(0, np.nan)
    table["recall"] = table["true_positives"] / table["n_true"].replace(0, np.nan)
    return table
