"""Rule umap_cells: suppfig3, a UMAP of single cells (best PCI layer) coloured by label."""
import sys

sys.path.insert(0, snakemake.scriptdir)  # noqa: F821
from pcinpaint.benchmarks import best_layers, dataset_labels, read_manifest, umap_embedding  # noqa: E402
from pcinpaint.featuretable import split_table  # noqa: E402
from pcinpaint.figures import benchmarks as figures  # noqa: E402
from pcinpaint.figures.common import save_figure  # noqa: E402
from pcinpaint.io import read_table  # noqa: E402
from pcinpaint.runlog import rule_log  # noqa: E402

with rule_log(snakemake.log[0]) as log:  # noqa: F821
    inp, out, params = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
    bench = params.bench
    cells = read_table(inp.cells).sort_values("store_index").reset_index(drop=True)
    best = best_layers(read_table(inp.supptable1))
    name = best.loc[best["family"] == "pci", "feature_set"].iloc[0]
    _, x = split_table(read_table(read_manifest(inp.manifest).set_index("name").loc[name, "path"]))
    u = bench["umap_cells"]
    xy = umap_embedding(x, u["n_neighbors"], u["min_dist"], params.seed)
    log.info("UMAP of %d cells from %s", len(xy), name)
    title = f"{snakemake.wildcards.dataset}: single cells, {name} (UMAP, {u['n_neighbors']} neighbours)"  # noqa: F821
    save_figure(figures.suppfig3(xy, dataset_labels(cells, bench), title), out.png, out.pdf)
