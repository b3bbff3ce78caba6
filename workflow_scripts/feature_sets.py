"""Rule feature_sets: the manifest of a dataset's feature sets, the ones not run with the reason."""

from pcinpaint.features.manifest import FeatureSet, manifest
from pcinpaint.io import write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    sets = [FeatureSet(**s) for s in snakemake.params.sets]
    for s in sets:
        if not s.runs:
            log.warning("%s: not run: %s", s.name, s.reason)
    table = manifest(sets, snakemake.params.folder)
    write_table(table, snakemake.output.table)
    log.info("%d feature sets, %d not run", len(table), int((table["status"] != "ran").sum()))
