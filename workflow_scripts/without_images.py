"""Rule without_images: a figure that needs crops, on a dataset that is a feature table, written as not run."""

from pcinpaint.figures.notrun import write_outputs
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    write_outputs(snakemake.output, snakemake.params.reason, snakemake.wildcards.figure)
    log.info("%s: not run: %s", snakemake.wildcards.figure, snakemake.params.reason)
