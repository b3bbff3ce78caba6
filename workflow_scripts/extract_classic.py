"""Rule extract_classic: the paper's classic features (intensity, correlation, Haralick texture,
and centre-cell shape and radial distribution for whole-cell segmentations)."""

from pcinpaint.config import DatasetConfig
from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.classic import ClassicSettings, classic_feature_batches
from pcinpaint.features.table import stream_feature_tables
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp = snakemake.input
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)
    classic = cfg.baselines["classic"]
    seg = cfg.segmentation_channel
    shape_channel = seg if cfg.roles[seg] == "structural" else cfg.structural[0]
    store = open_crop_store(inp.store, memory_limit=None)  # read in store order, batch by batch
    settings = ClassicSettings(
        cfg.structural,
        cfg.protein,
        classic["grey_levels"],
        cell_shape=cfg.cell_shape,
        shape_channel=shape_channel,
        radial_bins=classic["radial_bins"],
    )
    names, rows = classic_feature_batches(store, settings, progress=True, n_jobs=snakemake.threads)
    table = (snakemake.output.table, "classic", len(names), names)
    stream_feature_tables(read_table(inp.cells), ({"classic": x} for x in rows), {"classic": table})
    log.info("%d cells x %d classic features (cell shape: %s)", len(store), len(names), cfg.cell_shape)
