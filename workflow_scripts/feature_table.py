"""Rule feature_table: a feature-table dataset's one feature set, in the cell table's order."""

from pcinpaint.features.feature_table import write_feature_set
from pcinpaint.io import read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    block = dict(dataset_params(snakemake)["feature_table"], path=snakemake.input.table)
    write_feature_set(block, read_table(snakemake.input.cells), snakemake.output.table)
