"""Rule umap_cells: suppfig3, UMAPs of single cells coloured by label, one panel per family of
``benchmarks.umap_cells.families`` (its best set at k = 11), all of the same cells."""

from pcinpaint.benchmarks.comparisons import dataset_labels, label_columns, read_manifest, umap_embedding, umap_panels
from pcinpaint.benchmarks.sample import benchmark_cells, sample_note
from pcinpaint.config import RANKING_K
from pcinpaint.errors import NotRun
from pcinpaint.features.reading import read_cell_rows, read_cells
from pcinpaint.figures import benchmarks as figures
from pcinpaint.figures.common import save_figure
from pcinpaint.io import read_table
from pcinpaint.rule_keys import dataset_params
from pcinpaint.runlog import rule_log

with rule_log(snakemake.log[0]) as log:
    inp, out, params = snakemake.input, snakemake.output, snakemake.params
    bench = dataset_params(snakemake)["benchmarks"]
    u = bench["umap_cells"]
    chosen = umap_panels(read_table(inp.supptable1), u["families"], RANKING_K)
    cells = read_cells(inp.cells, label_columns(bench))
    labels = dataset_labels(cells, bench)
    used = benchmark_cells(labels, bench["max_cells"], params.sample_seed, labelled_only=False)
    note = sample_note(used, labels, labelled_only=False)
    paths = read_manifest(inp.manifest).set_index("name")["path"]
    panels = []
    for family, name, reason in chosen:
        if name is None:
            log.info("%s: not run: %s", family, reason)
            panels.append((f"{family}: not run: {reason}", None))
            continue
        x = read_cell_rows(paths[name], used, cells["store_index"].to_numpy())  # the subsample's rows only
        try:  # the same cells, settings and seed for every panel
            xy = umap_embedding(x, u["n_neighbors"], u["min_dist"], params.seed)
        except NotRun as exc:  # this panel says so; the others are drawn
            log.warning("%s: not run: %s", name, exc)
            panels.append((f"{name}: not run: {exc}", None))
            continue
        finally:
            del x
        log.info("UMAP of %s cells from %s", note, name)
        panels.append((name, xy))
    title = (
        f"{snakemake.wildcards.dataset}: {note} single cells "
        f"(UMAP, {u['n_neighbors']} neighbours, min_dist {u['min_dist']})"
    )
    save_figure(figures.suppfig3(panels, labels[used].reset_index(drop=True), title), out.png, out.pdf)
