"""Rule qc_detection: detection precision and recall against the simulator's cells."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.cropstore import detection_qc  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    table = detection_qc(read_table(snakemake.input.objects), read_table(snakemake.input.truth_cells))  # noqa: F821
    write_table(table, snakemake.output.table)  # noqa: F821
    log.info("\n%s", table[table["field_id"].isin(["all", "touching"])].to_string(index=False))
