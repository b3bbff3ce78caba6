"""Rule extract_raw: downsampled raw pixels as a feature set."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.features import feature_table, raw_features  # noqa: E402
from pcinpaint.io import open_crop_store, read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    inp = snakemake.input  # noqa: F821
    x = raw_features(open_crop_store(inp.store, memory_limit=None), snakemake.params.dataset["features"]["raw_downsample"])  # noqa: F821
    write_table(feature_table(read_table(inp.cells), x, "raw"), snakemake.output.table)  # noqa: F821
