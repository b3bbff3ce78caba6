"""Synthetic fields of disks written as a sample sheet (two channels and a mask per field), and
the dataset that segments them: the segmentation-driver, gather and field-QC tests share them."""

import numpy as np
import pandas as pd
import tifffile
from skimage.draw import disk

from pcinpaint.config import DatasetConfig, validate_config
from pcinpaint.inputs.samplesheet import read_samplesheet
from pcinpaint.io import write_table


def _field(centres, shape=(128, 128), radius=9, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.zeros(shape, np.uint16)
    for i, c in enumerate(centres, start=1):
        labels[disk(c, radius, shape=shape)] = i
    rfp = 100 + 800 * (labels > 0) + rng.normal(0, 5, shape)
    gfp = 100 + 50 * (labels > 0) + 400 * (labels % 2 == 1) + rng.normal(0, 5, shape)
    return np.stack([rfp, gfp]).clip(0).astype(np.uint16), labels


def _dataset(tmp_path, fields, method="nuclei_otsu", min_cells=3):
    """Write fields {field_id: (image_id, centres)} and return (sheet, DatasetConfig)."""
    rows = []
    (tmp_path / "img").mkdir(exist_ok=True)
    for field_id, (image_id, centres) in fields.items():
        img, labels = _field(centres, seed=len(rows))
        row = dict(image_id=image_id, field_id=field_id, protein=image_id.split("_")[0])
        for c, ch in enumerate(("rfp", "gfp")):
            tifffile.imwrite(tmp_path / f"img/{field_id}_{ch}.tif", img[c])
            row[ch] = f"img/{field_id}_{ch}.tif"
        tifffile.imwrite(tmp_path / f"img/{field_id}_mask.tif", labels)
        row["mask"] = f"img/{field_id}_mask.tif"
        rows.append(row)
    write_table(pd.DataFrame(rows), tmp_path / "sheet.tsv")
    config = validate_config(
        {
            "datasets": {
                "d": {
                    "source": "samplesheet",
                    "samplesheet": "sheet.tsv",
                    "channels": [{"name": "rfp", "role": "structural"}, {"name": "gfp", "role": "protein"}],
                    "segmentation": {"channel": "rfp", "method": method, "min_area": 30, "smoothing_sigma": 1.0},
                    "crops": {"crop_size": 32, "model_size": 64, "area_fraction": [0.05, 0.95], "border": "drop"},
                    "min_cells": min_cells,
                }
            }
        }
    )
    cfg = DatasetConfig.from_config(config, "d")
    return read_samplesheet(tmp_path / "sheet.tsv", cfg.channels), cfg


FIELDS = {
    "a1": ("P1_w1", [(30, 30), (30, 90), (90, 30)]),
    "a2": ("P1_w1", [(90, 90), (64, 64)]),
    "b1": ("P2_w1", [(40, 40), (80, 80)]),  # 2 cells < min_cells=3: image dropped
    "c1": ("P3_w1", []),  # an empty field
    "d1": ("P4_w1", [(30, 64), (64, 30), (100, 64), (64, 100), (5, 5)]),  # (5, 5): crop leaves the field
}
