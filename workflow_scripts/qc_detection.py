"""Rule qc_detection: detection precision and recall against the simulator's cells."""

from pcinpaint.crops.segmentation_qc import detection_qc
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    table = detection_qc(read_table(snakemake.input.objects), read_table(snakemake.input.truth_cells))
    write_table(table, snakemake.output.table)
    log.info("\n%s", table[table["field_id"].isin(["all", "touching"])].to_string(index=False))
