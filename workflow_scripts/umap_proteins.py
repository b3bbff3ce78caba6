"""Rule umap_proteins: fig3, protein-level UMAPs (mean of each protein's cells, best PCI layer)
of every labelled dataset, side by side."""

from pcinpaint.benchmarks.comparisons import (
    best_layers,
    dataset_labels,
    label_columns,
    protein_means,
    read_manifest,
    umap_embedding,
)
from pcinpaint.errors import NotRun
from pcinpaint.features.reading import FeatureFile, read_cells
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, params = snakemake.input, snakemake.params
    panels = []
    for dataset, manifest, supptable1, cells in zip(params.datasets, inp.manifests, inp.supptable1, inp.cells):
        bench = params.bench[dataset]
        best = best_layers(read_table(supptable1))
        name = best.loc[best["family"] == "pci", "feature_set"].iloc[0]
        table = read_cells(cells, label_columns(bench))
        # protein sums one row group at a time, each checked against the cell table's store order
        x = FeatureFile(read_manifest(manifest).set_index("name").loc[name, "path"], table["store_index"].to_numpy())
        proteins, means = protein_means(table, x, dataset_labels(table, bench))
        u = bench["umap_proteins"]
        try:
            xy = umap_embedding(means, u["n_neighbors"], u["min_dist"], params.seed)
        except NotRun as exc:  # this dataset's panel says so; the others are drawn
            log.warning("%s: not run: %s", dataset, exc)
            panels.append((f"{dataset}: not run: {exc}", None, proteins["label"]))
            continue
        log.info("%s: %d proteins from %s", dataset, len(proteins), name)
        panels.append((f"{dataset}: {len(proteins)} proteins, {name}", xy, proteins["label"]))
    save_figure(figures.fig3(panels), snakemake.output.png, snakemake.output.pdf)
