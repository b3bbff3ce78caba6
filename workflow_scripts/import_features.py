"""Rule import_features: a user's feature table (per cell or per protein) as a feature set."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.imported import import_features  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    inp, entry = snakemake.input, snakemake.params.entry  # noqa: F821
    table = import_features(inp.table, read_table(inp.cells), entry["key"], entry["level"], entry["drop_unmatched"])
    write_table(table, snakemake.output.table)  # noqa: F821
