"""Rule samplesheet: validate a sample sheet and write it with absolute image paths."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.config import SAMPLESHEET_SCHEMA, load_schema  # noqa: E402
from pcinpaint.io import read_samplesheet, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    ds = snakemake.params.dataset  # noqa: F821
    channels = [c["name"] for c in ds["channels"]]
    need_mask = ds["segmentation"]["method"] == "provided"
    sheet = read_samplesheet(snakemake.input.sheet, channels, need_mask, load_schema(SAMPLESHEET_SCHEMA))  # noqa: F821
    write_table(sheet, snakemake.output.sheet)  # noqa: F821
    log.info("%d fields in %d images", len(sheet), sheet["image_id"].nunique())
