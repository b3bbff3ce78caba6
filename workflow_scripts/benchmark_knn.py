"""Rule knn_benchmark: leave-one-out kNN of every feature set (supptable1, table1, per class)."""

from threadpoolctl import threadpool_limits

from pcinpaint.benchmarks.comparisons import dataset_labels, knn_tables, label_columns, read_manifest, table1
from pcinpaint.benchmarks.sample import benchmark_cells, sample_note
from pcinpaint.config import RANKING_K
from pcinpaint.features.reading import read_cells
from pcinpaint.figures.notrun import write_outputs
from pcinpaint.io import write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out = snakemake.input, snakemake.output
    bench = dataset_params(snakemake)["benchmarks"]
    cells = read_cells(inp.cells, label_columns(bench))
    labels = dataset_labels(cells, bench)
    log.info("%d of %d cells labelled, %d classes", labels.notna().sum(), len(cells), labels.nunique())
    used = benchmark_cells(labels, bench["max_cells"], snakemake.params.sample_seed)
    note = sample_note(used, labels)
    log.info("kNN on %s labelled cells (benchmarks.max_cells: %s)", note, bench["max_cells"])
    # the neighbour search is BLAS products: as many threads as the job was given, no more
    with threadpool_limits(snakemake.threads):
        supptable1, per_class = knn_tables(
            read_manifest(inp.manifest), labels.where(used), bench["ks"], note, cells["store_index"].to_numpy()
        )
    write_table(supptable1, out.supptable1)
    layers = table1(supptable1, RANKING_K)
    if layers.empty:  # a feature table made elsewhere: its set is in supptable1
        write_outputs(
            [out.table1], "no paired cell inpainting layers among the dataset's feature sets (see supptable1)"
        )
    else:
        write_table(layers, out.table1)
    write_table(per_class, out.per_class)
