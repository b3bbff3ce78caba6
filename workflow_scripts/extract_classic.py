"""Rule extract_classic: the paper's classic features (intensity, correlation, Haralick texture,
and centre-cell shape and radial distribution for whole-cell segmentations)."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.classic import classic_features
from pcinpaint.features.table import feature_table
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp = snakemake.input
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    classic = cfg.baselines["classic"]
    seg = cfg.segmentation_channel
    shape_channel = seg if cfg.roles[seg] == "structural" else cfg.structural[0]
    x, names = classic_features(
        open_crop_store(inp.store),
        cfg.structural,
        cfg.protein,
        classic["grey_levels"],
        cell_shape=cfg.cell_shape,
        shape_channel=shape_channel,
        radial_bins=classic["radial_bins"],
        progress=True,
        n_jobs=snakemake.threads,
    )
    write_table(feature_table(read_table(inp.cells), x, "classic", names), snakemake.output.table)
    log.info("%d cells x %d classic features (cell shape: %s)", len(x), len(names), cfg.cell_shape)
