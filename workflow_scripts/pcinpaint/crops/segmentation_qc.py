"""What the segmentation stage found and kept, per field: the QC tables beside the crop store.

``field_qc`` counts, per field, the objects detected and stored and why the others were left out
(``qc/fields.tsv``, with what the segment jobs recorded per field), so no cell is lost without a
record; ``detection_qc`` scores the detections against a simulated screen's true cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: drop reason given at gather time to cells of images below min_cells
BELOW_MIN_CELLS = "image_below_min_cells"
#: drop reason given at gather time to cells of fields with a flag in qc.drop_flagged
FIELD_FLAGGED = "field_flagged"
#: every reason an object is left out for: cropping's, then the gather's
DROP_REASONS = ("area_fraction_low", "area_fraction_high", "leaves_field", BELOW_MIN_CELLS, FIELD_FLAGGED)


def field_qc(objects: pd.DataFrame, sheet: pd.DataFrame, per_field: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per field: detected objects, stored cells, the count of every drop reason and what the
    segmentation jobs recorded per field (``ChunkResult.fields``: non-finite pixels read as 0,
    the image's cell diameter and crop size, the quality measures; with ``scale: auto`` the
    field's object diameter and the lengths in pixels it was segmented with)."""
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
        for col in recorded.columns:  # FIELD_COLUMNS, then the diameter and lengths of scale: auto
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
