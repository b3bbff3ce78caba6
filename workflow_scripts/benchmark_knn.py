"""Rule knn_benchmark: leave-one-out kNN of every feature set (supptable1, table1, per class)."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.benchmarks import dataset_labels, knn_tables, read_manifest, table1  # noqa: E402
from pcinpaint.io import read_table, write_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, bench = snakemake.input, snakemake.output, snakemake.params.bench  # noqa: F821
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    labels = dataset_labels(cells, bench)
    log.info("%d of %d cells labelled, %d classes", labels.notna().sum(), len(cells), labels.nunique())
    supptable1, per_class = knn_tables(read_manifest(inp.manifest), labels, bench["ks"])
    write_table(supptable1, out.supptable1)
    write_table(table1(supptable1, 11 if 11 in bench["ks"] else bench["ks"][0]), out.table1)
    write_table(per_class, out.per_class)
