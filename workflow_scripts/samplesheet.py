"""Rule samplesheet: validate a sample sheet and every file it names, and write it with
absolute image paths."""

from pcinpaint.config import SAMPLESHEET_SCHEMA, load_schema
from pcinpaint.inputs.samplesheet import check_files, read_samplesheet
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    ds = snakemake.params.dataset
    channels = [c["name"] for c in ds["channels"]]
    need_mask = ds["segmentation"]["method"] == "provided"
    sheet = read_samplesheet(snakemake.input.sheet, channels, need_mask, load_schema(SAMPLESHEET_SCHEMA))
    check_files(sheet, channels, need_mask)  # every file's header, all problems at once, before any job starts
    write_table(sheet, snakemake.output.sheet)
    log.info("%d fields in %d images", len(sheet), sheet["image_id"].nunique())
