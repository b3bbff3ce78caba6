"""Rule feature_sets: the manifest of a dataset's feature sets, the ones not run with the reason."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.featuresets import FeatureSet, manifest  # noqa: E402
from pcinpaint.io import write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    sets = [FeatureSet(**s) for s in snakemake.params.sets]  # noqa: F821
    for s in sets:
        if not s.runs:
            log.warning("%s: not run: %s", s.name, s.reason)
    table = manifest(sets, snakemake.params.folder)  # noqa: F821
    write_table(table, snakemake.output.table)  # noqa: F821
    log.info("%d feature sets, %d not run", len(table), int((table["status"] != "ran").sum()))
