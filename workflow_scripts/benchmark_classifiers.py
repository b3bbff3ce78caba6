"""Rule classifier_benchmark: supptable2, cross-validated classifiers on each family's best layer."""

from pcinpaint.benchmarks.classify import ClassifierSettings, classifier_cells
from pcinpaint.benchmarks.comparisons import (
    ClassifierTableSettings,
    classifier_table,
    dataset_labels,
    label_columns,
    read_manifest,
)
from pcinpaint.benchmarks.sample import sample_note
from pcinpaint.features.reading import read_cells
from pcinpaint.io import read_table, write_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]):
    inp, params = snakemake.input, snakemake.params
    bench = dataset_params(snakemake)["benchmarks"]
    cells = read_cells(inp.cells, [*label_columns(bench), "image_id"])
    labels = dataset_labels(cells, bench)
    # the kNN's subsample, down to benchmarks.classifier_max_cells
    used = classifier_cells(labels, bench, params.sample_seed)
    table = classifier_table(
        read_manifest(inp.manifest),
        read_table(inp.supptable1),
        labels.where(used),
        cells,
        ClassifierTableSettings(
            ClassifierSettings(n_estimators=bench["n_estimators"], seed=params.seed, n_jobs=snakemake.threads),
            folds=bench["folds"],
        ),
        note=sample_note(used, labels),
    )
    write_table(table, snakemake.output.table)
