"""Rule extract_raw: downsampled raw pixels as a feature set."""

from pcinpaint.crops.store import open_crop_store
from pcinpaint.features.encoder import raw_batches, raw_feature_count
from pcinpaint.features.table import stream_feature_tables
from pcinpaint.io import read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp = snakemake.input
    store = open_crop_store(inp.store, memory_limit=None)
    factor = dataset_params(snakemake)["features"]["raw_downsample"]
    # written batch by batch: every cell's features are never in memory at once
    stream_feature_tables(
        read_table(inp.cells),
        ({"raw": x} for x in raw_batches(store, factor)),
        {"raw": (snakemake.output.table, "raw", raw_feature_count(store, factor))},
    )
