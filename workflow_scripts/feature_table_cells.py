"""Rule feature_table_cells: a feature-table dataset's cell table, from the table's metadata columns."""

from pcinpaint.features.feature_table import write_cell_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    block = dict(dataset_params(snakemake)["feature_table"], path=snakemake.input.table)
    n = write_cell_table(block, snakemake.output.cells)
    log.info("%d rows of %s in the cell table", n, snakemake.input.table)
