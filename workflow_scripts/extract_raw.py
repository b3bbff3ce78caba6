"""Rule extract_raw: downsampled raw pixels as a feature set."""

from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import raw_features
from pcinpaint.features.table import feature_table
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp = snakemake.input
    x = raw_features(
        open_crop_store(inp.store, memory_limit=None), snakemake.params.dataset["features"]["raw_downsample"]
    )
    write_table(feature_table(read_table(inp.cells), x, "raw"), snakemake.output.table)
