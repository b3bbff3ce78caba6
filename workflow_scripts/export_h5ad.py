"""Rule export_h5ad: a feature table as AnnData."""

from pcinpaint.features.h5ad import write_h5ad
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    write_h5ad(read_table(snakemake.input.table), snakemake.output.h5ad)
