"""Rule export_h5ad: a feature table as AnnData."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.anndata_export import write_h5ad  # noqa: E402
from pcinpaint.io import read_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    write_h5ad(read_table(snakemake.input.table), snakemake.output.h5ad)  # noqa: F821
