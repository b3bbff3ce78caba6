"""Rule import_features: a user's feature table (per cell or per protein) as a feature set."""

from pcinpaint.features.imported import write_imported_features
from pcinpaint.io import read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp = snakemake.input
    entry = dataset_params(snakemake)["baselines"]["imported"][snakemake.wildcards.name]
    write_imported_features(
        inp.table, read_table(inp.cells), snakemake.output.table, entry["key"], entry["level"], entry["drop_unmatched"]
    )
