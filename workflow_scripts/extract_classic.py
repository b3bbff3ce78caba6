"""Rule extract_classic: the paper's classic features (intensity, correlation, Haralick texture,
and centre-cell shape and radial distribution for whole-cell segmentations)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.classic import classic_features  # noqa: E402
from pcinpaint.config import DatasetConfig  # noqa: E402
from pcinpaint.featuretable import feature_table  # noqa: E402
from pcinpaint.io import open_crop_store, read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp = snakemake.input  # noqa: F821
    cfg = DatasetConfig.from_dict(snakemake.wildcards.dataset, snakemake.params.dataset)  # noqa: F821
    classic = cfg.baselines["classic"]
    seg = cfg.segmentation_channel
    shape_channel = seg if cfg.roles[seg] == "structural" else cfg.structural[0]
    x, names = classic_features(open_crop_store(inp.store), cfg.structural, cfg.protein, classic["grey_levels"],
                                cell_shape=cfg.cell_shape, shape_channel=shape_channel,
                                radial_bins=classic["radial_bins"], progress=True)
    write_table(feature_table(read_table(inp.cells), x, "classic", names), snakemake.output.table)  # noqa: F821
    log.info("%d cells x %d classic features (cell shape: %s)", len(x), len(names), cfg.cell_shape)
