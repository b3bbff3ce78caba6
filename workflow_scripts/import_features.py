"""Rule import_features: a user's feature table (per cell or per protein) as a feature set."""

from pcinpaint.features.imported import import_features
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, entry = snakemake.input, snakemake.params.entry
    table = import_features(inp.table, read_table(inp.cells), entry["key"], entry["level"], entry["drop_unmatched"])
    write_table(table, snakemake.output.table)
