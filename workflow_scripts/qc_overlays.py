"""Rule qc_overlays: segmentation outlines on a few random fields."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
import numpy as np  # noqa: E402

from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.cropstore import segment_and_crop  # noqa: E402
from pcinpaint.figures.common import save_figure  # noqa: E402
from pcinpaint.figures.qc import segmentation_overlays  # noqa: E402
from pcinpaint.io import read_field, read_mask, read_samplesheet  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    sheet = read_samplesheet(snakemake.input.sheet, cfg.channels)  # noqa: F821
    rng = np.random.default_rng(snakemake.params.seed)  # noqa: F821
    picks = np.sort(rng.choice(len(sheet), size=min(snakemake.params.n_fields, len(sheet)), replace=False))  # noqa: F821
    panels = []
    for index in sheet.index[picks]:
        field = read_field(sheet, index, cfg.channels)
        mask = read_mask(sheet, index) if cfg.segmentation["method"] == "provided" else None
        labels, _, objects = segment_and_crop(field, cfg, mask)
        factor = int(cfg.segmentation["downsample"])
        shown = field[:, ::factor, ::factor] if factor > 1 else field
        panels.append((sheet.loc[index, "field_id"], shown, labels, objects))
    save_figure(segmentation_overlays(panels, cfg.roles), snakemake.output.png)  # noqa: F821
