"""Rule classifier_benchmark: supptable2, cross-validated classifiers on each family's best layer."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.benchmarks import classifier_table, dataset_labels, read_manifest  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]):  # noqa: F821
    inp, params = snakemake.input, snakemake.params  # noqa: F821
    bench = params.bench
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    table = classifier_table(read_manifest(inp.manifest), read_table(inp.supptable1), dataset_labels(cells, bench),
                             cells, bench["n_estimators"], bench["folds"], params.seed,
                             n_jobs=snakemake.threads)  # noqa: F821
    write_table(table, snakemake.output.table)  # noqa: F821
