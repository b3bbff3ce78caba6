"""Rule classifier_benchmark: supptable2, cross-validated classifiers on each family's best layer."""

from pcinpaint.benchmarks.comparisons import classifier_table, dataset_labels, read_manifest
from pcinpaint.io import read_table, write_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, params = snakemake.input, snakemake.params
    bench = params.bench
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    table = classifier_table(
        read_manifest(inp.manifest),
        read_table(inp.supptable1),
        dataset_labels(cells, bench),
        cells,
        bench["n_estimators"],
        bench["folds"],
        params.seed,
        n_jobs=snakemake.threads,
    )
    write_table(table, snakemake.output.table)
