"""Rule umap_cells: suppfig3, a UMAP of single cells (best PCI layer) coloured by label."""

from pcinpaint.benchmarks.comparisons import best_layers, dataset_labels, label_columns, read_manifest, umap_embedding
from pcinpaint.benchmarks.sample import benchmark_cells, sample_note
from pcinpaint.features.reading import read_cell_rows, read_cells
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    bench = params.bench
    cells = read_cells(inp.cells, label_columns(bench))
    best = best_layers(read_table(inp.supptable1))
    name = best.loc[best["family"] == "pci", "feature_set"].iloc[0]
    labels = dataset_labels(cells, bench)
    used = benchmark_cells(labels, bench["max_cells"], params.sample_seed, labelled_only=False)
    note = sample_note(used, labels, labelled_only=False)
    path = read_manifest(inp.manifest).set_index("name").loc[name, "path"]
    x = read_cell_rows(path, used, cells["store_index"].to_numpy())  # the subsample's rows only
    u = bench["umap_cells"]
    xy = umap_embedding(x, u["n_neighbors"], u["min_dist"], params.seed)
    log.info("UMAP of %s cells from %s", note, name)
    title = f"{snakemake.wildcards.dataset}: {note} single cells, {name} (UMAP, {u['n_neighbors']} neighbours)"
    save_figure(figures.suppfig3(xy, labels[used].reset_index(drop=True), title), out.png, out.pdf)
