"""Rule qc_overlays: segmentation outlines on a few random fields."""

import numpy as np

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.fields import segment_and_crop
from pcinpaint.figures.common import save_figure
from pcinpaint.figures.qc import segmentation_overlays
from pcinpaint.inputs.samplesheet import read_field, read_mask, read_samplesheet
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    sheet = read_samplesheet(snakemake.input.sheet, cfg.channels)
    rng = np.random.default_rng(snakemake.params.seed)
    picks = np.sort(rng.choice(len(sheet), size=min(snakemake.params.n_fields, len(sheet)), replace=False))
    panels = []
    for index in sheet.index[picks]:
        field = read_field(sheet, index, cfg.channels, cfg.nonfinite)
        mask = read_mask(sheet, index) if cfg.segmentation["method"] == "provided" else None
        labels, _, objects = segment_and_crop(field, cfg, mask)
        factor = int(cfg.segmentation["downsample"])
        shown = field[:, ::factor, ::factor] if factor > 1 else field
        panels.append((sheet.loc[index, "field_id"], shown, labels, objects))
    save_figure(segmentation_overlays(panels, cfg.roles), snakemake.output.png)
