"""Rule qc_overlays: segmentation outlines and quality flags on a few random fields."""

import numpy as np
import pandas as pd

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.qc import field_flags, flag_note, qc_settings
from pcinpaint.crops.segment_chunk import DIAMETER_COLUMN, crop, measure_and_segment
from pcinpaint.figures.common import save_figure
from pcinpaint.figures.qc import segmentation_overlays
from pcinpaint.inputs.samplesheet import read_field, read_mask, read_samplesheet
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    sheet = read_samplesheet(snakemake.input.sheet, cfg.channels)
    rng = np.random.default_rng(snakemake.params.seed)
    picks = np.sort(rng.choice(len(sheet), size=min(snakemake.params.n_fields, len(sheet)), replace=False))
    panels, measured = [], []
    for index in sheet.index[picks]:
        field = read_field(sheet, index, cfg.channels, cfg.nonfinite)
        mask = read_mask(sheet, index) if cfg.segmentation["method"] == "provided" else None
        seg_field, labels, measures, scale = measure_and_segment(field, cfg, mask)
        _, objects = crop(seg_field, labels, cfg)
        measured.append(measures)
        factor = int(cfg.segmentation["downsample"])
        shown = field[:, ::factor, ::factor] if factor > 1 else field
        name = str(sheet.loc[index, "field_id"])
        diameter = scale.get(DIAMETER_COLUMN)  # scale auto: the diameter the field's lengths came from
        if diameter is not None:
            name += f", D {diameter:.0f} px" if np.isfinite(diameter) else ", no object stands out"
        panels.append((name, shown, labels, objects))
    settings = qc_settings(cfg)
    notes = [flag_note(f, settings["drop_flagged"]) for f in field_flags(pd.DataFrame(measured), settings)["flags"]]
    save_figure(segmentation_overlays(panels, cfg.roles, notes), snakemake.output.png)
