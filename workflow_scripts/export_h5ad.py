"""Rule export_h5ad: a feature table as AnnData, its features copied a block of rows at a time."""

from pcinpaint.features.h5ad import export_h5ad
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    export_h5ad(snakemake.input.table, snakemake.output.h5ad)
